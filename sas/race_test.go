//go:build race

package sas

const raceEnabled = true
