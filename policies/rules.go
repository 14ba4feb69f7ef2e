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
	// kinds are the only kinds the rule can be true for: for every other
	// kind its guard makes it false (never an error), so it is not run.
	kinds kindSet
}

// appliesTo reports whether the rule can deny an intent of kind k.
func (r *rule) appliesTo(k Kind) bool { return r.kinds&kindBit(k) != 0 }

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

// ruleEnvs are built once: the environment is the same for every policy.
// Both declare the same variables and functions; the lenient one types a
// field no intent has as dyn, so the guard analysis sees the whole rule
// and can say which kinds it is guarded to when it refuses the field, and
// the strict one, which refuses such a field outright, compiles the
// program (see compile).
var ruleEnvs = sync.OnceValues(func() (envs struct{ strict, lenient *cel.Env }, err error) {
	if envs.strict, err = newRuleEnv(false); err == nil {
		envs.lenient, err = newRuleEnv(true)
	}
	return envs, err
})

func newRuleEnv(lenient bool) (*cel.Env, error) {
	dd := []*cel.Type{decimalType, decimalType}
	// The operators' implementations are the standard library's, which call
	// celDecimal's Compare, Add and Subtract; these only declare the types.
	decl := func(op, id string, result *cel.Type) cel.EnvOption {
		return cel.Function(op, cel.Overload(id, dd, result))
	}
	provide := func(env *cel.Env) (*cel.Env, error) {
		return cel.CustomTypeProvider(intentProvider{Provider: env.CELTypeProvider(), lenient: lenient})(env)
	}
	return cel.NewEnv(
		provide,
		cel.Variable("intent", cel.ObjectType(intentTypeName)),
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
				})),
			// Amounts are decimals already; decimal(intent.amount), from
			// when they were strings, still reads.
			cel.Overload("decimal_decimal", []*cel.Type{decimalType}, decimalType,
				cel.UnaryBinding(func(v ref.Val) ref.Val { return v }))),
		decl(operators.Less, "less_decimal", cel.BoolType),
		decl(operators.LessEquals, "less_equals_decimal", cel.BoolType),
		decl(operators.Greater, "greater_decimal", cel.BoolType),
		decl(operators.GreaterEquals, "greater_equals_decimal", cel.BoolType),
		decl(operators.Add, "add_decimal", decimalType),
		decl(operators.Subtract, "subtract_decimal", decimalType),
	)
}

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

// compile type-checks the rule, runs the guard analysis and builds its
// program. A mistake in the rule is a *ruleError.
func (r *rule) compile() error {
	envs, err := ruleEnvs()
	if err != nil {
		return fmt.Errorf("rule environment: %w", err)
	}
	r.id = "rules." + r.name
	// The lenient check types every node, so the guard analysis can refuse
	// a mistyped field knowing the kinds the rule is guarded to.
	ast, iss := envs.lenient.Compile(r.source)
	if iss.Err() != nil {
		return issuesError(iss)
	}
	if !ast.OutputType().IsExactType(cel.BoolType) {
		return &ruleError{msg: fmt.Sprintf("it has type %s, but deny_if must be a bool (compare it, e.g. x == true)", ast.OutputType()), hint: true}
	}
	kinds, rerr := checkGuards(ast.NativeRep())
	if rerr != nil {
		return rerr
	}
	r.kinds = kinds
	// The program comes from the strict check, which would refuse a field
	// no intent has even if the analysis missed it.
	if ast, iss = envs.strict.Compile(r.source); iss.Err() != nil {
		return issuesError(iss)
	}
	// The cost limit: a rule whose worst-case cost the checker can bound
	// within the limit (any rule without a loop over the intent's lists)
	// needs no tracking at run time, which would cost more than the rule;
	// every other rule is tracked and stopped at the limit.
	opts := []cel.ProgramOption{cel.EvalOptions(cel.OptOptimize)}
	if est, err := envs.strict.EstimateCost(ast, noSizeHints{}); err != nil || est.Max > ruleCostLimit {
		opts = append(opts, cel.CostLimit(ruleCostLimit))
	}
	if r.prg, err = envs.strict.Program(ast, opts...); err != nil {
		return &ruleError{msg: err.Error()}
	}
	return nil
}

// issuesError is the checker's first complaints as one line, with advice
// where a rule compares an amount with a number or a string.
func issuesError(iss *cel.Issues) *ruleError {
	errs := iss.Errors()
	re := &ruleError{hint: true}
	msgs := make([]string, 0, len(errs))
	for i, e := range errs {
		msg := strings.ReplaceAll(e.Message, "\n", " ")
		if i == 0 && e.Location != nil && e.Location.Line() > 0 && e.Location.Column() >= 0 {
			re.line, re.column = e.Location.Line(), e.Location.Column()+1
		} else if e.Location != nil && e.Location.Column() >= 0 {
			msg = fmt.Sprintf("column %d: %s", e.Location.Column()+1, msg)
		}
		msgs = append(msgs, msg)
	}
	re.msg = strings.Join(msgs, "; ")
	if strings.Contains(re.msg, "no matching overload") && strings.Contains(re.msg, "mandate.decimal") {
		re.msg += `; amounts are exact decimals: compare them with decimals, e.g. intent.amount > decimal("250")`
		re.hint = false
	}
	return re
}

// noSizeHints gives the cost estimator no extra knowledge: sizes of the
// intent's strings and lists are unbounded, so only rules whose cost does
// not depend on them are bounded.
type noSizeHints struct{}

func (noSizeHints) EstimateSize(checker.AstNode) *checker.SizeEstimate { return nil }

func (noSizeHints) EstimateCallCost(string, string, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
	return nil
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
	intent *celIntent
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
			vars = &ruleVars{intent: c.e.newCelIntent(in, depth), now: celTime(c.now)}
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
