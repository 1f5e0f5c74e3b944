package azurite

import (
	"os/exec"
	"syscall"
)

// setProcessGroup puts Azurite in a process group of its own, so stopping
// it also stops anything it started. Pdeathsig is a safety net for when the
// test binary dies without running its cleanups (a -timeout panic, a
// SIGKILL): the kernel then kills Azurite too. (It fires when the OS thread
// that started Azurite exits; the Go runtime keeps its threads, except those
// of goroutines that exit while locked to one.)
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// terminateGroup asks the process group to stop.
func terminateGroup(cmd *exec.Cmd) { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }

// killGroup kills the process group.
func killGroup(cmd *exec.Cmd) { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
