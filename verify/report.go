package verify

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
)

// Tensor statuses.
const (
	StatusPass = "pass"
	StatusFail = "fail"
	StatusSkip = "skip"
)

// Failure metrics.
const (
	MetricRelRMSE   = "rel_rmse"   // relative RMSE above the type's threshold
	MetricNonFinite = "non_finite" // NaN or ±Inf values (where the source is finite)
	MetricBadScales = "bad_scales" // blocks with a NaN or infinite scale
	MetricShape     = "shape"      // dims differ from the source's
	MetricMissing   = "missing"    // a source tensor absent from the file
	MetricExtra     = "extra"      // a file tensor absent from the source
	MetricRead      = "read"       // the source tensor could not be decoded
	MetricKernel    = "kernel"     // a packed kernel disagrees with the reference
)

// Failure is one failed check of a tensor.
type Failure struct {
	Metric  string `json:"metric"`
	Value   *Float `json:"value,omitempty"` // the measured value, when numeric
	Limit   *Float `json:"limit,omitempty"` // the threshold it broke
	Message string `json:"message"`
}

// TensorResult is the verification of one tensor.
type TensorResult struct {
	Name       string  `json:"name"`
	Type       string  `json:"type,omitempty"` // the file's type; "" for a missing tensor
	Dims       []int64 `json:"dims,omitempty"` // ggml order
	SourceType string  `json:"source_type,omitempty"`
	SourceDims []int64 `json:"source_dims,omitempty"`
	Status     string  `json:"status"`           // pass, fail or skip
	Reason     string  `json:"reason,omitempty"` // why it was skipped
	Rows       int64   `json:"rows"`
	// RowsChecked is Rows, or the number of sampled rows.
	RowsChecked int64       `json:"rows_checked"`
	Stats       *Stats      `json:"stats,omitempty"`
	Compare     *Comparison `json:"compare,omitempty"`
	// Threshold is the maximum relative RMSE applied and Ratio is
	// Compare.RelRMSE / Threshold; both only with a source.
	Threshold *Float        `json:"threshold,omitempty"`
	Ratio     *Float        `json:"ratio,omitempty"`
	Kernel    *KernelResult `json:"kernel,omitempty"`
	Failures  []Failure     `json:"failures,omitempty"`
}

func (r *TensorResult) fail(f Failure) {
	r.Status = StatusFail
	r.Failures = append(r.Failures, f)
}

func (r *TensorResult) skip(reason string) {
	if r.Status == "" {
		r.Status = StatusSkip
	}
	r.Reason = reason
}

// Summary counts the tensors by status.
type Summary struct {
	Tensors int    `json:"tensors"`
	Passed  int    `json:"passed"`
	Failed  int    `json:"failed"`
	Skipped int    `json:"skipped"`
	Verdict string `json:"verdict"` // "PASS" or "FAIL"
	Message string `json:"message"` // the one-line verdict of the text report
}

// Report is the result of Run. Tensors are in file order, followed by the
// source tensors missing from the file in source order.
type Report struct {
	File    string `json:"file"`
	Against string `json:"against,omitempty"`
	// SampleRows is Options.Sample; 0 when every row was checked.
	SampleRows int64 `json:"sample_rows"`
	// Thresholds is the maximum relative RMSE per type name, and
	// FallbackThreshold the one for other types; only with a source.
	Thresholds        map[string]Float `json:"thresholds,omitempty"`
	FallbackThreshold *Float           `json:"fallback_threshold,omitempty"`
	Tensors           []TensorResult   `json:"tensors"`
	Summary           Summary          `json:"summary"`
}

// Passed reports whether no tensor failed.
func (r *Report) Passed() bool { return r.Summary.Failed == 0 }

func (r *Report) summarize() {
	s := Summary{Tensors: len(r.Tensors)}
	var failed []string
	for i := range r.Tensors {
		t := &r.Tensors[i]
		if t.Status == "" {
			t.Status = StatusPass
		}
		switch t.Status {
		case StatusPass:
			s.Passed++
		case StatusFail:
			s.Failed++
			metrics := make([]string, len(t.Failures))
			for j, f := range t.Failures {
				metrics[j] = f.Metric
			}
			failed = append(failed, fmt.Sprintf("%s (%s)", t.Name, strings.Join(metrics, ", ")))
		case StatusSkip:
			s.Skipped++
		}
	}
	if s.Failed == 0 {
		s.Verdict = "PASS"
		what := "within thresholds"
		if r.Against == "" {
			what = "with finite values and scales"
		}
		s.Message = fmt.Sprintf("PASS: %d tensors %s", s.Passed, what)
		if s.Skipped > 0 {
			s.Message += fmt.Sprintf(", %d skipped", s.Skipped)
		}
	} else {
		s.Verdict = "FAIL"
		if len(failed) > 5 {
			failed = append(failed[:5], fmt.Sprintf("and %d more", len(failed)-5))
		}
		s.Message = fmt.Sprintf("FAIL: %d of %d tensors failed: %s", s.Failed, s.Tensors, strings.Join(failed, ", "))
	}
	r.Summary = s
}

// Worst returns the tensors worst first: failed tensors (those failing a
// check other than rel_rmse first), then by Ratio descending, skipped
// tensors last; ties keep the report order.
func (r *Report) Worst() []TensorResult {
	out := slices.Clone(r.Tensors)
	rank := func(t *TensorResult) (int, float64) {
		var ratio float64
		if t.Ratio != nil {
			ratio = float64(*t.Ratio)
			if math.IsNaN(ratio) {
				ratio = math.Inf(1)
			}
		}
		switch t.Status {
		case StatusFail:
			for _, f := range t.Failures {
				if f.Metric != MetricRelRMSE {
					return 0, math.Inf(1)
				}
			}
			return 0, ratio
		case StatusPass:
			return 1, ratio
		}
		return 2, 0
	}
	slices.SortStableFunc(out, func(a, b TensorResult) int {
		ga, ra := rank(&a)
		gb, rb := rank(&b)
		if ga != gb {
			return ga - gb
		}
		switch {
		case ra > rb:
			return -1
		case ra < rb:
			return 1
		}
		return 0
	})
	return out
}

// WriteText writes the report as a table, worst tensors first, then every
// failure on its own line and the verdict.
func (r *Report) WriteText(w io.Writer) error {
	if r.Against != "" {
		fmt.Fprintf(w, "verify %s against %s", r.File, r.Against)
	} else {
		fmt.Fprintf(w, "verify %s (no source: finite values and scales only)", r.File)
	}
	if r.SampleRows > 0 {
		fmt.Fprintf(w, ", sampling %d rows per tensor", r.SampleRows)
	}
	fmt.Fprintf(w, "\n\n")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if r.Against != "" {
		fmt.Fprintln(tw, "status\ttensor\ttype\trel_rmse\tlimit\tratio\trmse\tmax_err\tcosine\tsnr_db\t")
	} else {
		fmt.Fprintln(tw, "status\ttensor\ttype\trms\tmax_abs\tnon_finite\tbad_scales\t")
	}
	for _, t := range r.Worst() {
		status := map[string]string{StatusPass: "ok", StatusFail: "FAIL", StatusSkip: "skip"}[t.Status]
		typ := t.Type
		if typ == "" {
			typ = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t", status, t.Name, typ)
		switch {
		case r.Against != "" && t.Compare != nil:
			c := t.Compare
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.6g\t%s\t", c.RelRMSE, *t.Threshold, *t.Ratio, c.RMSE, c.MaxAbsError, float64(c.Cosine), c.SNRdB)
		case r.Against == "" && t.Stats != nil && t.Status != StatusSkip:
			s := t.Stats
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t", s.RMS, s.MaxAbs, s.NonFinite, s.BadScales)
		case t.Reason != "":
			fmt.Fprintf(tw, "skipped: %s\t", t.Reason)
		case len(t.Failures) > 0:
			fmt.Fprintf(tw, "%s\t", t.Failures[0].Metric)
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.Summary.Failed > 0 {
		fmt.Fprintln(w, "\nfailures:")
		for _, t := range r.Worst() {
			for _, f := range t.Failures {
				fmt.Fprintf(w, "  %s: %s\n", t.Name, f.Message)
			}
		}
	}
	_, err := fmt.Fprintf(w, "\n%s\n", r.Summary.Message)
	return err
}
