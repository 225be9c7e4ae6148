package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/qconv/qconv/gguf"
	"github.com/qconv/qconv/safetensors"
)

type inspectOptions struct {
	json bool
}

func newInspectCmd(g *globalOptions, s streams) *cobra.Command {
	o := &inspectOptions{}
	cmd := &cobra.Command{
		Use:   "inspect PATH",
		Short: "Validate a GGUF or safetensors file and list its metadata and tensors",
		Long: `inspect validates the whole structure of a model file without converting any
data, then prints its format, metadata (long arrays abbreviated) and a table of
tensors: name, type, shape (outermost dimension first), bytes and file offset.

PATH is a .gguf file (v1, v2 or v3), a .safetensors file, a sharded
checkpoint's model.safetensors.index.json, or a checkpoint directory.

Exit status: 0 valid, 1 invalid (stderr names the file, the offset or tensor,
and what is wrong), 2 usage or I/O error.`,
		Example: `  qconv inspect model.gguf
  qconv inspect ./Llama-3.2-1B/ --json | jq '.tensors | length'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := inspectPath(args[0])
			if err != nil {
				return err
			}
			if o.json {
				enc := json.NewEncoder(s.out)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			return rep.writeText(s.out)
		},
	}
	cmd.Flags().BoolVar(&o.json, "json", false, "print one JSON object instead of text")
	return cmd
}

// inspectReport is the --json output of inspect (docs/json.md).
type inspectReport struct {
	Path      string          `json:"path"`
	Format    string          `json:"format"`
	Version   int             `json:"version,omitempty"`
	Alignment int64           `json:"alignment,omitempty"`
	Files     []string        `json:"files,omitempty"` // shards of a sharded checkpoint
	Metadata  map[string]any  `json:"metadata"`
	Tensors   []inspectTensor `json:"tensors"`

	metaOrder []string
	metaText  map[string]string
}

type inspectTensor struct {
	Name   string  `json:"name"`
	Type   string  `json:"type"`
	Shape  []int64 `json:"shape"` // outermost ... innermost
	Offset int64   `json:"offset"`
	NBytes int64   `json:"nbytes"`
	File   string  `json:"file,omitempty"` // the shard holding it
}

func inspectPath(path string) (*inspectReport, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, withCode(exitUsage, err)
	}
	if !st.IsDir() && !strings.HasSuffix(path, ".json") {
		f, err := os.Open(path)
		if err != nil {
			return nil, withCode(exitUsage, err)
		}
		var magic [4]byte
		n, _ := io.ReadFull(f, magic[:])
		f.Close()
		if n == 4 && (string(magic[:]) == "GGUF" || string(magic[:]) == "FUGG") {
			return inspectGGUF(path)
		}
		if n == 4 && !strings.HasSuffix(path, ".safetensors") && magic[3] != 0 {
			// Neither GGUF nor a plausible safetensors header length.
			if _, err := gguf.Open(path); err != nil {
				return nil, err
			}
		}
	}
	return inspectSafetensors(path)
}

func inspectGGUF(path string) (*inspectReport, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rep := &inspectReport{Path: path, Format: "gguf", Version: int(f.Version()), Alignment: f.Alignment(),
		Metadata: map[string]any{}, metaText: map[string]string{}}
	for _, kv := range f.KVs() {
		rep.Metadata[kv.Key] = kv.Value.JSON()
		rep.metaOrder = append(rep.metaOrder, kv.Key)
		rep.metaText[kv.Key] = kv.Value.String()
	}
	rep.Tensors = []inspectTensor{}
	for _, ti := range f.Tensors() {
		shape := slices.Clone(ti.Dims)
		slices.Reverse(shape)
		rep.Tensors = append(rep.Tensors, inspectTensor{Name: ti.Name, Type: ti.Type.String(), Shape: shape, Offset: ti.FileOffset, NBytes: ti.Size})
	}
	return rep, nil
}

func inspectSafetensors(path string) (*inspectReport, error) {
	c, err := safetensors.OpenCheckpoint(path)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	rep := &inspectReport{Path: path, Format: "safetensors", Metadata: map[string]any{}, metaText: map[string]string{}}
	files := c.Files()
	if len(files) > 1 || c.Index() != nil {
		for _, f := range files {
			rep.Files = append(rep.Files, filepath.Base(f.Path()))
		}
	}
	meta := c.Metadata()
	for k, v := range meta {
		rep.Metadata[k] = v
		rep.metaOrder = append(rep.metaOrder, k)
		rep.metaText[k] = fmt.Sprintf("%q", v)
	}
	slices.Sort(rep.metaOrder)
	rep.Tensors = []inspectTensor{}
	for _, t := range c.Tensors() {
		f := c.File(t.Name)
		it := inspectTensor{Name: t.Name, Type: t.DType.String(), Shape: t.Shape, Offset: f.DataOffset() + t.Offset, NBytes: t.Size}
		if rep.Files != nil {
			it.File = filepath.Base(f.Path())
		}
		rep.Tensors = append(rep.Tensors, it)
	}
	return rep, nil
}

func (r *inspectReport) writeText(w io.Writer) error {
	var total int64
	for _, t := range r.Tensors {
		total += t.NBytes
	}
	fmt.Fprintf(w, "%s: ", r.Path)
	switch r.Format {
	case "gguf":
		fmt.Fprintf(w, "GGUF v%d, alignment %d", r.Version, r.Alignment)
	default:
		fmt.Fprint(w, "safetensors")
		if len(r.Files) > 0 {
			fmt.Fprintf(w, ", %d shards", len(r.Files))
		}
	}
	fmt.Fprintf(w, ", %d metadata keys, %d tensors, %s of tensor data: valid\n", len(r.metaOrder), len(r.Tensors), humanBytes(total))
	if len(r.metaOrder) > 0 {
		fmt.Fprintln(w, "\nmetadata:")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, k := range r.metaOrder {
			v := r.metaText[k]
			if len(v) > 120 {
				v = v[:117] + "..."
			}
			fmt.Fprintf(tw, "  %s\t%s\n", k, strings.ReplaceAll(v, "\n", `\n`))
		}
		tw.Flush()
	}
	if len(r.Tensors) > 0 {
		fmt.Fprintln(w, "\ntensors:")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprint(tw, "  name\ttype\tshape\tbytes\toffset\t")
		if r.Files != nil {
			fmt.Fprint(tw, "file\t")
		}
		fmt.Fprintln(tw)
		for _, t := range r.Tensors {
			dims := make([]string, len(t.Shape))
			for i, d := range t.Shape {
				dims[i] = fmt.Sprint(d)
			}
			fmt.Fprintf(tw, "  %s\t%s\t[%s]\t%d\t%d\t", t.Name, t.Type, strings.Join(dims, ", "), t.NBytes, t.Offset)
			if r.Files != nil {
				fmt.Fprintf(tw, "%s\t", t.File)
			}
			fmt.Fprintln(tw)
		}
		tw.Flush()
	}
	return nil
}

// humanBytes formats n with a binary unit.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
