package main

import (
	"strings"

	"github.com/qconv/qconv/kernels"
)

// kernelTier resolves --kernel (QCONV_KERNEL): "auto" is the best tier
// this CPU has; "purego" is accepted for "go". A tier the CPU or build
// cannot run is a usage error.
func (g *globalOptions) kernelTier() (kernels.Tier, error) {
	name := strings.ToLower(strings.TrimSpace(g.kernel))
	if name == "" || name == "purego" {
		name = map[string]string{"": "auto", "purego": "go"}[name]
	}
	t, err := kernels.ParseTier(name)
	if err != nil {
		return 0, usageErrorf("--kernel: %v", err)
	}
	if t == kernels.TierAuto {
		return kernels.Best(), nil
	}
	if !t.Available() {
		return 0, usageErrorf("--kernel: tier %s is not available on this CPU or build (available: %v)", t, kernels.Tiers())
	}
	return t, nil
}

// checkTiers are the tiers a kernel check runs: the chosen tier and, when
// that is not already pure Go, pure Go too.
func (g *globalOptions) checkTiers() ([]kernels.Tier, error) {
	t, err := g.kernelTier()
	if err != nil {
		return nil, err
	}
	if t == kernels.TierGo {
		return []kernels.Tier{t}, nil
	}
	return []kernels.Tier{t, kernels.TierGo}, nil
}
