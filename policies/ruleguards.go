package policies

import (
	"fmt"
	"slices"
	"strings"

	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
)

// The guard analysis: rules see one intent type whose fields are the union
// of every kind's, so the checker alone would let a rule read a swap's
// slippage_bps from a transfer, which fails at run time and denies. The
// analysis follows the rule's kind guards (intent.kind == "swap",
// intent.kind in [...], has(intent.venue), their negations, through &&, ||,
// ! and ?:) to the kinds each intent expression can have where a field is
// read, and refuses a field those kinds lack, a field no kind has, and a
// comparison of a kind with a kind that does not exist.
//
// It relies on CEL's logical operators being commutative: in a && b, b
// decides the result only when a is true (a false a makes the whole false
// even if b fails), so b is read knowing a holds, and a knowing b holds;
// likewise for || with "is false".

// guardFacts maps an intent expression, by its path ("intent",
// "intent.inner[0]", a comprehension's "x"), to the kinds it can have.
// A path not in the map can have any kind.
type guardFacts map[string]kindSet

func (f guardFacts) kinds(path string) kindSet {
	if k, ok := f[path]; ok {
		return k
	}
	return allKinds
}

// and is what holds when both f and g hold.
func (f guardFacts) and(g guardFacts) guardFacts {
	if len(g) == 0 {
		return f
	}
	if len(f) == 0 {
		return g
	}
	out := make(guardFacts, len(f)+len(g))
	for k, v := range f {
		out[k] = v
	}
	for k, v := range g {
		out[k] = out.kinds(k) & v
	}
	return out
}

// or is what holds when f or g holds: only paths both constrain.
func (f guardFacts) or(g guardFacts) guardFacts {
	var out guardFacts
	for k, v := range f {
		if w, ok := g[k]; ok {
			if out == nil {
				out = guardFacts{}
			}
			out[k] = v | w
		}
	}
	return out
}

// without drops the facts about paths rooted at names a comprehension
// rebinds.
func (f guardFacts) without(names ...string) guardFacts {
	var out guardFacts
	for k, v := range f {
		root, _, _ := strings.Cut(strings.SplitN(k, "[", 2)[0], ".")
		if slices.Contains(names, root) {
			continue
		}
		if out == nil {
			out = guardFacts{}
		}
		out[k] = v
	}
	return out
}

// ruleError is a mistake in a rule, at a place in its expression.
type ruleError struct {
	line, column int // in the expression, 1-based; 0 when unknown
	msg          string
	hint         bool // add the pointer to the rule language's documentation
}

func (e *ruleError) Error() string {
	if e.column > 0 {
		return fmt.Sprintf("column %d: %s", e.column, e.msg)
	}
	return e.msg
}

// guardChecker runs the analysis over one checked rule.
type guardChecker struct {
	ast *celast.AST
	err *ruleError
}

// checkGuards returns the first mistake in the checked rule, or nil, and
// the kinds the rule can be true for (allKinds when it may be true for
// any): for every other kind the rule is false, never an error, so the
// engine need not evaluate it.
func checkGuards(a *celast.AST) (kindSet, *ruleError) {
	g := &guardChecker{ast: a}
	g.walk(a.Expr(), nil)
	if g.err != nil {
		return 0, g.err
	}
	return g.facts(a.Expr(), true).kinds("intent"), nil
}

func (g *guardChecker) fail(e celast.Expr, format string, args ...any) {
	if g.err != nil {
		return
	}
	re := &ruleError{msg: fmt.Sprintf(format, args...)}
	if loc := g.ast.SourceInfo().GetStartLocation(e.ID()); loc.Line() > 0 {
		re.line, re.column = loc.Line(), loc.Column()+1
	}
	g.err = re
}

// isIntent reports whether the checker typed e as an intent.
func (g *guardChecker) isIntent(e celast.Expr) bool {
	t := g.ast.GetType(e.ID())
	return t != nil && t.Kind() == types.StructKind && t.TypeName() == intentTypeName
}

// path names an intent expression for the facts: an identifier, a field
// of a path, or a path indexed by a constant; "" for anything else, about
// which nothing is known.
func path(e celast.Expr) string {
	switch e.Kind() {
	case celast.IdentKind:
		return e.AsIdent()
	case celast.SelectKind:
		s := e.AsSelect()
		if p := path(s.Operand()); p != "" && !s.IsTestOnly() {
			return p + "." + s.FieldName()
		}
	case celast.CallKind:
		c := e.AsCall()
		if args := c.Args(); c.FunctionName() == operators.Index && len(args) == 2 && args[1].Kind() == celast.LiteralKind {
			if p := path(args[0]); p != "" {
				return fmt.Sprintf("%s[%v]", p, args[1].AsLiteral().Value())
			}
		}
	}
	return ""
}

// kindOf returns the intent expression whose kind e reads (e is x.kind).
func (g *guardChecker) kindOf(e celast.Expr) (celast.Expr, bool) {
	if e.Kind() != celast.SelectKind {
		return nil, false
	}
	s := e.AsSelect()
	if s.IsTestOnly() || s.FieldName() != "kind" || !g.isIntent(s.Operand()) {
		return nil, false
	}
	return s.Operand(), true
}

// kindTest reads e as a test of an intent's kind: x.kind == "k",
// "k" == x.kind, x.kind != "k", x.kind in ["k", …] (with when telling
// which outcome is assumed) or has(x.field). It returns the path and the
// kinds x can have given that outcome.
func (g *guardChecker) kindTest(e celast.Expr, when bool) (string, kindSet, bool) {
	if e.Kind() == celast.SelectKind {
		s := e.AsSelect()
		f, ok := fieldsByName[s.FieldName()]
		if !s.IsTestOnly() || !ok || !g.isIntent(s.Operand()) || !when {
			return "", 0, false
		}
		return path(s.Operand()), f.kinds, true
	}
	if e.Kind() != celast.CallKind {
		return "", 0, false
	}
	c := e.AsCall()
	args := c.Args()
	if len(args) != 2 {
		return "", 0, false
	}
	var (
		subject celast.Expr
		set     kindSet
		ok      bool
	)
	switch c.FunctionName() {
	case operators.Equals, operators.NotEquals:
		for i := range 2 {
			if x, isKind := g.kindOf(args[i]); isKind {
				if lit, isLit := stringLiteral(args[1-i]); isLit {
					subject, set, ok = x, kindBit(Kind(lit)), true
				}
			}
		}
		if c.FunctionName() == operators.NotEquals {
			when = !when
		}
	case operators.In:
		x, isKind := g.kindOf(args[0])
		if !isKind || args[1].Kind() != celast.ListKind {
			return "", 0, false
		}
		for _, el := range args[1].AsList().Elements() {
			lit, isLit := stringLiteral(el)
			if !isLit {
				return "", 0, false
			}
			set |= kindBit(Kind(lit))
		}
		subject, ok = x, true
	}
	if !ok {
		return "", 0, false
	}
	if !when {
		set = allKinds &^ set
	}
	return path(subject), set, true
}

// facts returns what holds about kinds when e evaluates to when. For every
// kind the facts exclude, e evaluates to !when without an error (a kind
// test never fails), which is what lets the engine skip a rule for the
// kinds its guard excludes.
func (g *guardChecker) facts(e celast.Expr, when bool) guardFacts {
	if p, set, ok := g.kindTest(e, when); ok {
		if p == "" {
			return nil
		}
		return guardFacts{p: set}
	}
	if e.Kind() != celast.CallKind {
		return nil
	}
	c := e.AsCall()
	args := c.Args()
	switch {
	case c.FunctionName() == operators.LogicalNot && len(args) == 1:
		return g.facts(args[0], !when)
	case c.FunctionName() == operators.LogicalAnd && len(args) == 2 && when,
		c.FunctionName() == operators.LogicalOr && len(args) == 2 && !when:
		return g.facts(args[0], when).and(g.facts(args[1], when))
	case c.FunctionName() == operators.LogicalAnd && len(args) == 2,
		c.FunctionName() == operators.LogicalOr && len(args) == 2:
		return g.facts(args[0], when).or(g.facts(args[1], when))
	}
	return nil
}

// walk checks every node of e, knowing ctx.
func (g *guardChecker) walk(e celast.Expr, ctx guardFacts) {
	if g.err != nil {
		return
	}
	switch e.Kind() {
	case celast.SelectKind:
		s := e.AsSelect()
		g.walk(s.Operand(), ctx)
		if g.isIntent(s.Operand()) {
			g.field(e, ctx)
		}
	case celast.CallKind:
		g.call(e, ctx)
	case celast.ComprehensionKind:
		c := e.AsComprehension()
		g.walk(c.IterRange(), ctx)
		g.walk(c.AccuInit(), ctx)
		in := ctx.without(c.IterVar(), c.IterVar2(), c.AccuVar())
		g.walk(c.LoopCondition(), in)
		g.walk(c.LoopStep(), in)
		g.walk(c.Result(), in)
	case celast.ListKind:
		for _, x := range e.AsList().Elements() {
			g.walk(x, ctx)
		}
	case celast.MapKind:
		for _, x := range e.AsMap().Entries() {
			en := x.AsMapEntry()
			g.walk(en.Key(), ctx)
			g.walk(en.Value(), ctx)
		}
	case celast.StructKind:
		for _, x := range e.AsStruct().Fields() {
			g.walk(x.AsStructField().Value(), ctx)
		}
	}
}

func (g *guardChecker) call(e celast.Expr, ctx guardFacts) {
	c := e.AsCall()
	args := c.Args()
	switch fn := c.FunctionName(); {
	case fn == operators.LogicalAnd && len(args) == 2:
		g.walk(args[0], ctx.and(g.facts(args[1], true)))
		g.walk(args[1], ctx.and(g.facts(args[0], true)))
		return
	case fn == operators.LogicalOr && len(args) == 2:
		g.walk(args[0], ctx.and(g.facts(args[1], false)))
		g.walk(args[1], ctx.and(g.facts(args[0], false)))
		return
	case fn == operators.Conditional && len(args) == 3:
		g.walk(args[0], ctx)
		g.walk(args[1], ctx.and(g.facts(args[0], true)))
		g.walk(args[2], ctx.and(g.facts(args[0], false)))
		return
	case (fn == operators.Equals || fn == operators.NotEquals) && len(args) == 2:
		for i := range 2 {
			if _, isKind := g.kindOf(args[i]); isKind {
				g.kindLiteral(args[1-i])
			}
		}
	case fn == operators.In && len(args) == 2:
		if _, isKind := g.kindOf(args[0]); isKind && args[1].Kind() == celast.ListKind {
			for _, el := range args[1].AsList().Elements() {
				g.kindLiteral(el)
			}
		}
	}
	if c.IsMemberFunction() {
		g.walk(c.Target(), ctx)
	}
	for _, a := range args {
		g.walk(a, ctx)
	}
}

// kindLiteral refuses a string literal compared with a kind when no kind
// has that name: the comparison could never hold (or always would).
func (g *guardChecker) kindLiteral(e celast.Expr) {
	if lit, ok := stringLiteral(e); ok && kindBit(Kind(lit)) == 0 {
		g.fail(e, "intent kind %q does not exist; use one of %s", lit, kindNames())
	}
}

// field checks a field read from an intent expression against the kinds
// it can have there.
func (g *guardChecker) field(e celast.Expr, ctx guardFacts) {
	s := e.AsSelect()
	name, p := s.FieldName(), path(s.Operand())
	can := allKinds
	if p != "" {
		can = ctx.kinds(p)
	}
	f, ok := fieldsByName[name]
	if !ok {
		on := "any intent"
		if can != allKinds && can != 0 {
			on = can.String() + " intents"
		}
		g.fail(e, "field %s does not exist on %s; %s%s", name, on, didYouMean(name, can), describeFields(orAll(can)))
		return
	}
	missing := can &^ f.kinds
	if s.IsTestOnly() || can == 0 || missing == 0 {
		// has() asks about the kind; a guard no kind passes never reads.
		return
	}
	if can == allKinds {
		g.fail(e, "field %s exists only on %s intents, so on any other kind the rule cannot be evaluated and denies it; guard it by kind: %s && …",
			name, f.kinds, guardExample(p, f.kinds))
		return
	}
	if both := can & f.kinds; both != 0 && !can.single() {
		g.fail(e, "field %s does not exist on %s intents, which the rule's guard lets through (it is a field of %s intents); narrow the guard: %s && …",
			name, missing, f.kinds, guardExample(p, both))
		return
	}
	g.fail(e, "field %s does not exist on %s intents (it is a field of %s intents); %s", name, missing, f.kinds, describeFields(can))
}

func orAll(s kindSet) kindSet {
	if s == 0 {
		return allKinds
	}
	return s
}

// guardExample writes a guard limiting p to the kinds in s.
func guardExample(p string, s kindSet) string {
	if p == "" {
		p = "intent"
	}
	ks := s.kinds()
	if len(ks) == 1 {
		return fmt.Sprintf("%s.kind == %q", p, ks[0])
	}
	q := make([]string, len(ks))
	for i, k := range ks {
		q[i] = fmt.Sprintf("%q", k)
	}
	return fmt.Sprintf("%s.kind in [%s]", p, strings.Join(q, ", "))
}

// didYouMean suggests the field closest to name (preferring those the
// kinds in can have), or nothing when none is close.
func didYouMean(name string, can kindSet) string {
	best, bestD := "", 3
	for _, pass := range []kindSet{orAll(can), allKinds} {
		for _, f := range fieldsOf(0) { // every field
			if fieldsByName[f].kinds&pass == 0 {
				continue
			}
			if d := editDistance(name, f); d < bestD {
				best, bestD = f, d
			}
		}
		if best != "" {
			return "did you mean " + best + "? "
		}
	}
	return ""
}

// editDistance is the Levenshtein distance of two short names.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
