// Package sharedfiles locates the project's shared test material: the
// ../shared folder beside the repository (fixtures, golden vectors, perf
// figures). Tests call Path; when the folder is absent they skip with a
// message, except under CI (CI=true), where its absence fails the test.
package sharedfiles

import (
	"os"
	"path/filepath"
	"testing"
)

// Root returns the path of the shared folder and whether it exists. It is
// found beside the module root (the first parent directory holding go.mod),
// or at $QCONV_SHARED when that is set.
func Root() (string, bool) {
	if p := os.Getenv("QCONV_SHARED"); p != "" {
		st, err := os.Stat(p)
		return p, err == nil && st.IsDir()
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(filepath.Dir(dir), "shared")
			st, err := os.Stat(p)
			return p, err == nil && st.IsDir()
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// Path returns the path of elem inside the shared folder. When the folder
// or the element is missing the test is skipped, or fails when the
// environment variable CI is set.
func Path(tb testing.TB, elem ...string) string {
	tb.Helper()
	root, ok := Root()
	p := filepath.Join(append([]string{root}, elem...)...)
	if ok {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	msg := "../shared/" + filepath.ToSlash(filepath.Join(elem...)) + " is not present beside the repository"
	if os.Getenv("CI") != "" {
		tb.Fatal(msg + " (CI must run with ../shared)")
	}
	tb.Skip(msg + "; skipping")
	return ""
}
