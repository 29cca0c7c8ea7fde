//go:build !linux

package podmantest

import "os/exec"

func dieWithParent(*exec.Cmd) {}

func unmountUnder(string) []string { return nil }
