package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/qconv/qconv/convert"
	"github.com/qconv/qconv/gguf"
	"github.com/qconv/qconv/kernels"
	"github.com/qconv/qconv/quantize"
)

type convertOptions struct {
	output             string
	to                 string
	jobs               int
	maxMemory          string
	force              bool
	quiet              bool
	json               bool
	dryRun             bool
	pure               bool
	outputTensorType   string
	tokenEmbeddingType string
	leaveOutputTensor  bool
	tensorTypes        []string
	tensorTypeFile     string
	overrideKV         []string
	allowRequantize    bool
	allowNonFinite     bool
	imatrix            string
	includeWeights     []string
	excludeWeights     []string
	raw                bool
	layout             string
	keepSplit          bool
	splitMaxSize       string
	splitMaxTensors    int
}

func newConvertCmd(g *globalOptions, s streams) *cobra.Command {
	o := &convertOptions{}
	cmd := &cobra.Command{
		Use:   "convert INPUT --to TYPE [-o OUTPUT]",
		Short: "Convert and quantize a model into GGUF",
		Long: `convert reads a model and writes a GGUF file with its tensors quantized to TYPE,
choosing each tensor's type exactly as llama-quantize does.

INPUT is a .gguf file (v1, v2 or v3; already-quantized tensors need
--allow-requantize; any file of a model split as NAME-00001-of-00003.gguf
reads the whole model, written as one file or, with --keep-split, as the
same splits), a .safetensors file, a sharded checkpoint's
model.safetensors.index.json, or a checkpoint directory. A Hugging Face
checkpoint directory (config.json naming a supported architecture, see
docs/architectures.md) is converted as convert_hf_to_gguf.py does: GGUF
tensor names, llama's Q/K rows permuted, norms in F32, the hyperparameters
and the SentencePiece tokenizer as metadata. With --raw, or for a single
safetensors file or index, tensor names and metadata are carried over
(safetensors __metadata__ as strings).

TYPE is a llama file type with its mixture of tensor types (Q4_K_M, Q5_K_M,
Q2_K, Q3_K_S, Q3_K_M, Q3_K_L, Q4_K_S, Q5_K_S, Q6_K, Q8_0, Q4_0, Q4_1, Q5_0,
Q5_1, IQ4_NL, IQ4_XS, TQ1_0, TQ2_0, F16, BF16, F32, COPY) or a ggml type,
case-insensitive. A name that is both is the file type, as in
llama-quantize; add --pure to put every quantizable tensor in one type.

--layout block writes qconv's block-major layout (docs/layouts.md): every
matrix of a type with tile kernels (Q4_0, Q8_0, IQ4_NL, Q4_K) is stored in
16-row tiles that qconv's AVX-512 kernels multiply 16 rows at a time; other
tensors stay row-major. Such tensors have private
type ids, so llama.cpp and other GGUF readers refuse the file instead of
misreading it; convert it back with --layout row (the default), which
also turns a block-major input into a standard GGUF.

The output is written to a temporary file beside OUTPUT and renamed only
when complete; an error or a signal leaves nothing under OUTPUT. The bytes
are the same for every -j and every CPU.`,
		Example: `  qconv convert model-f16.gguf --to q4_k_m -o model-Q4_K_M.gguf
  qconv convert ./Llama-3.2-1B/ --to q8_0 -o llama-q8_0.gguf -j 8
  qconv convert model-f16.gguf --to q4_k_m --tensor-type 'attn_v=q8_0' --dry-run
  qconv convert model.safetensors --to q5_1 --quiet --json > report.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runConvert(cmd, s, o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.output, "output", "o", "", "output file (default: INPUT's name with -TYPE.gguf, beside it)")
	f.StringVar(&o.to, "to", "", "target llama file type or ggml type (required)")
	f.IntVarP(&o.jobs, "jobs", "j", runtime.GOMAXPROCS(0), "worker goroutines")
	f.StringVar(&o.maxMemory, "max-memory", "1GiB", "bound on conversion buffers in flight (e.g. 512MiB, 4GiB)")
	f.BoolVarP(&o.force, "force", "f", false, "overwrite OUTPUT if it exists")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "print nothing but errors")
	f.BoolVar(&o.json, "json", false, "print a JSON report (per tensor: name, types, bytes, seconds; totals; sha256)")
	f.BoolVar(&o.dryRun, "dry-run", false, "print each tensor's target type and size, the total size and bits per weight; write nothing")
	f.BoolVar(&o.pure, "pure", false, "no mixture: every quantizable tensor gets the file type's default type")
	f.StringVar(&o.outputTensorType, "output-tensor-type", "", "ggml type for output.weight")
	f.StringVar(&o.tokenEmbeddingType, "token-embedding-type", "", "ggml type for token_embd.weight")
	f.BoolVar(&o.leaveOutputTensor, "leave-output-tensor", false, "do not (re)quantize output.weight")
	f.StringArrayVar(&o.tensorTypes, "tensor-type", nil, "REGEX=TYPE: type for tensors whose name matches REGEX (repeatable; first match wins)")
	f.StringVar(&o.tensorTypeFile, "tensor-type-file", "", "file of REGEX=TYPE lines, as --tensor-type")
	f.StringArrayVar(&o.overrideKV, "override-kv", nil, "KEY=TYPE:VALUE metadata override, TYPE one of int, float, bool, str (repeatable)")
	f.StringVar(&o.imatrix, "imatrix", "", "importance matrix file (llama-imatrix's .dat or GGUF format)")
	f.StringArrayVar(&o.includeWeights, "include-weights", nil, "use the importance matrix only for tensors whose name contains this (repeatable)")
	f.StringArrayVar(&o.excludeWeights, "exclude-weights", nil, "do not use the importance matrix for tensors whose name contains this (repeatable)")
	f.BoolVar(&o.allowRequantize, "allow-requantize", false, "allow quantized input tensors (dequantized, then quantized again)")
	f.BoolVar(&o.allowNonFinite, "allow-non-finite", false, "convert tensors holding NaN or Inf instead of failing")
	f.StringVar(&o.layout, "layout", "row", "row (standard GGUF) or block (qconv's block-major tiles; only qconv reads them)")
	f.BoolVar(&o.keepSplit, "keep-split", false, "split GGUF input: write one output file per input file (OUTPUT without .gguf, then -00001-of-0000N.gguf, ...)")
	f.StringVar(&o.splitMaxSize, "split-max-size", "", "split the output into files of at most this much tensor data (45GB = 45e9 bytes, 40GiB = 40*2^30), named OUTPUT without .gguf, then -00001-of-0000N.gguf, ...")
	f.IntVar(&o.splitMaxTensors, "split-max-tensors", 0, "split the output into files of at most this many tensors (named as with --split-max-size)")
	f.BoolVar(&o.raw, "raw", false, "checkpoint directory: keep tensor names and metadata as stored, skipping the architecture conversion")
	cmd.MarkFlagRequired("to")
	return cmd
}

func (o *convertOptions) options() (convert.Options, error) {
	tgt, err := convert.ParseTarget(o.to)
	if err != nil {
		return convert.Options{}, usageErrorf("--to: %v", err)
	}
	opts := convert.Options{Target: tgt, AllowNonFinite: o.allowNonFinite, KeepSplit: o.keepSplit, SplitMaxTensors: o.splitMaxTensors}
	if o.splitMaxSize != "" {
		if opts.SplitMaxSize, err = parseSize(o.splitMaxSize); err != nil {
			return opts, usageErrorf("--split-max-size: %v", err)
		}
	}
	if o.splitMaxTensors < 0 {
		return opts, usageErrorf("--split-max-tensors must not be negative")
	}
	if o.keepSplit && (opts.SplitMaxSize > 0 || opts.SplitMaxTensors > 0) {
		return opts, usageErrorf("--keep-split cannot be combined with --split-max-size or --split-max-tensors")
	}
	if opts.Layout, err = kernels.ParseLayout(o.layout); err != nil {
		return convert.Options{}, usageErrorf("--layout: %v", err)
	}
	sel := &opts.Select
	sel.Pure = o.pure
	sel.LeaveOutputTensor = o.leaveOutputTensor
	sel.AllowRequantize = o.allowRequantize
	sel.DryRun = o.dryRun
	parseType := func(flag, v string) (*gguf.Type, error) {
		if v == "" {
			return nil, nil
		}
		t, ok := gguf.ParseType(v)
		if !ok {
			return nil, usageErrorf("--%s: unknown ggml type %q", flag, v)
		}
		return &t, nil
	}
	if sel.OutputTensorType, err = parseType("output-tensor-type", o.outputTensorType); err != nil {
		return opts, err
	}
	if sel.TokenEmbeddingType, err = parseType("token-embedding-type", o.tokenEmbeddingType); err != nil {
		return opts, err
	}
	rules := append([]string(nil), o.tensorTypes...)
	if o.tensorTypeFile != "" {
		lines, err := readRuleFile(o.tensorTypeFile)
		if err != nil {
			return opts, withCode(exitUsage, err)
		}
		rules = append(rules, lines...)
	}
	for _, r := range rules {
		ov, err := convert.ParseTensorTypeOverride(r)
		if err != nil {
			return opts, usageErrorf("--tensor-type %q: %v", r, err)
		}
		sel.TensorTypes = append(sel.TensorTypes, ov)
	}
	if o.imatrix != "" {
		im, err := quantize.ReadImatrix(o.imatrix)
		if err != nil {
			return opts, err
		}
		if err := im.Filter(o.includeWeights, o.excludeWeights); err != nil {
			return opts, usageErrorf("%v", err)
		}
		opts.Imatrix = im
	} else if len(o.includeWeights)+len(o.excludeWeights) > 0 {
		return opts, usageErrorf("--include-weights and --exclude-weights need --imatrix")
	}
	for _, kv := range o.overrideKV {
		v, err := parseOverrideKV(kv)
		if err != nil {
			return opts, usageErrorf("--override-kv %q: %v", kv, err)
		}
		opts.KVOverrides = append(opts.KVOverrides, v)
	}
	return opts, nil
}

// readRuleFile reads --tensor-type-file: one REGEX=TYPE per line; blank
// lines and lines starting with # are skipped.
func readRuleFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--tensor-type-file: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return out, sc.Err()
}

// parseOverrideKV parses llama-quantize's KEY=TYPE:VALUE (int overrides
// are written as i64 by llama.cpp's loader but as u32 by llama-quantize's
// writer; qconv follows the writer).
func parseOverrideKV(s string) (gguf.KV, error) {
	key, rest, ok := strings.Cut(s, "=")
	typ, val, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || key == "" {
		return gguf.KV{}, fmt.Errorf("want KEY=TYPE:VALUE")
	}
	switch typ {
	case "int":
		n, err := strconv.ParseInt(val, 10, 64)
		if err != nil || n < 0 || n > 1<<32-1 {
			return gguf.KV{}, fmt.Errorf("int value %q is not a u32", val)
		}
		return gguf.KV{Key: key, Value: gguf.Uint32(uint32(n))}, nil
	case "float":
		f, err := strconv.ParseFloat(val, 32)
		if err != nil {
			return gguf.KV{}, fmt.Errorf("float value %q: %v", val, err)
		}
		return gguf.KV{Key: key, Value: gguf.Float32(float32(f))}, nil
	case "bool":
		b, err := strconv.ParseBool(val)
		if err != nil {
			return gguf.KV{}, fmt.Errorf("bool value %q", val)
		}
		return gguf.KV{Key: key, Value: gguf.Bool(b)}, nil
	case "str":
		return gguf.KV{Key: key, Value: gguf.String(val)}, nil
	}
	return gguf.KV{}, fmt.Errorf("type %q is not int, float, bool or str", typ)
}

// parseSize parses a byte count with an optional binary or decimal unit.
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(strings.ToUpper(t), strings.ToUpper(u.suffix)) {
			t, mult = strings.TrimSpace(t[:len(t)-len(u.suffix)]), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f <= 0 || f*float64(mult) > 1<<62 {
		return 0, fmt.Errorf("invalid size %q (want e.g. 512MiB or 4GiB)", s)
	}
	return int64(f * float64(mult)), nil
}

// defaultOutput names the output beside the input: model-f16.gguf with
// Q4_K_M gives model-f16-Q4_K_M.gguf; a directory gives DIR-Q4_K_M.gguf
// beside it; a split model-00001-of-00003.gguf gives model-Q4_K_M.gguf.
func defaultOutput(input, typ string) string {
	clean := filepath.Clean(input)
	base := filepath.Base(clean)
	if ext := filepath.Ext(base); ext == ".gguf" || ext == ".safetensors" || ext == ".json" {
		base = strings.TrimSuffix(base, ext)
	}
	base = splitSuffix.ReplaceAllString(base, "")
	base = strings.TrimSuffix(base, ".safetensors.index")
	return filepath.Join(filepath.Dir(clean), base+"-"+typ+".gguf")
}

// splitSuffix is the -00001-of-00003 of a split GGUF file's name.
var splitSuffix = regexp.MustCompile(`-[0-9]{5}-of-[0-9]{5}$`)

func runConvert(cmd *cobra.Command, s streams, o *convertOptions, input string) error {
	ctx := commandContext(cmd)
	opts, err := o.options()
	if err != nil {
		return err
	}
	if o.jobs < 1 {
		return usageErrorf("-j must be at least 1")
	}
	maxMem, err := parseSize(o.maxMemory)
	if err != nil {
		return usageErrorf("--max-memory: %v", err)
	}
	src, err := convert.OpenSourceWith(input, convert.SourceOptions{Raw: o.raw})
	if err != nil {
		return err
	}
	defer src.Close()
	// Problems that do not stop the conversion (an unrecognized
	// pre-tokenizer, ...): on stderr unless --quiet, and in the JSON report.
	if !o.quiet {
		for _, w := range src.Warnings {
			fmt.Fprintf(s.err, "qconv: warning: %s\n", w)
		}
	}
	plan, err := convert.NewPlan(src, opts)
	if err != nil {
		return err
	}
	if o.dryRun {
		return printPlan(s.out, plan, o.json)
	}
	out := o.output
	if out == "" {
		out = defaultOutput(input, strings.ToUpper(opts.Target.FileType.String()))
		if opts.Target.Copy {
			out = defaultOutput(input, "COPY")
		}
	}
	ro := convert.RunOptions{Jobs: o.jobs, MaxMemory: maxMem, Force: o.force, SHA256: o.json}
	showBar := !o.quiet && !o.json && isTerminal(s.err)
	var bar *progressbar.ProgressBar
	if showBar {
		bar = newBar(s.err, plan.SourceBytes(), "converting")
		var mu sync.Mutex
		ro.Progress = func(p convert.Progress) {
			mu.Lock()
			bar.Describe(fmt.Sprintf("tensors %d/%d", p.TensorsDone, p.TensorsTotal))
			bar.Set64(p.BytesDone)
			mu.Unlock()
		}
	}
	rep, err := plan.Write(ctx, out, ro)
	if bar != nil {
		bar.Exit()
		fmt.Fprintln(s.err)
	}
	if err != nil {
		return err
	}
	if o.json {
		type jsonReport struct {
			*convert.Report
			PeakRSS int64 `json:"peak_rss_bytes,omitempty"`
		}
		enc := json.NewEncoder(s.out)
		enc.SetIndent("", "  ")
		return enc.Encode(jsonReport{rep, peakRSS()})
	}
	if !o.quiet {
		if len(rep.Outputs) > 0 {
			out = fmt.Sprintf("%d files %s ... %s", len(rep.Outputs), rep.Outputs[0], filepath.Base(rep.Outputs[len(rep.Outputs)-1]))
		}
		fmt.Fprintf(s.out, "wrote %s: %d tensors, %s (%.2f bits per weight) in %s with %d workers\n",
			out, len(rep.Tensors), humanBytes(rep.OutputBytes), rep.BitsPerWeight, time.Duration(rep.Seconds*float64(time.Second)).Round(time.Millisecond), rep.Jobs)
	}
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func newBar(w io.Writer, total int64, desc string) *progressbar.ProgressBar {
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionSetPredictTime(true),
	)
}

// planRecord is one tensor of --dry-run --json.
type planRecord struct {
	Name       string  `json:"name"`
	SourceType string  `json:"source_type"`
	TargetType string  `json:"target_type"`
	Shape      []int64 `json:"shape"`
	Bytes      int64   `json:"bytes"`
	Reason     string  `json:"reason,omitempty"`
	Fallback   bool    `json:"fallback,omitempty"`
}

func printPlan(w io.Writer, p *convert.Plan, asJSON bool) error {
	var recs []planRecord
	for _, t := range p.Tensors {
		recs = append(recs, planRecord{Name: t.Src.Name, SourceType: t.Src.DType, TargetType: t.Out.Type.String(),
			Shape: t.Src.Dims, Bytes: t.Out.Size, Reason: t.Choice.Reason, Fallback: t.Choice.Fallback})
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{
			"input": p.Source.Path, "file_type": p.Options.Target.FileType.String(), "tensors": recs,
			"output_bytes": p.OutputBytes(), "tensor_bytes": p.TensorBytes(), "elements": p.Elements(),
			"bits_per_weight": p.BitsPerWeight(),
		})
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "name\tsource\ttarget\tshape (ne0 first)\tbytes\treason")
	for _, r := range recs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%d\t%s\n", r.Name, r.SourceType, r.TargetType, r.Shape, r.Bytes, r.Reason)
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%d tensors, %s of weights -> %s (%.2f bits per weight); nothing written (--dry-run)\n",
		len(recs), humanBytes(p.SourceBytes()), humanBytes(p.OutputBytes()), p.BitsPerWeight())
	return nil
}
