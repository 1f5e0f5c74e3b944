package sas

import "strings"

// clip returns a copy, at most 64 bytes long, of a value quoted in an error
// message, so that a hostile or mistaken input of any size cannot flood a
// log. It always copies, which also keeps the caller's values off the heap:
// escape analysis sees no path from them to the error.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return strings.Clone(s)
	}
	return strings.Clone(s[:max]) + "…"
}
