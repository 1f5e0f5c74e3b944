package sas

import (
	"errors"
	"net/netip"
	"strings"
)

var errBadIPRange = errors.New("IP range (sip) is not an IPv4 address or range like 168.1.5.60-168.1.5.70")

// checkIPRange accepts sip as Azure documents it: one IPv4 address, or two
// joined by '-' with the first not above the second.
func checkIPRange(s string) error {
	first, last, isRange := strings.Cut(s, "-")
	a, err := netip.ParseAddr(first)
	if err != nil || !a.Is4() {
		return errBadIPRange
	}
	if !isRange {
		return nil
	}
	b, err := netip.ParseAddr(last)
	if err != nil || !b.Is4() {
		return errBadIPRange
	}
	if b.Less(a) {
		return errors.New("IP range (sip) ends before it starts")
	}
	return nil
}
