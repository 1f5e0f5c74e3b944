//go:build !race

package sas

const raceEnabled = false
