package main

import (
	"os"
	"runtime/pprof"
)

// startProfile starts the hidden --cpuprofile profile, if asked for.
func (g *globalOptions) startProfile() error {
	if g.cpuProfile == "" {
		return nil
	}
	f, err := os.Create(g.cpuProfile)
	if err != nil {
		return withCode(exitUsage, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return withCode(exitUsage, err)
	}
	g.profileFile = f
	return nil
}

func (g *globalOptions) stopProfile() {
	if g.profileFile != nil {
		pprof.StopCPUProfile()
		g.profileFile.Close()
		g.profileFile = nil
	}
}
