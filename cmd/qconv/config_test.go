package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/cobra"
)

// newConfigTestCmd returns a "convert" command with a few flags of the
// kinds qconv uses, parsed from args.
func newConfigTestCmd(t *testing.T, args ...string) (*cobra.Command, *int, *string, *[]string) {
	t.Helper()
	var jobs int
	var mem string
	var tt []string
	cmd := &cobra.Command{Use: "convert"}
	cmd.Flags().IntVarP(&jobs, "jobs", "j", 1, "")
	cmd.Flags().StringVar(&mem, "max-memory", "1GiB", "")
	cmd.Flags().StringArrayVar(&tt, "tensor-type", nil, "")
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	return cmd, &jobs, &mem, &tt
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "qconv.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigPrecedence(t *testing.T) {
	file := writeConfig(t, "jobs: 3\nmax-memory: 2GiB\nconvert:\n  max-memory: 5GiB\n  tensor-type: [\"attn_v=q8_0\", \"ffn_down=q6_k\"]\n")
	cases := []struct {
		name     string
		args     []string
		env      map[string]string
		wantJobs int
		wantMem  string
		wantTT   int
	}{
		{"file only; command key beats bare key", nil, nil, 3, "5GiB", 2},
		{"env beats file", nil, map[string]string{"QCONV_JOBS": "7", "QCONV_MAX_MEMORY": "9GiB"}, 7, "9GiB", 2},
		{"command env beats bare env", nil, map[string]string{"QCONV_MAX_MEMORY": "9GiB", "QCONV_CONVERT_MAX_MEMORY": "8GiB"}, 3, "8GiB", 2},
		{"flag beats env and file", []string{"-j", "2", "--max-memory", "1MiB", "--tensor-type", "x=f16"}, map[string]string{"QCONV_JOBS": "7"}, 2, "1MiB", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := loadConfig(file)
			if err != nil {
				t.Fatal(err)
			}
			cfg.getenv = func(k string) (string, bool) { v, ok := c.env[k]; return v, ok }
			cmd, jobs, mem, tt := newConfigTestCmd(t, c.args...)
			if err := cfg.apply(cmd); err != nil {
				t.Fatal(err)
			}
			if *jobs != c.wantJobs || *mem != c.wantMem || len(*tt) != c.wantTT {
				t.Errorf("jobs=%d mem=%s tensor-type=%v; want %d %s %d entries", *jobs, *mem, *tt, c.wantJobs, c.wantMem, c.wantTT)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	if _, err := loadConfig(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("missing explicit config file accepted")
	}
	bad := writeConfig(t, "jobs: [1\n")
	if _, err := loadConfig(bad); err == nil {
		t.Error("malformed config file accepted")
	}
	cfg, err := loadConfig(writeConfig(t, "jobs: many\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.getenv = func(string) (string, bool) { return "", false }
	cmd, _, _, _ := newConfigTestCmd(t)
	if err := cfg.apply(cmd); err == nil || exitCode(t.Context(), err) != exitUsage {
		t.Errorf("non-numeric jobs: err=%v", err)
	}
}

func TestEnvName(t *testing.T) {
	if got := envName("convert.max-memory"); got != "QCONV_CONVERT_MAX_MEMORY" {
		t.Errorf("envName = %s", got)
	}
}
