package kernels

import "github.com/qconv/qconv/gguf"

// kernel is the pair of row kernels one (tier, type) entry offers; either
// may be nil at tiers above TierGo, where pick falls back a tier.
type kernel struct {
	act   actKind // activation format quant expects
	quant qKernel
	float fKernel
}

// The dispatch table, filled by init functions and read-only afterwards.
var (
	table         [numTiers][gguf.TypeCount]kernel
	tierAvailable [numTiers]bool
	bestTier      = TierGo
)

func init() {
	tierAvailable[TierAuto] = true
	tierAvailable[TierGo] = true
	for t, ti := range typeInfos() {
		bs, bb := t.BlockSize(), t.BlockBytes()
		k := kernel{act: ti.act, float: goFloat(ti.toFloat, bs, bb)}
		switch {
		case ti.d32 != nil:
			k.quant = goQ32(ti.d32, bb)
		case ti.ternary:
			k.quant = goTernary(ti.dK, bb)
		case ti.dK != nil:
			k.quant = goQK(ti.dK, bb)
		}
		table[TierGo][t] = k
	}
	initArch()
}

// pick resolves the kernels for (tier, type, activations): the best entry
// at or below tier for the path the options ask for. The result has
// exactly one of quant and float set.
func pick(tier Tier, t gguf.Type, act Activations) kernel {
	base := table[TierGo][t]
	useQuant := act == ActQuantized && base.quant != nil
	for tt := tier; tt >= TierGo; tt-- {
		k := table[tt][t]
		if useQuant && k.quant != nil {
			return kernel{act: base.act, quant: k.quant}
		}
		if !useQuant && k.float != nil {
			return kernel{float: k.float}
		}
	}
	panic("kernels: no kernel for " + t.String())
}
