// Package proc reads what Linux's /proc tells of a process and its
// descendants, for the tests and the benchmark that measure Caddy, nginx
// and Varnish as separate processes: CPU time and peak memory.
package proc

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// CPUSeconds is the user and system CPU time of a process and of all its
// descendants, live or reaped.
func CPUSeconds(pid int) (float64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	fields := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+2:]))
	var ticks float64
	for _, i := range []int{11, 12, 13, 14} { // utime, stime, cutime, cstime
		v, err := strconv.ParseFloat(fields[i], 64)
		if err != nil {
			return 0, err
		}
		ticks += v
	}
	seconds := ticks / 100 // clock ticks; 100 per second on Linux
	kids, err := Children(pid)
	for _, child := range kids {
		s, childErr := CPUSeconds(child)
		if childErr == nil { // a child that exited meanwhile is in cutime
			seconds += s
		}
	}
	return seconds, err
}

// Children are the live child processes of pid. A kernel without
// /proc/PID/task/TID/children (CONFIG_PROC_CHILDREN) is an error, not "none".
func Children(pid int) ([]int, error) {
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	if len(files) == 0 {
		return nil, fmt.Errorf("/proc/%d/task/*/children: not there", pid)
	}
	var pids []int
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			continue // a thread that ended
		}
		for _, f := range strings.Fields(string(raw)) {
			if child, err := strconv.Atoi(f); err == nil {
				pids = append(pids, child)
			}
		}
	}
	return pids, nil
}

// PeakRSS is the peak resident set size of a process in bytes (VmHWM),
// since it started or since ResetPeakRSS.
func PeakRSS(pid int) (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmHWM in /proc status")
}

// TreePeakRSS is PeakRSS summed over a process and its live descendants.
func TreePeakRSS(pid int) (int64, error) {
	total, err := PeakRSS(pid)
	if err != nil {
		return 0, err
	}
	kids, err := Children(pid)
	for _, child := range kids {
		if rss, childErr := TreePeakRSS(child); childErr == nil {
			total += rss
		}
	}
	return total, err
}

// ResetPeakRSS sets a process's peak RSS back to its current RSS (Linux
// 4.0 and later), so that a later PeakRSS measures only what came after.
func ResetPeakRSS(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// FreePort returns a TCP port free on 127.0.0.1.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
