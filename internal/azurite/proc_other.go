//go:build !unix

package azurite

import (
	"os"
	"os/exec"
)

func setProcessGroup(*exec.Cmd) {}

// terminateGroup asks the process to stop (no process groups here).
func terminateGroup(cmd *exec.Cmd) { _ = cmd.Process.Signal(os.Interrupt) }

// killGroup kills the process (no process groups here).
func killGroup(cmd *exec.Cmd) { _ = cmd.Process.Kill() }
