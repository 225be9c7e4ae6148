package verify

import (
	"fmt"
	"maps"
	"math"
	"strconv"
	"strings"

	"github.com/qconv/qconv/gguf"
)

// FallbackThreshold is the maximum relative RMSE for a type with no entry
// in the thresholds: 1.0 is the error of an all-zero tensor, so a file
// that fails it carries no information about its source at all.
const FallbackThreshold = 1.0

// Thresholds maps a ggml type to the maximum relative RMSE (RMSE divided
// by the source's RMS) a tensor of that type may have against its source.
type Thresholds map[gguf.Type]float64

// defaultThresholds is the table of docs/verify.md: 1.5 times the worst
// relative RMSE ggml's own quantizers reach on realistic inputs
// (../shared/golden/case_stats.tsv cases gauss1, gauss002, outliers,
// sparse, blockscale, superblock and large, every variant and shape, and
// anchors-quant.md §9.2), rounded up to two significant digits. Float
// types get their worst-case rounding error. Read-only.
var defaultThresholds = Thresholds{
	gguf.TypeF32:     1e-6,   // exact copy; f64 sources round by at most 2^-24
	gguf.TypeF64:     1e-6,   // exact copy
	gguf.TypeF16:     0.0005, // 2^-11 round-to-nearest bound; §9.2 measured 0.00021
	gguf.TypeBF16:    0.004,  // 2^-8 bound; §9.2 measured 0.0017
	gguf.TypeQ8_0:    0.019,  // outliers 0.0123
	gguf.TypeQ4_0:    0.14,   // superblock 0.0915
	gguf.TypeQ4_1:    0.21,   // outliers 0.1335
	gguf.TypeQ5_0:    0.11,   // outliers 0.0705
	gguf.TypeQ5_1:    0.086,  // outliers 0.0567
	gguf.TypeQ2_K:    0.46,   // superblock 0.3047
	gguf.TypeQ3_K:    0.24,   // gauss002 (imatrix) 0.1554
	gguf.TypeQ4_K:    0.13,   // superblock (imatrix) 0.0811
	gguf.TypeQ5_K:    0.082,  // outliers (imatrix) 0.0541
	gguf.TypeQ6_K:    0.052,  // outliers (imatrix) 0.0344
	gguf.TypeIQ4_NL:  0.14,   // outliers 0.0881
	gguf.TypeIQ4_XS:  0.14,   // outliers (imatrix) 0.0877
	gguf.TypeTQ1_0:   1.0,    // non-ternary gauss002 0.8355; capped at FallbackThreshold
	gguf.TypeTQ2_0:   1.0,    // as TQ1_0
	gguf.TypeMXFP4:   0.30,   // golden-style rows: outliers 0.180, sparse 0.200 (measured with qconv's byte-exact MXFP4)
	gguf.TypeNVFP4:   0.16,   // golden-style rows 0.104, leaving out "large" (scales above 448 saturate: 0.84)
	gguf.TypeQ1_0:    1.0,    // 1 bit per weight: 0.98; capped at FallbackThreshold
	gguf.TypeQ2_0:    1.0,    // 0.78 x 1.5; capped
	gguf.TypeIQ3_S:   0.26,   // §9.2 only: 0.171
	gguf.TypeIQ3_XXS: 0.33,   // §9.2 only: 0.220
	gguf.TypeIQ2_XXS: 0.57,   // §9.2 only: 0.377
	gguf.TypeIQ2_XS:  0.57,   // not measured; more bits than IQ2_XXS, so its threshold
	gguf.TypeIQ2_S:   0.57,   // not measured; as IQ2_XS
	gguf.TypeIQ1_S:   1.0,    // not measured; 1.56 bpw, capped at FallbackThreshold
	gguf.TypeIQ1_M:   1.0,    // not measured; capped
}

// DefaultThresholds returns a new copy of the default table
// (docs/verify.md).
func DefaultThresholds() Thresholds { return maps.Clone(defaultThresholds) }

// For returns the threshold for t: its entry, else FallbackThreshold.
func (th Thresholds) For(t gguf.Type) float64 {
	if v, ok := th[t]; ok {
		return v
	}
	return FallbackThreshold
}

// ParseThreshold parses "TYPE=VALUE" (as --max-error takes it): a ggml
// type name, case-insensitive, and a finite, non-negative relative RMSE.
func ParseThreshold(s string) (gguf.Type, float64, error) {
	name, val, ok := strings.Cut(s, "=")
	if !ok {
		return 0, 0, fmt.Errorf("%q: want TYPE=VALUE, e.g. q4_K=0.1", s)
	}
	t, ok := gguf.ParseType(strings.TrimSpace(name))
	if !ok {
		return 0, 0, fmt.Errorf("%q: unknown ggml type %q", s, name)
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
	if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, 0, fmt.Errorf("%q: the maximum relative RMSE must be a finite number >= 0", s)
	}
	return t, v, nil
}
