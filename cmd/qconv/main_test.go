package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets tests run the real qconv main (signals, exit codes) by
// re-executing the test binary with QCONV_TEST_MAIN=1.
func TestMain(m *testing.M) {
	if os.Getenv("QCONV_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func qconvProcess(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "QCONV_TEST_MAIN=1")
	return cmd
}

// TestSignalLeavesNothing interrupts a conversion with SIGINT and SIGTERM:
// exit 130 / 143 and no output, temporary or final.
func TestSignalLeavesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("converts a 60 M-weight model")
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "in.gguf")
	// A model big enough that converting it to Q6_K takes a while.
	if out, err := qconvProcess(t, "synth", "--preset", "bench", "--type", "f16", in).CombinedOutput(); err != nil {
		t.Fatalf("synth: %v %s", err, out)
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		out := filepath.Join(dir, "out.gguf")
		cmd := qconvProcess(t, "convert", in, "--to", "q6_k", "-o", out, "-j", "2")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(700 * time.Millisecond)
		cmd.Process.Signal(sig)
		err := cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 128+int(sig) {
			t.Errorf("%v: wait returned %v, want exit %d", sig, err, 128+int(sig))
		}
		es, _ := os.ReadDir(dir)
		if len(es) != 1 {
			var names []string
			for _, e := range es {
				names = append(names, e.Name())
			}
			t.Errorf("%v: directory holds %v, want only in.gguf", sig, names)
		}
	}
}

func TestConvertCLI(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "tiny.gguf")
	if code, _, stderr := qconv(t, "synth", in, "-q"); code != 0 {
		t.Fatal(stderr)
	}
	// --dry-run --json: the plan, nothing written.
	code, out, stderr := qconv(t, "convert", in, "--to", "q4_k_m", "--dry-run", "--json")
	if code != 0 {
		t.Fatalf("dry-run: exit %d %s", code, stderr)
	}
	var plan struct {
		FileType      string  `json:"file_type"`
		BitsPerWeight float64 `json:"bits_per_weight"`
		Tensors       []struct {
			Name       string `json:"name"`
			TargetType string `json:"target_type"`
		} `json:"tensors"`
	}
	if err := json.Unmarshal([]byte(out), &plan); err != nil || len(plan.Tensors) != 39 || plan.BitsPerWeight < 4 || plan.BitsPerWeight > 6 {
		t.Errorf("dry-run plan: %v %+v", err, plan)
	}
	if es, _ := os.ReadDir(dir); len(es) != 1 {
		t.Errorf("dry-run wrote files")
	}
	// A real run with the default output name and a JSON report.
	code, out, stderr = qconv(t, "convert", in, "--to", "q8_0", "--json", "-j", "3")
	if code != 0 {
		t.Fatalf("convert: exit %d %s", code, stderr)
	}
	var rep struct {
		Output  string `json:"output"`
		SHA256  string `json:"sha256"`
		Tensors []struct {
			Name       string `json:"name"`
			TargetType string `json:"target_type"`
		} `json:"tensors"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.SHA256) != 64 || len(rep.Tensors) != 39 {
		t.Fatalf("report: %v %+v", err, rep)
	}
	if want := filepath.Join(dir, "tiny-Q8_0.gguf"); rep.Output != want {
		t.Errorf("default output %s, want %s", rep.Output, want)
	}
	// Refusals: existing output (exit 2, file unchanged), output = input.
	before, _ := os.ReadFile(rep.Output)
	if code, _, stderr = qconv(t, "convert", in, "--to", "q4_0", "-o", rep.Output); code != exitUsage || !strings.Contains(stderr, "--force") {
		t.Errorf("existing output: exit %d %q", code, stderr)
	}
	if after, _ := os.ReadFile(rep.Output); string(after) != string(before) {
		t.Error("existing output changed")
	}
	if code, _, stderr = qconv(t, "convert", in, "--to", "q4_0", "-o", in, "--force"); code != exitUsage || !strings.Contains(stderr, "same file") {
		t.Errorf("output = input: exit %d %q", code, stderr)
	}
	// Usage errors.
	for _, args := range [][]string{
		{"convert", in},
		{"convert", in, "--to", "q9_9"},
		{"convert", in, "--to", "q8_0", "--max-memory", "lots"},
		{"convert", in, "--to", "q8_0", "--tensor-type", "noequals"},
		{"convert", in, "--to", "q8_0", "--override-kv", "a=int:x"},
		{"convert", in, "--to", "q8_0", "--include-weights", "x"},
	} {
		if code, _, _ := qconv(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want 2", args[2:], code)
		}
	}
	// --quiet prints nothing.
	if code, out, stderr := qconv(t, "convert", in, "--to", "q4_0", "-o", filepath.Join(dir, "q.gguf"), "--quiet"); code != 0 || out != "" || stderr != "" {
		t.Errorf("--quiet: exit %d, out %q, err %q", code, out, stderr)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1024": 1024, "4GiB": 4 << 30, "512MiB": 512 << 20, "1.5G": 3 << 29, "2MB": 2e6} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1", "0", "lots", "1XB"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) accepted", bad)
		}
	}
}
