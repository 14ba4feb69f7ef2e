package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeNamesFilesThatExist: every file, directory and link the README
// names in the repository is there, so a reader who follows it finds what
// it says.
func TestReadmeNamesFilesThatExist(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range regexp.MustCompile(`\]\(([^)#]+)\)`).FindAllStringSubmatch(string(readme), -1) {
		if !strings.Contains(m[1], "://") {
			names = append(names, m[1])
		}
	}
	// A path in backquotes (`tools/dex`, `examples/policy.yaml`), or one
	// starting with ./ or a top directory inside a command line.
	for _, m := range regexp.MustCompile("`([A-Za-z.][\\w.-]*/[\\w./-]*)`").FindAllStringSubmatch(string(readme), -1) {
		names = append(names, m[1])
	}
	for _, m := range regexp.MustCompile(`(?:^|[\s'"])((?:\./|\.ci/|examples/|scripts/)[\w./-]+)`).FindAllStringSubmatch(string(readme), -1) {
		names = append(names, m[1])
	}
	// A file named bare is at the top of the repository, unless it is one
	// the reader's own commands make.
	made := map[string]bool{"devnet.json": true, "mandate.yaml": true, "solana.json": true, "id.json": true}
	for _, m := range regexp.MustCompile(`(?m)(?:^|[^\w/.-])([\w-][\w.-]*\.(?:md|yaml|yml|json|sh))\b`).FindAllStringSubmatch(string(readme), -1) {
		if !made[m[1]] {
			names = append(names, m[1])
		}
	}
	if len(names) < 10 {
		t.Fatalf("found only %d names in the README: %v", len(names), names)
	}
	for _, n := range names {
		n = strings.TrimSuffix(n, ".")
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(n))); err != nil {
			t.Errorf("the README names %s, which the repository does not have", n)
		}
	}
}
