//go:build purego || !(amd64 || arm64)

package kernels

// initArch has nothing to add without amd64 assembly.
func initArch() {}
