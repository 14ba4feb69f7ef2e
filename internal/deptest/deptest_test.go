package deptest_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mandatehq/mandate/internal/deptest"
)

// writeModule writes a module example.com/m whose packages import as
// imports says, and returns its directory.
func writeModule(t *testing.T, imports map[string][]string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/m\n\ngo 1.22\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for pkg, imps := range imports {
		src := "package " + pkg + "\n\nimport (\n"
		for _, imp := range imps {
			src += "\t_ \"" + imp + "\"\n"
		}
		src += ")\n"
		if err := os.MkdirAll(filepath.Join(dir, pkg), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, pkg, pkg+".go"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// A package that links a forbidden one through another is caught, with
// the chain that brings it in; one that does not is not.
func TestViolations(t *testing.T) {
	dir := writeModule(t, map[string][]string{
		"top":    {"example.com/m/middle", "strings"},
		"middle": {"example.com/m/store"},
		"store":  {"database/sql"},
		"clean":  {"strings"},
	})
	g := deptest.Load(t, dir, "./...")
	if got := g.Packages("example.com/m/..."); len(got) != 4 {
		t.Fatalf("Packages(example.com/m/...) = %v, want the 4 packages of the module", got)
	}
	cases := []struct {
		name string
		rule deptest.Rule
		want []deptest.Violation
	}{
		{
			name: "bad third-party dep",
			rule: deptest.Rule{Pkg: "example.com/m/top", BadDeps: map[string]string{"database/...": "no SQL here"}},
			want: []deptest.Violation{{Pkg: "example.com/m/top", Dep: "database/sql", Why: "no SQL here",
				Path: []string{"example.com/m/top", "example.com/m/middle", "example.com/m/store", "database/sql"}}},
		},
		{
			name: "own package outside the layers it may link",
			rule: deptest.Rule{Pkg: "example.com/m/top", Within: "example.com/m", MayLink: []string{"example.com/m/middle"}},
			want: []deptest.Violation{{Pkg: "example.com/m/top", Dep: "example.com/m/store", Why: "not a layer it may link",
				Path: []string{"example.com/m/top", "example.com/m/middle", "example.com/m/store"}}},
		},
		{
			name: "allowed tree",
			rule: deptest.Rule{Pkg: "example.com/m/top", Within: "example.com/m", MayLink: []string{"example.com/m/..."}},
		},
		{
			name: "clean package",
			rule: deptest.Rule{Pkg: "example.com/m/clean", Within: "example.com/m", BadDeps: map[string]string{"database/...": "no SQL here"}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := g.Violations(tc.rule)
			if !slices.EqualFunc(got, tc.want, func(a, b deptest.Violation) bool {
				return a.Pkg == b.Pkg && a.Dep == b.Dep && a.Why == b.Why && slices.Equal(a.Path, b.Path)
			}) {
				t.Errorf("Violations = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, path string
		want          bool
	}{
		{"a/b", "a/b", true},
		{"a/b", "a/bc", false},
		{"a/b", "a/b/c", false},
		{"a/b/...", "a/b", true},
		{"a/b/...", "a/b/c/d", true},
		{"a/b/...", "a/bc", false},
	} {
		if got := deptest.Match(tc.pattern, tc.path); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.pattern, tc.path, got, tc.want)
		}
	}
}
