package main

import (
	"fmt"
	"slices"
	"time"
)

// result is one measurement of one case.
type result struct {
	rps      float64
	cpuPerRq time.Duration // the server's CPU time per request
	p99      time.Duration
	peakRSS  int64
	errors   int64
}

// spread is the median of a case's rounds with their min and max.
type spread struct{ median, min, max float64 }

func spreadOf(rs []result, value func(result) float64) spread {
	vs := make([]float64, len(rs))
	for i, r := range rs {
		vs[i] = value(r)
	}
	return spreadOfValues(vs)
}

// spreadOfValues is the median, min and max of vs, which it sorts.
func spreadOfValues(vs []float64) spread {
	slices.Sort(vs)
	m := vs[len(vs)/2]
	if len(vs)%2 == 0 {
		m = (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
	}
	return spread{median: m, min: vs[0], max: vs[len(vs)-1]}
}

// overlaps reports whether two spreads share a value.
func (s spread) overlaps(o spread) bool { return s.min <= o.max && o.min <= s.max }

// pairedRatio is the spread of a case's ratio to the reference round by
// round: the rounds interleave the cases, so each ratio compares two
// measurements taken under like conditions, and the machine's drift
// between rounds partly cancels out.
func pairedRatio(rs, ref []result, value func(result) float64) spread {
	ratios := make([]float64, min(len(rs), len(ref)))
	for i := range ratios {
		ratios[i] = value(rs[i]) / value(ref[i])
	}
	return spreadOfValues(ratios)
}

// minSignificantRounds is the fewest rounds whose min–max ranges, when they
// do not overlap, tell two cases apart.
const minSignificantRounds = 6

// ratioCell is a case's per-round ratio to the reference, marked *
// (significant) when the two cases' min–max ranges of value do not
// overlap over enough rounds, ~ otherwise.
func ratioCell(rs, ref []result, value func(result) float64) string {
	r := pairedRatio(rs, ref, value)
	mark := "~"
	if len(rs) >= minSignificantRounds && len(ref) >= minSignificantRounds && !spreadOf(rs, value).overlaps(spreadOf(ref, value)) {
		mark = "*"
	}
	return fmt.Sprintf("%.3f (%.3f–%.3f) %s", r.median, r.min, r.max, mark)
}

func micros(r result) float64    { return float64(r.cpuPerRq) / float64(time.Microsecond) }
func rps(r result) float64       { return r.rps }
func p99Micros(r result) float64 { return float64(r.p99) / float64(time.Microsecond) }
func rssMB(r result) float64     { return float64(r.peakRSS) / 1e6 }

// printTable prints a row per case of each size: the server's CPU time per
// request (median and min–max over the rounds, then its ratio to the
// first case round by round), requests/s likewise, and p99 and peak RSS
// medians.
func printTable(sizes []size, cases []benchCase, results map[string][]result) {
	fmt.Println("| objects | route | server CPU µs/request | CPU ratio, per round | requests/s | requests/s ratio, per round | p99 | peak RSS |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, s := range sizes {
		// The reference of a size is its first case: reverse_proxy, or
		// for uploads the plain PUT.
		first := cases[slices.IndexFunc(cases, func(c benchCase) bool { return len(results[s.name+"|"+c.name]) > 0 })]
		ref := results[s.name+"|"+first.name]
		for _, c := range cases {
			rs := results[s.name+"|"+c.name]
			if len(rs) == 0 {
				continue
			}
			cpuRatio, rpsRatio := "1", "1"
			if c.name != first.name {
				cpuRatio, rpsRatio = ratioCell(rs, ref, micros), ratioCell(rs, ref, rps)
			}
			cpu, r := spreadOf(rs, micros), spreadOf(rs, rps)
			fmt.Printf("| %s | %s | %.1f (%.1f–%.1f) | %s | %.0f (%.0f–%.0f) | %s | %.0f µs | %.1f MB |\n", s.name, c.name,
				cpu.median, cpu.min, cpu.max, cpuRatio, r.median, r.min, r.max, rpsRatio,
				spreadOf(rs, p99Micros).median, spreadOf(rs, rssMB).median)
		}
	}
}

// printUploads restates the upload rows per MiB: MB/s and server CPU per
// MiB, medians (min–max) of the rounds.
func printUploads(sizes []size, cases []benchCase, results map[string][]result) {
	for _, s := range sizes {
		if !s.upload {
			continue
		}
		mib := float64(s.size) / (1 << 20)
		for _, c := range cases {
			rs := results[s.name+"|"+c.name]
			if len(rs) == 0 {
				continue
			}
			speed := spreadOf(rs, func(r result) float64 { return r.rps * float64(s.size) / 1e6 })
			cpu := spreadOf(rs, func(r result) float64 { return micros(r) / mib })
			fmt.Printf("%s, %s: %.0f MB/s (%.0f–%.0f), %.0f µs server CPU per MiB (%.0f–%.0f)\n",
				s.name, c.name, speed.median, speed.min, speed.max, cpu.median, cpu.min, cpu.max)
		}
	}
}
