package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestEncodings checks the encoders against llvm-mc's encodings
// (llvm-mc -triple=aarch64 -mattr=+dotprod -show-encoding).
func TestEncodings(t *testing.T) {
	for _, c := range []struct {
		got  ins
		want uint32
		text string
	}{
		{sdot(0, 1, 2), 0x4e829420, "sdot v0.4s, v1.16b, v2.16b"},
		{sdot(31, 17, 9), 0x4e89963f, "sdot v31.4s, v17.16b, v9.16b"},
		{smull8(3, 4, 5), 0x0e25c083, "smull v3.8h, v4.8b, v5.8b"},
		{smlal28(3, 4, 5), 0x4e258083, "smlal2 v3.8h, v4.16b, v5.16b"},
		{smull16(8, 19, 4), 0x0e64c268, "smull v8.4s, v19.4h, v4.4h"},
		{smlal216(8, 19, 4), 0x4e648268, "smlal2 v8.4s, v19.8h, v4.8h"},
		{saddlp(6, 3), 0x4e602866, "saddlp v6.4s, v3.8h"},
		{sadalp(6, 3), 0x4e606866, "sadalp v6.4s, v3.8h"},
		{scvtf(7, 6), 0x4e21d8c7, "scvtf v7.4s, v6.4s"},
		{fadd(20, 20, 24), 0x4e38d694, "fadd v20.4s, v20.4s, v24.4s"},
		{faddp(20, 20, 20), 0x6e34d694, "faddp v20.4s, v20.4s, v20.4s"},
		{faddps(20, 20), 0x7e30da94, "faddp s20, v20.2s"},
		{fmlae(8, 7, 9, 1), 0x4fa910e8, "fmla v8.4s, v7.4s, v9.s[1]"},
		{fmlae(28, 24, 15, 3), 0x4faf1b1c, "fmla v28.4s, v24.4s, v15.s[3]"},
		{fmlse(31, 8, 16, 2), 0x4f90591f, "fmls v31.4s, v8.4s, v16.s[2]"},
		{fmule(8, 7, 6, 0), 0x4f8690e8, "fmul v8.4s, v7.4s, v6.s[0]"},
		{mule(24, 8, 17, 0), 0x4f918118, "mul v24.4s, v8.4s, v17.s[0]"},
		{mlae(27, 10, 18, 3), 0x6fb2095b, "mla v27.4s, v10.4s, v18.s[3]"},
		{mlae(25, 11, 21, 2), 0x6f950979, "mla v25.4s, v11.4s, v21.s[2]"},
		{sxtl8(23, 22), 0x0f08a6d7, "sshll v23.8h, v22.8b, #0"},
		{sxtl28(22, 22), 0x4f08a6d6, "sshll2 v22.8h, v22.16b, #0"},
		{sxtl16(18, 23), 0x0f10a6f2, "sshll v18.4s, v23.4h, #0"},
		{sxtl216(19, 23), 0x4f10a6f3, "sshll2 v19.4s, v23.8h, #0"},
		{fcvtl(6, 6), 0x0e2178c6, "fcvtl v6.4s, v6.4h"},
		{fcvtl2(6, 6), 0x4e2178c6, "fcvtl2 v6.4s, v6.8h"},
		{smlal16(10, 23, 9), 0x0e6982ea, "smlal v10.4s, v23.4h, v9.4h"},
		{ushl(4, 4, 22), 0x6e364484, "ushl v4.16b, v4.16b, v22.16b"},
	} {
		if c.got.word != c.want || c.got.text != c.text {
			t.Errorf("got %#08x %q, want %#08x %q", c.got.word, c.got.text, c.want, c.text)
		}
	}
}

// TestGeneratedUpToDate checks that generation is deterministic and that
// the committed files are its output.
func TestGeneratedUpToDate(t *testing.T) {
	asm, decls, err := generate("kernels")
	if err != nil {
		t.Fatal(err)
	}
	asm2, decls2, _ := generate("kernels")
	if !bytes.Equal(asm, asm2) || !bytes.Equal(decls, decls2) {
		t.Fatal("generation is not deterministic")
	}
	for file, want := range map[string][]byte{"../zneon_arm64.s": asm, "../zneon_arm64.go": decls} {
		got, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run scripts/gen-asm.sh", file)
		}
	}
}

// TestWordsDisassemble disassembles every WORD of the generated assembly
// with llvm-mc and compares it with the mnemonic in its comment.
func TestWordsDisassemble(t *testing.T) {
	mc, err := exec.LookPath("llvm-mc")
	if err != nil {
		t.Skip("llvm-mc not installed")
	}
	asm, _, err := generate("kernels")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`WORD \$0x([0-9a-f]{8}) // (.*)`)
	seen := map[string]string{}
	var words []string
	for _, m := range re.FindAllStringSubmatch(string(asm), -1) {
		if _, ok := seen[m[1]]; !ok {
			seen[m[1]] = m[2]
			words = append(words, m[1])
		}
	}
	var in strings.Builder
	for _, w := range words {
		fmt.Fprintf(&in, "0x%s,0x%s,0x%s,0x%s\n", w[6:8], w[4:6], w[2:4], w[0:2])
	}
	cmd := exec.Command(mc, "--disassemble", "-triple=aarch64", "-mattr=+dotprod")
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("llvm-mc: %v\n%s", err, out)
	}
	var dis []string
	for _, l := range strings.Split(string(out), "\n") {
		l = strings.Join(strings.Fields(l), " ")
		if l != "" && !strings.HasPrefix(l, ".") {
			dis = append(dis, l)
		}
	}
	if len(dis) != len(words) {
		t.Fatalf("llvm-mc gave %d instructions for %d words:\n%s", len(dis), len(words), out)
	}
	for i, w := range words {
		if want := strings.Join(strings.Fields(seen[w]), " "); dis[i] != want {
			t.Errorf("WORD $0x%s: llvm-mc reads %q, comment says %q", w, dis[i], want)
		}
	}
	t.Logf("%d distinct words checked", len(words))
}
