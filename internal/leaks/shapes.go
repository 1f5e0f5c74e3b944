package leaks

import (
	"bytes"
	"fmt"
)

// sigParams names sig parameters with a value as long as a signature's.
// Clients' own short ones (?sig=forged) are left alone.
func sigParams(data []byte) []string {
	var found []string
	for _, param := range []string{"sig=", `"sig":"`} {
		for rest := data; ; {
			i := bytes.Index(rest, []byte(param))
			if i < 0 {
				break
			}
			rest = rest[i+len(param):]
			if n := base64Run(rest, true); n >= 40 {
				found = append(found, fmt.Sprintf("a %s parameter with a %d-character value", param, n))
			}
		}
	}
	return found
}

// base64Shapes names the runs of base64 in data shaped like an HMAC-SHA256
// signature (43 characters and '=') or an account key (86 or more and
// "==").
func base64Shapes(data []byte) []string {
	var found []string
	for i := 0; i < len(data); {
		n := base64Run(data[i:], false)
		if n == 0 {
			i++
			continue
		}
		pad := 0
		for i+n+pad < len(data) && data[i+n+pad] == '=' {
			pad++
		}
		switch {
		case n == 43 && pad == 1:
			found = append(found, "a 44-character base64 value, shaped like a signature")
		case n >= 86 && pad == 2:
			found = append(found, "a long base64 value, shaped like an account key")
		}
		i += n + pad
	}
	return found
}

// base64Run is the length of the run of base64 characters data starts
// with; escaped also counts percent-escapes.
func base64Run(data []byte, escaped bool) int {
	n := 0
	for n < len(data) {
		c := data[n]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '+', c == '/':
			n++
		case escaped && (c == '%' || c == '='):
			n++
		default:
			return n
		}
	}
	return n
}
