// Package deptest fails a test when a package links what its layer
// forbids, the way Tailscale's tstest/deptest does: a layering rule that is
// only written down is broken by the first convenient import, and nobody
// notices until a program that wanted the small package links a database
// driver.
//
// It reads the import graph from `go list -deps -json`, which parses
// imports only, so it works on a tree that does not type-check. Test-only
// imports are not part of the graph: what a test links is not what a
// program that imports the package links.
package deptest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// Package is one package of the graph as go list describes it.
type Package struct {
	ImportPath string
	Imports    []string // direct imports, after vendoring
	Deps       []string // everything it links, transitively, sorted
}

// Graph is the import graph of some packages and all they link.
type Graph struct {
	pkgs map[string]*Package
}

// Load runs go list in dir (the empty string: the current directory) on
// patterns, with their dependencies, and fails t when go list cannot
// describe them (an import that does not resolve, a syntax error in an
// import block).
func Load(t testing.TB, dir string, patterns ...string) *Graph {
	t.Helper()
	g, err := load(dir, patterns)
	if err != nil {
		t.Fatalf("deptest: %v", err)
	}
	return g
}

func load(dir string, patterns []string) (*Graph, error) {
	args := append([]string{"list", "-deps", "-json=ImportPath,Imports,Deps"}, patterns...)
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list %s: %w: %s", strings.Join(patterns, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	g := &Graph{pkgs: map[string]*Package{}}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		p := new(Package)
		if err := dec.Decode(p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("go list %s: reading its output: %w", strings.Join(patterns, " "), err)
		}
		g.pkgs[p.ImportPath] = p
	}
	return g, nil
}

// Packages returns the import paths of the graph's packages that pattern
// matches, sorted.
func (g *Graph) Packages(pattern string) []string {
	var out []string
	for path := range g.pkgs {
		if Match(pattern, path) {
			out = append(out, path)
		}
	}
	slices.Sort(out)
	return out
}

// Rule is what the packages a pattern matches may link. Patterns are
// import paths; one ending in "/..." also matches every package below it.
type Rule struct {
	Pkg string // the packages the rule is for, e.g. "example.com/m/agent" or "example.com/m/tools/..."

	// Within, when set, is a prefix (usually the module's path) under
	// which the packages linked must match one of MayLink: for a layer
	// that may know only the layers above it.
	Within  string
	MayLink []string

	// BadDeps are packages that must not be linked at all, each with why.
	BadDeps map[string]string
}

// Violation is a package linked against a rule, and how it comes in.
type Violation struct {
	Pkg  string   // the package the rule is for
	Dep  string   // what it links that it must not
	Why  string   // the rule's reason
	Path []string // an import chain from Pkg to Dep
}

func (v Violation) String() string {
	return fmt.Sprintf("%s links %s (%s), through %s", v.Pkg, v.Dep, v.Why, strings.Join(v.Path, " → "))
}

// Check fails t with every violation of r, and when r's pattern matches
// no package (a renamed package must not turn its rule off silently).
func (g *Graph) Check(t testing.TB, r Rule) {
	t.Helper()
	if len(g.Packages(r.Pkg)) == 0 {
		t.Errorf("deptest: no package matches %s: the rule checks nothing", r.Pkg)
		return
	}
	for _, v := range g.Violations(r) {
		t.Error(v)
	}
}

// Violations returns what the packages of r link that r forbids. A
// forbidden package that comes in only through another one is left out:
// one import of gorm is one violation, not one per package of gorm.
func (g *Graph) Violations(r Rule) []Violation {
	var out []Violation
	for _, pkg := range g.Packages(r.Pkg) {
		for _, dep := range g.pkgs[pkg].Deps {
			why, bad := forbidden(r, dep)
			if !bad {
				continue
			}
			path := g.path(pkg, dep)
			if !slices.ContainsFunc(path[1:len(path)-1], func(p string) bool { _, bad := forbidden(r, p); return bad }) {
				out = append(out, Violation{Pkg: pkg, Dep: dep, Why: why, Path: path})
			}
		}
	}
	return out
}

func forbidden(r Rule, dep string) (string, bool) {
	for pattern, why := range r.BadDeps {
		if Match(pattern, dep) {
			return why, true
		}
	}
	if r.Within == "" || !Match(r.Within+"/...", dep) || Match(r.Pkg, dep) {
		return "", false
	}
	for _, may := range r.MayLink {
		if Match(may, dep) {
			return "", false
		}
	}
	return "not a layer it may link", true
}

// path returns a shortest import chain from one package to another it links.
func (g *Graph) path(from, to string) []string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p == to {
			var chain []string
			for ; p != ""; p = prev[p] {
				chain = append(chain, p)
			}
			slices.Reverse(chain)
			return chain
		}
		pkg := g.pkgs[p]
		if pkg == nil {
			continue
		}
		for _, next := range pkg.Imports {
			if _, seen := prev[next]; !seen {
				prev[next] = p
				queue = append(queue, next)
			}
		}
	}
	return []string{from, "…", to}
}

// Match reports whether the import path matches pattern: the path itself,
// or, for a pattern ending in "/...", the path before it or any below it.
func Match(pattern, path string) bool {
	if base, tree := strings.CutSuffix(pattern, "/..."); tree {
		return path == base || strings.HasPrefix(path, base+"/")
	}
	return path == pattern
}
