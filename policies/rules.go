package policies

import (
	"fmt"
	"math/big"
	"reflect"
	"strings"
	"sync"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/checker"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/interpreter"
)

// rule is one owner's CEL rule, compiled at Parse (see Parse for the
// language rules are written in).
type rule struct {
	name, source, reason string
	line                 int
	id                   string // "rules.<name>", the Reason.Rule
	prg                  cel.Program
	keys                 map[string]bool // the intent keys it reads; nil: any
	kinds                map[Kind]bool   // the only kinds it can deny; nil: any
}

// appliesTo reports whether the rule can deny an intent of kind k.
func (r *rule) appliesTo(k Kind) bool { return r.kinds == nil || r.kinds[k] }

// ruleCostLimit bounds one rule's evaluation. Ordinary rules cost tens;
// the bound stops a rule that walks a huge inner list quadratically.
const ruleCostLimit = 100_000

// decimalType declares decimal values to the type checker; at run time
// they carry decimalRuntime, which has the traits CEL's standard <, +, - and
// friends dispatch on.
var decimalType = cel.OpaqueType("mandate.decimal")

type decimalRuntimeType struct{}

const decimalTraits = traits.ComparerType | traits.AdderType | traits.SubtractorType

func (decimalRuntimeType) HasTrait(t int) bool { return t&decimalTraits == t }
func (decimalRuntimeType) TypeName() string    { return "mandate.decimal" }

var decimalRuntime ref.Type = decimalRuntimeType{}

// ruleEnv is built once: the environment is the same for every policy.
var ruleEnv = sync.OnceValues(func() (*cel.Env, error) {
	dd := []*cel.Type{decimalType, decimalType}
	// The operators' implementations are the standard library's, which call
	// celDecimal's Compare, Add and Subtract; these only declare the types.
	decl := func(op, id string, result *cel.Type) cel.EnvOption {
		return cel.Function(op, cel.Overload(id, dd, result))
	}
	return cel.NewEnv(
		cel.Variable("intent", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("now", cel.TimestampType),
		cel.Function("decimal",
			cel.Overload("decimal_string", []*cel.Type{cel.StringType}, decimalType,
				cel.UnaryBinding(func(v ref.Val) ref.Val {
					s, ok := v.(types.String)
					if !ok {
						return types.MaybeNoSuchOverloadErr(v)
					}
					r, err := parseRat(string(s))
					if err != nil {
						return types.NewErr("decimal(%q): %v", string(s), err)
					}
					return celDecimal{r}
				})),
			cel.Overload("decimal_int", []*cel.Type{cel.IntType}, decimalType,
				cel.UnaryBinding(func(v ref.Val) ref.Val {
					i, ok := v.(types.Int)
					if !ok {
						return types.MaybeNoSuchOverloadErr(v)
					}
					return celDecimal{new(big.Rat).SetInt64(int64(i))}
				}))),
		decl(operators.Less, "less_decimal", cel.BoolType),
		decl(operators.LessEquals, "less_equals_decimal", cel.BoolType),
		decl(operators.Greater, "greater_decimal", cel.BoolType),
		decl(operators.GreaterEquals, "greater_equals_decimal", cel.BoolType),
		decl(operators.Add, "add_decimal", decimalType),
		decl(operators.Subtract, "subtract_decimal", decimalType),
	)
})

// parseRat reads a decimal for decimal(): ParseUnits' grammar, any number of
// fractional digits, and an optional leading minus.
func parseRat(s string) (*big.Rat, error) {
	neg := strings.HasPrefix(s, "-")
	whole, frac, err := splitDecimal(strings.TrimPrefix(s, "-"))
	if err != nil {
		return nil, err
	}
	num, _ := new(big.Int).SetString(whole+frac, 10)
	if neg {
		num.Neg(num)
	}
	return new(big.Rat).SetFrac(num, pow10(len(frac))), nil
}

func pow10(n int) *big.Int {
	if n < len(pow10s) {
		return pow10s[n]
	}
	return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
}

// celDecimal is the CEL value decimal() returns: an exact rational.
type celDecimal struct{ r *big.Rat }

func (d celDecimal) Compare(other ref.Val) ref.Val {
	o, ok := other.(celDecimal)
	if !ok {
		return types.MaybeNoSuchOverloadErr(other)
	}
	return types.Int(d.r.Cmp(o.r))
}

func (d celDecimal) Add(other ref.Val) ref.Val {
	o, ok := other.(celDecimal)
	if !ok {
		return types.MaybeNoSuchOverloadErr(other)
	}
	return celDecimal{new(big.Rat).Add(d.r, o.r)}
}

func (d celDecimal) Subtract(other ref.Val) ref.Val {
	o, ok := other.(celDecimal)
	if !ok {
		return types.MaybeNoSuchOverloadErr(other)
	}
	return celDecimal{new(big.Rat).Sub(d.r, o.r)}
}

func (d celDecimal) ConvertToNative(t reflect.Type) (any, error) {
	switch t {
	case reflect.TypeFor[*big.Rat]():
		return new(big.Rat).Set(d.r), nil
	case reflect.TypeFor[string]():
		return d.r.RatString(), nil
	}
	return nil, fmt.Errorf("decimal cannot be converted to %v", t)
}

func (d celDecimal) ConvertToType(t ref.Type) ref.Val {
	switch t.TypeName() {
	case decimalRuntime.TypeName():
		return d
	case types.StringType.TypeName():
		return types.String(d.r.RatString())
	case types.TypeType.TypeName():
		return decimalType
	}
	return types.NewErr("decimal cannot be converted to %s", t.TypeName())
}

func (d celDecimal) Equal(other ref.Val) ref.Val {
	o, ok := other.(celDecimal)
	return types.Bool(ok && d.r.Cmp(o.r) == 0)
}

func (d celDecimal) Type() ref.Type { return decimalRuntime }
func (d celDecimal) Value() any     { return d.r }

// compile type-checks the rule and builds its program.
func (r *rule) compile() error {
	env, err := ruleEnv()
	if err != nil {
		return fmt.Errorf("rule environment: %w", err)
	}
	r.id = "rules." + r.name
	ast, iss := env.Compile(r.source)
	if iss.Err() != nil {
		msgs := make([]string, 0, len(iss.Errors()))
		for _, e := range iss.Errors() {
			loc := ""
			if e.Location != nil && e.Location.Column() >= 0 {
				loc = fmt.Sprintf("column %d: ", e.Location.Column()+1)
			}
			msgs = append(msgs, loc+strings.ReplaceAll(e.Message, "\n", " "))
		}
		return fmt.Errorf("%s", strings.Join(msgs, "; "))
	}
	if !ast.OutputType().IsExactType(cel.BoolType) {
		return fmt.Errorf("it has type %s, but deny_if must be a bool (compare it, e.g. x == true)", ast.OutputType())
	}
	r.keys = intentKeys(ast.NativeRep().Expr())
	r.kinds = guardKinds(ast.NativeRep().Expr())
	// The cost limit: a rule whose worst-case cost the checker can bound
	// within the limit (any rule without a loop over the intent's lists)
	// needs no tracking at run time, which would cost more than the rule;
	// every other rule is tracked and stopped at the limit.
	opts := []cel.ProgramOption{cel.EvalOptions(cel.OptOptimize)}
	if est, err := env.EstimateCost(ast, noSizeHints{}); err != nil || est.Max > ruleCostLimit {
		opts = append(opts, cel.CostLimit(ruleCostLimit))
	}
	r.prg, err = env.Program(ast, opts...)
	return err
}

// noSizeHints gives the cost estimator no extra knowledge: sizes of the
// intent's strings and lists are unbounded, so only rules whose cost does
// not depend on them are bounded.
type noSizeHints struct{}

func (noSizeHints) EstimateSize(checker.AstNode) *checker.SizeEstimate { return nil }

func (noSizeHints) EstimateCallCost(string, string, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
	return nil
}

// intentKeys returns the keys of intent a rule reads, or nil when it may
// read any (it indexes intent, passes it whole, reads inner calls, or
// shadows the name). Knowing the keys lets a decision build only those
// entries of the map rules see, which is most of a rule's cost.
func intentKeys(e celast.Expr) map[string]bool {
	keys := map[string]bool{}
	selected, idents := 0, 0
	all := false
	celast.PostOrderVisit(e, celast.NewExprVisitor(func(x celast.Expr) {
		switch x.Kind() {
		case celast.IdentKind:
			if x.AsIdent() == "intent" {
				idents++
			}
		case celast.SelectKind:
			sel := x.AsSelect()
			if op := sel.Operand(); op.Kind() == celast.IdentKind && op.AsIdent() == "intent" {
				selected++
				keys[sel.FieldName()] = true
			}
		case celast.ComprehensionKind:
			c := x.AsComprehension()
			if c.IterVar() == "intent" || c.IterVar2() == "intent" || c.AccuVar() == "intent" {
				all = true
			}
		}
	}))
	if all || selected != idents || keys["inner"] {
		return nil
	}
	return keys
}

// guardKinds finds the kind guard the documentation recommends: when the
// rule is a conjunction one of whose terms is intent.kind == "swap" (or
// intent.kind in ["swap", "approve"]), the rule is false for every other
// kind whatever the other terms are (CEL's && is false when any term is
// false, even if another term errs), so the engine need not evaluate it for
// them. nil means the rule may deny any kind.
func guardKinds(e celast.Expr) map[Kind]bool {
	var kinds map[Kind]bool
	var visit func(celast.Expr)
	visit = func(x celast.Expr) {
		if x.Kind() != celast.CallKind {
			return
		}
		call := x.AsCall()
		args := call.Args()
		var found map[Kind]bool
		switch {
		case call.FunctionName() == operators.LogicalAnd && len(args) == 2:
			visit(args[0])
			visit(args[1])
			return
		case call.FunctionName() == operators.Equals && len(args) == 2:
			for i := range 2 {
				if isIntentKind(args[i]) {
					if lit, ok := stringLiteral(args[1-i]); ok {
						found = map[Kind]bool{Kind(lit): true}
					}
				}
			}
		case call.FunctionName() == operators.In && len(args) == 2 && isIntentKind(args[0]) && args[1].Kind() == celast.ListKind:
			found = map[Kind]bool{}
			for _, el := range args[1].AsList().Elements() {
				lit, ok := stringLiteral(el)
				if !ok {
					return
				}
				found[Kind(lit)] = true
			}
		}
		if found == nil {
			return
		}
		if kinds == nil {
			kinds = found
			return
		}
		for k := range kinds { // both guards must hold
			if !found[k] {
				delete(kinds, k)
			}
		}
	}
	visit(e)
	return kinds
}

func isIntentKind(x celast.Expr) bool {
	if x.Kind() != celast.SelectKind {
		return false
	}
	sel := x.AsSelect()
	op := sel.Operand()
	return !sel.IsTestOnly() && sel.FieldName() == "kind" && op.Kind() == celast.IdentKind && op.AsIdent() == "intent"
}

func stringLiteral(x celast.Expr) (string, bool) {
	if x.Kind() != celast.LiteralKind {
		return "", false
	}
	s, ok := x.AsLiteral().(types.String)
	return string(s), ok
}

// ruleVars is the activation rules run against; it avoids building a map of
// variables for every decision.
type ruleVars struct {
	intent map[string]any
	now    types.Timestamp
}

func (v *ruleVars) ResolveName(name string) (any, bool) {
	switch name {
	case "intent":
		return v.intent, true
	case "now":
		return v.now, true
	}
	return nil, false
}

func (v *ruleVars) Parent() interpreter.Activation { return nil }

// eval reports whether the rule denies. An error is a denial too (the caller
// turns it into a reason).
func (r *rule) eval(vars *ruleVars) (bool, error) {
	out, _, err := r.prg.Eval(vars)
	if err != nil {
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("the result is %v, not a bool", out.Type())
	}
	return bool(b), nil
}

// celTime converts the decision time for CEL.
func celTime(t time.Time) types.Timestamp { return types.Timestamp{Time: t.UTC()} }

// rules evaluates the policy's rules over the intent and, for a Safe
// transaction, over each of its inner calls, so a rule about swaps also
// catches a swap batched into a Safe transaction.
func (c *check) rules(in Intent) { c.applyRules(in, "", 0) }

func (c *check) applyRules(in Intent, pre string, depth int) {
	in, ok := deref(in)
	if !ok {
		return
	}
	var vars *ruleVars
	for _, r := range c.e.p.rules {
		if !r.appliesTo(in.Kind()) {
			continue
		}
		if vars == nil { // built only when some rule looks at this kind
			vars = &ruleVars{intent: c.e.celIntent(in, depth), now: celTime(c.now)}
		}
		deny, err := r.eval(vars)
		switch {
		case err != nil:
			c.deny(r.id, pre, "rule %s could not be evaluated (%s), so it denies", r.name, strings.ReplaceAll(err.Error(), "\n", " "))
		case deny:
			c.deny(r.id, pre, "%s", r.reason)
		}
	}
	if s, ok := in.(SafeTx); ok && depth < maxDepth {
		for i, x := range s.Inner {
			c.applyRules(x, fmt.Sprintf("%sinner call %d: ", pre, i), depth+1)
		}
	}
}

// celIntent is the intent as rules see it (see "Rules" above). Amounts are
// exact decimal strings without separators, which decimal() reads. Only the
// keys some rule reads are filled in (all of them when a rule may read any),
// so a decision pays for what its rules look at.
func (e *Engine) celIntent(in Intent, depth int) map[string]any {
	in, ok := deref(in)
	if !ok {
		return map[string]any{"kind": ""}
	}
	keys := e.p.ruleKeys
	need := func(k string) bool { return keys == nil || keys[k] }
	h := in.Head()
	m := make(map[string]any, 4)
	// The values are boxed only when needed: boxing a string allocates.
	put := func(k string, v string) {
		if need(k) {
			m[k] = v
		}
	}
	putInt := func(k string, v int64) {
		if need(k) {
			m[k] = v
		}
	}
	if need("kind") {
		m["kind"] = kindValues[in.Kind()]
	}
	put("chain", h.Chain)
	put("from", h.From)
	native := Token{Decimals: 18}
	if fam, ok := e.p.families[h.Chain]; ok {
		native = Token{Symbol: fam.nativeSymbol(), Decimals: fam.nativeDecimals()}
	}
	amount := func(k string, v *big.Int, decimals uint8) {
		if need(k) {
			m[k] = formatUnits(v, decimals, false)
		}
	}
	token := func(k, kaddr, chain string, t Token) {
		if need(k) || need(kaddr) {
			m[k], m[kaddr] = e.tokenName(chain, t), t.Address
		}
	}
	switch v := in.(type) {
	case Transfer:
		put("to", v.To)
		token("token", "token_address", h.Chain, v.Token)
		amount("amount", v.Amount, v.Token.Decimals)
	case Approve:
		put("to", v.Spender)
		put("spender", v.Spender)
		put("method", string(v.Method))
		if need("unlimited") {
			m["unlimited"] = v.Unlimited
		}
		token("token", "token_address", h.Chain, v.Token)
		amount("amount", v.Amount, v.Token.Decimals)
	case Swap:
		put("to", v.Recipient)
		put("recipient", v.Recipient)
		put("venue", v.Venue)
		token("token", "token_address", h.Chain, v.TokenIn)
		token("token_in", "token_in_address", h.Chain, v.TokenIn)
		token("token_out", "token_out_address", h.Chain, v.TokenOut)
		amount("amount", v.AmountIn, v.TokenIn.Decimals)
		amount("amount_in", v.AmountIn, v.TokenIn.Decimals)
		amount("min_out", v.MinOut, v.TokenOut.Decimals)
		amount("quoted", v.Quoted, v.TokenOut.Decimals)
		putInt("slippage_bps", int64(v.SlippageBps))
		putInt("deadline", v.Deadline)
	case ContractCall:
		put("to", v.To)
		token("token", "token_address", h.Chain, native)
		amount("amount", v.Value, native.Decimals)
		amount("value", v.Value, native.Decimals)
		put("selector", v.Selector)
	case SafeTx:
		put("to", v.To)
		token("token", "token_address", h.Chain, native)
		amount("amount", v.Value, native.Decimals)
		amount("value", v.Value, native.Decimals)
		putInt("operation", int64(v.Operation))
		put("self_call", v.SelfCall)
		// Inner calls are always listed: rules are applied to each of them.
		inner := make([]any, 0, len(v.Inner))
		if depth < maxDepth {
			for _, x := range v.Inner {
				inner = append(inner, e.celIntent(x, depth+1))
			}
		}
		m["inner"] = inner
	}
	return m
}

// kindValues are the kinds boxed once, so building a rule's input does not
// allocate for them.
var kindValues = map[Kind]any{
	KindTransfer: string(KindTransfer), KindApprove: string(KindApprove), KindSwap: string(KindSwap),
	KindCall: string(KindCall), KindSafeTx: string(KindSafeTx),
}

// tokenName is the policy's symbol for t, or its address when the policy
// does not know it (the native coin's own symbol for an unknown chain).
func (e *Engine) tokenName(chain string, t Token) string {
	if et := e.tokens[tokenKey{chain, addrKey(t.Address)}]; et != nil {
		return et.symbol
	}
	if t.Native() {
		return t.Symbol
	}
	return t.Address
}
