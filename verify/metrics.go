package verify

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// Float is a float64 whose JSON form keeps non-finite values: NaN, +Inf
// and -Inf are encoded as the strings "NaN", "+Inf" and "-Inf" (which
// strconv.ParseFloat and Python's float() accept); finite values are JSON
// numbers.
type Float float64

// MarshalJSON implements json.Marshaler.
func (f Float) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	case math.IsInf(v, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Inf"`), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

// UnmarshalJSON implements json.Unmarshaler, accepting what MarshalJSON
// writes.
func (f *Float) UnmarshalJSON(b []byte) error {
	var s string
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	} else {
		s = string(b)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("verify: invalid number %s", b)
	}
	*f = Float(v)
	return nil
}

// String formats f with four significant digits ("NaN", "+Inf" for the
// non-finite values).
func (f Float) String() string {
	if math.IsInf(float64(f), 1) {
		return "+Inf"
	}
	return strconv.FormatFloat(float64(f), 'g', 4, 64)
}

// Comparison is the error of a tensor's values against the source's. Only
// pairs where both values are finite enter the sums; the others are
// counted.
type Comparison struct {
	Count       int64 `json:"count"`         // element pairs compared
	RMSE        Float `json:"rmse"`          // sqrt(Σ(got-want)² / Count)
	MaxAbsError Float `json:"max_abs_error"` // max |got-want|
	// RelRMSE is sqrt(Σ(got-want)² / Σwant²), the RMSE divided by the
	// source's RMS: 0 when both sums are 0, +Inf when only the source's is.
	RelRMSE Float `json:"rel_rmse"`
	// Cosine is Σgot·want / sqrt(Σgot²·Σwant²): 1 when both are all
	// zero, 0 when only one is.
	Cosine Float `json:"cosine"`
	// SNRdB is 10·log10(Σwant² / Σ(got-want)²): +Inf for an exact match,
	// -Inf when the source is all zero and the values are not.
	SNRdB     Float `json:"snr_db"`
	SourceRMS Float `json:"source_rms"`
	// NonFinite counts non-finite values where the source value is finite.
	NonFinite int64 `json:"non_finite"`
	// SourceNonFinite counts non-finite source values (those pairs are
	// left out, whatever the file holds there).
	SourceNonFinite int64 `json:"source_non_finite"`
}

// Accumulator sums the errors of value pairs in float64. The zero value is
// ready to use.
type Accumulator struct {
	n, nonFinite, srcNonFinite int64
	sumSqErr, sumSqWant        float64
	sumSqGot, dot, maxAbsErr   float64
}

// Add accumulates the pairs (want[i], got[i]); want is the source, got the
// values under test. The slices must have the same length.
func (a *Accumulator) Add(want, got []float32) {
	if len(want) != len(got) {
		panic("verify: Accumulator.Add with slices of different lengths")
	}
	// Four independent partial sums per quantity, so the float64 adds do
	// not wait on each other; values are checked for NaN/Inf by their
	// exponent bits. The split depends only on the data, so results are
	// the same for every worker count.
	var e, w2, g2, gw [4]float64
	var maxErr float64
	i := 0
	for ; i+4 <= len(want); i += 4 {
		ws, gs := want[i:i+4:i+4], got[i:i+4:i+4]
		if !finite4(ws) || !finite4(gs) {
			a.addSlow(ws, gs)
			continue
		}
		for j := range 4 {
			w, g := float64(ws[j]), float64(gs[j])
			d := g - w
			e[j] += d * d
			w2[j] += w * w
			g2[j] += g * g
			gw[j] += g * w
			if ad := math.Abs(d); ad > maxErr {
				maxErr = ad
			}
		}
		a.n += 4
	}
	a.sumSqErr += (e[0] + e[1]) + (e[2] + e[3])
	a.sumSqWant += (w2[0] + w2[1]) + (w2[2] + w2[3])
	a.sumSqGot += (g2[0] + g2[1]) + (g2[2] + g2[3])
	a.dot += (gw[0] + gw[1]) + (gw[2] + gw[3])
	a.maxAbsErr = max(a.maxAbsErr, maxErr)
	a.addSlow(want[i:], got[i:])
}

// finite4 reports whether four float32 values are all finite.
func finite4(v []float32) bool {
	const exp = 0x7f800000
	return math.Float32bits(v[0])&exp != exp && math.Float32bits(v[1])&exp != exp &&
		math.Float32bits(v[2])&exp != exp && math.Float32bits(v[3])&exp != exp
}

// addSlow adds pairs one at a time, sorting out non-finite values.
func (a *Accumulator) addSlow(want, got []float32) {
	for i, w32 := range want {
		w, g := float64(w32), float64(got[i])
		switch {
		case math.IsNaN(w) || math.IsInf(w, 0):
			a.srcNonFinite++
			continue
		case math.IsNaN(g) || math.IsInf(g, 0):
			a.nonFinite++
			continue
		}
		d := g - w
		a.n++
		a.sumSqErr += d * d
		a.sumSqWant += w * w
		a.sumSqGot += g * g
		a.dot += g * w
		a.maxAbsErr = max(a.maxAbsErr, math.Abs(d))
	}
}

// Merge adds b's sums to a's.
func (a *Accumulator) Merge(b *Accumulator) {
	a.n += b.n
	a.nonFinite += b.nonFinite
	a.srcNonFinite += b.srcNonFinite
	a.sumSqErr += b.sumSqErr
	a.sumSqWant += b.sumSqWant
	a.sumSqGot += b.sumSqGot
	a.dot += b.dot
	a.maxAbsErr = max(a.maxAbsErr, b.maxAbsErr)
}

// Comparison returns the metrics of the pairs added so far.
func (a *Accumulator) Comparison() Comparison {
	c := Comparison{Count: a.n, MaxAbsError: Float(a.maxAbsErr), NonFinite: a.nonFinite, SourceNonFinite: a.srcNonFinite}
	if a.n > 0 {
		c.RMSE = Float(math.Sqrt(a.sumSqErr / float64(a.n)))
		c.SourceRMS = Float(math.Sqrt(a.sumSqWant / float64(a.n)))
	}
	switch {
	case a.sumSqWant > 0:
		c.RelRMSE = Float(math.Sqrt(a.sumSqErr / a.sumSqWant))
	case a.sumSqErr > 0:
		c.RelRMSE = Float(math.Inf(1))
	}
	switch {
	case a.sumSqWant == 0 && a.sumSqGot == 0:
		c.Cosine = 1
	case a.sumSqWant == 0 || a.sumSqGot == 0:
		c.Cosine = 0
	default:
		c.Cosine = Float(a.dot / math.Sqrt(a.sumSqWant*a.sumSqGot))
	}
	switch {
	case a.sumSqErr == 0:
		c.SNRdB = Float(math.Inf(1))
	case a.sumSqWant == 0:
		c.SNRdB = Float(math.Inf(-1))
	default:
		c.SNRdB = Float(10 * math.Log10(a.sumSqWant/a.sumSqErr))
	}
	return c
}

// Stats describes a tensor's own values (those checked: every row, or the
// sampled rows).
type Stats struct {
	Count     int64 `json:"count"`      // finite values
	RMS       Float `json:"rms"`        // of the finite values
	MaxAbs    Float `json:"max_abs"`    // of the finite values
	NonFinite int64 `json:"non_finite"` // NaN or ±Inf values
	// BadScales counts blocks whose stored scale (fp16 d, dmin or m, f32
	// d, e8m0 exponent) is NaN or infinite; FirstBadBlock is the index of
	// the first, counting blocks from the start of the tensor, or -1.
	BadScales     int64 `json:"bad_scales"`
	FirstBadBlock int64 `json:"first_bad_block"`
}

// statsAcc accumulates Stats in float64.
type statsAcc struct {
	n, nonFinite  int64
	sumSq, maxAbs float64
}

func (s *statsAcc) add(v []float32) {
	var sq [4]float64
	var mx float64
	i := 0
	for ; i+4 <= len(v); i += 4 {
		x4 := v[i : i+4 : i+4]
		if !finite4(x4) {
			s.addSlow(x4)
			continue
		}
		for j := range 4 {
			x := float64(x4[j])
			sq[j] += x * x
			if ax := math.Abs(x); ax > mx {
				mx = ax
			}
		}
		s.n += 4
	}
	s.sumSq += (sq[0] + sq[1]) + (sq[2] + sq[3])
	s.maxAbs = max(s.maxAbs, mx)
	s.addSlow(v[i:])
}

func (s *statsAcc) addSlow(v []float32) {
	for _, x32 := range v {
		x := float64(x32)
		if math.IsNaN(x) || math.IsInf(x, 0) {
			s.nonFinite++
			continue
		}
		s.n++
		s.sumSq += x * x
		s.maxAbs = max(s.maxAbs, math.Abs(x))
	}
}

func (s *statsAcc) stats() Stats {
	st := Stats{Count: s.n, MaxAbs: Float(s.maxAbs), NonFinite: s.nonFinite, FirstBadBlock: -1}
	if s.n > 0 {
		st.RMS = Float(math.Sqrt(s.sumSq / float64(s.n)))
	}
	return st
}
