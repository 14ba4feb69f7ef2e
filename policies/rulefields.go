package policies

import (
	"fmt"
	"math/big"
	"reflect"
	"strings"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// This file is the typed intent rules see: one CEL object type,
// mandate.Intent, whose fields are the union of every kind's, with a table
// saying which kinds have each field. The type checker refuses a field no
// kind has; the guard analysis (ruleguards.go) refuses a field the kinds a
// rule lets through lack. At run time a field is read from the Go intent
// when the rule reads it, so a decision pays only for what its rules use.

// kindSet is a set of intent kinds, one bit per kind in kindOrder.
type kindSet uint8

// kindOrder is the order kinds are listed in messages and documentation.
var kindOrder = [...]Kind{KindTransfer, KindApprove, KindSwap, KindCall, KindSafeTx}

const allKinds kindSet = 1<<len(kindOrder) - 1

// kindBit is k's bit; 0 for a kind that does not exist.
func kindBit(k Kind) kindSet {
	for i, x := range kindOrder {
		if x == k {
			return 1 << i
		}
	}
	return 0
}

func (s kindSet) kinds() []Kind {
	var out []Kind
	for i, k := range kindOrder {
		if s&(1<<i) != 0 {
			out = append(out, k)
		}
	}
	return out
}

// String lists the kinds for a person: "transfer", "transfer and swap",
// "transfer, approve and swap".
func (s kindSet) String() string {
	ks := s.kinds()
	names := make([]string, len(ks))
	for i, k := range ks {
		names[i] = string(k)
	}
	switch len(names) {
	case 0:
		return "no"
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

func (s kindSet) single() bool { return s != 0 && s&(s-1) == 0 }

// kindNames is every kind, for "use one of …".
func kindNames() string {
	names := make([]string, len(kindOrder))
	for i, k := range kindOrder {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

// intentTypeName is the CEL type of intent and of a Safe transaction's
// inner calls.
const intentTypeName = "mandate.Intent"

var celIntentType = types.NewObjectType(intentTypeName)

// intentField is one field rules may read.
type intentField struct {
	name  string
	typ   *types.Type
	kinds kindSet
	get   func(*celIntent) ref.Val
	ft    *types.FieldType // for the type provider, built from the above
}

const (
	kTransfer = 1 << iota
	kApprove
	kSwap
	kCall
	kSafeTx
)

// intentFields are the fields, in the order the documentation lists them
// (see "Rules" in Parse's documentation, which must match).
var intentFields = []*intentField{
	{name: "kind", typ: types.StringType, kinds: allKinds, get: func(c *celIntent) ref.Val { return kindVals[c.kind] }},
	{name: "chain", typ: types.StringType, kinds: allKinds, get: func(c *celIntent) ref.Val { return types.String(c.in.Head().Chain) }},
	{name: "from", typ: types.StringType, kinds: allKinds, get: func(c *celIntent) ref.Val { return types.String(c.in.Head().From) }},
	{name: "to", typ: types.StringType, kinds: allKinds, get: (*celIntent).to},
	{name: "token", typ: types.StringType, kinds: allKinds, get: func(c *celIntent) ref.Val { return c.tokenName(c.token()) }},
	{name: "token_address", typ: types.StringType, kinds: allKinds, get: func(c *celIntent) ref.Val { return types.String(c.token().Address) }},
	{name: "amount", typ: decimalType, kinds: allKinds, get: (*celIntent).amount},

	{name: "spender", typ: types.StringType, kinds: kApprove, get: func(c *celIntent) ref.Val { return types.String(c.in.(Approve).Spender) }},
	{name: "method", typ: types.StringType, kinds: kApprove, get: func(c *celIntent) ref.Val { return types.String(c.in.(Approve).Method) }},
	{name: "unlimited", typ: types.BoolType, kinds: kApprove, get: func(c *celIntent) ref.Val { return types.Bool(c.in.(Approve).Unlimited) }},

	{name: "venue", typ: types.StringType, kinds: kSwap, get: func(c *celIntent) ref.Val { return types.String(c.in.(Swap).Venue) }},
	{name: "token_in", typ: types.StringType, kinds: kSwap, get: func(c *celIntent) ref.Val { return c.tokenName(c.in.(Swap).TokenIn) }},
	{name: "token_in_address", typ: types.StringType, kinds: kSwap, get: func(c *celIntent) ref.Val { return types.String(c.in.(Swap).TokenIn.Address) }},
	{name: "token_out", typ: types.StringType, kinds: kSwap, get: func(c *celIntent) ref.Val { return c.tokenName(c.in.(Swap).TokenOut) }},
	{name: "token_out_address", typ: types.StringType, kinds: kSwap, get: func(c *celIntent) ref.Val { return types.String(c.in.(Swap).TokenOut.Address) }},
	{name: "amount_in", typ: decimalType, kinds: kSwap, get: (*celIntent).amount},
	{name: "min_out", typ: decimalType, kinds: kSwap, get: func(c *celIntent) ref.Val { s := c.in.(Swap); return newDecimal(s.MinOut, s.TokenOut.Decimals) }},
	{name: "quoted", typ: decimalType, kinds: kSwap, get: func(c *celIntent) ref.Val { s := c.in.(Swap); return newDecimal(s.Quoted, s.TokenOut.Decimals) }},
	{name: "recipient", typ: types.StringType, kinds: kSwap, get: func(c *celIntent) ref.Val { return types.String(c.in.(Swap).Recipient) }},
	{name: "slippage_bps", typ: types.IntType, kinds: kSwap, get: func(c *celIntent) ref.Val { return types.Int(c.in.(Swap).SlippageBps) }},
	{name: "deadline", typ: types.IntType, kinds: kSwap, get: func(c *celIntent) ref.Val { return types.Int(c.in.(Swap).Deadline) }},

	{name: "value", typ: decimalType, kinds: kCall | kSafeTx, get: (*celIntent).amount},
	{name: "selector", typ: types.StringType, kinds: kCall, get: func(c *celIntent) ref.Val { return types.String(c.in.(ContractCall).Selector) }},

	{name: "operation", typ: types.IntType, kinds: kSafeTx, get: func(c *celIntent) ref.Val { return types.Int(c.in.(SafeTx).Operation) }},
	{name: "self_call", typ: types.StringType, kinds: kSafeTx, get: func(c *celIntent) ref.Val { return types.String(c.in.(SafeTx).SelfCall) }},
	{name: "inner", typ: types.NewListType(celIntentType), kinds: kSafeTx, get: (*celIntent).inner},
}

var fieldsByName = func() map[string]*intentField {
	m := make(map[string]*intentField, len(intentFields))
	for _, f := range intentFields {
		f.ft = &types.FieldType{
			Type: f.typ,
			IsSet: func(target any) bool {
				c, ok := target.(*celIntent)
				return ok && f.kinds&kindBit(c.kind) != 0
			},
			GetFrom: func(target any) (any, error) {
				c, ok := target.(*celIntent)
				if !ok {
					return nil, fmt.Errorf("field %s read from %T, not an intent", f.name, target)
				}
				if f.kinds&kindBit(c.kind) == 0 {
					return nil, fmt.Errorf("a %s intent has no field %s", c.kind, f.name)
				}
				return f.get(c), nil
			},
		}
		m[f.name] = f
	}
	return m
}()

// fieldsOf lists the fields every kind in s has, in documentation order
// (all of them for 0).
func fieldsOf(s kindSet) []string {
	var out []string
	for _, f := range intentFields {
		if s&^f.kinds == 0 {
			out = append(out, f.name)
		}
	}
	return out
}

// describeFields says which fields the kinds in s have, for an error:
// "fields are: kind, chain, …" for one kind; for several, the fields they
// share and what each kind adds.
func describeFields(s kindSet) string {
	shared := fieldsOf(s)
	if s.single() {
		return "fields are: " + strings.Join(shared, ", ")
	}
	var b strings.Builder
	b.WriteString("fields of every ")
	if s != allKinds {
		b.WriteString(s.String() + " ")
	}
	b.WriteString("intent: " + strings.Join(shared, ", "))
	for _, k := range s.kinds() {
		var extra []string
		for _, f := range intentFields {
			if f.kinds&kindBit(k) != 0 && s&^f.kinds != 0 {
				extra = append(extra, f.name)
			}
		}
		if len(extra) > 0 {
			fmt.Fprintf(&b, "; %s intents add %s", k, strings.Join(extra, ", "))
		}
	}
	return b.String()
}

// intentProvider declares mandate.Intent to the type checker and the
// interpreter, and defers every other type to the environment's provider.
// A lenient provider gives a field no kind has the type dyn instead of
// refusing it, so the guard analysis can name the kinds the rule is
// guarded to when it refuses the field (see compile).
type intentProvider struct {
	types.Provider
	lenient bool
}

var unknownField = &types.FieldType{
	Type:  types.DynType,
	IsSet: func(any) bool { return false },
	GetFrom: func(any) (any, error) {
		return nil, fmt.Errorf("the intent has no such field")
	},
}

func (p intentProvider) FindStructType(name string) (*types.Type, bool) {
	if name == intentTypeName {
		return types.NewTypeTypeWithParam(celIntentType), true
	}
	return p.Provider.FindStructType(name)
}

func (p intentProvider) FindStructFieldNames(name string) ([]string, bool) {
	if name == intentTypeName {
		return fieldsOf(0), true // every field: 0 constrains no kind
	}
	return p.Provider.FindStructFieldNames(name)
}

func (p intentProvider) FindStructFieldType(name, field string) (*types.FieldType, bool) {
	if name != intentTypeName {
		return p.Provider.FindStructFieldType(name, field)
	}
	if f, ok := fieldsByName[field]; ok {
		return f.ft, true
	}
	if p.lenient {
		return unknownField, true
	}
	return nil, false
}

func (p intentProvider) NewValue(name string, fields map[string]ref.Val) ref.Val {
	if name == intentTypeName {
		return types.NewErr("a rule cannot make an intent")
	}
	return p.Provider.NewValue(name, fields)
}

// celIntent is an intent as a CEL value. Fields are computed when read.
type celIntent struct {
	e     *Engine
	in    Intent // dereferenced, never a pointer
	kind  Kind
	depth int // of Safe transactions around it
}

// newCelIntent wraps in (already dereferenced) for rules.
func (e *Engine) newCelIntent(in Intent, depth int) *celIntent {
	return &celIntent{e: e, in: in, kind: in.Kind(), depth: depth}
}

// kindVals are the kinds boxed once, so reading intent.kind does not allocate.
var kindVals = func() map[Kind]ref.Val {
	m := map[Kind]ref.Val{}
	for _, k := range kindOrder {
		m[k] = types.String(k)
	}
	return m
}()

func (c *celIntent) to() ref.Val { return types.String(c.in.counterparty()) }

// native is the chain's native coin.
func (c *celIntent) native() Token {
	if fam, ok := c.e.p.families[c.in.Head().Chain]; ok {
		return Token{Symbol: fam.nativeSymbol(), Decimals: fam.nativeDecimals()}
	}
	return Token{Decimals: 18}
}

// token is what the intent moves: the token sent, approved or swapped in,
// or the native coin of a call's or a Safe transaction's value.
func (c *celIntent) token() Token {
	if t, _, ok := c.in.moves(); ok {
		return t
	}
	return c.native()
}

// amount is the amount of token(): sent, approved, swapped in, or the
// value of a call.
func (c *celIntent) amount() ref.Val {
	t, v, ok := c.in.moves()
	if !ok {
		t = c.native()
	}
	return newDecimal(v, t.Decimals)
}

// counterparty is intent.to: whom the intent pays or empowers. Rules read
// one field for it across kinds, so a rule about "to" also catches an
// approval's spender and a swap's recipient.
func (v Transfer) counterparty() string     { return v.To }
func (v Approve) counterparty() string      { return v.Spender }
func (v Swap) counterparty() string         { return v.Recipient }
func (v ContractCall) counterparty() string { return v.To }
func (v SafeTx) counterparty() string       { return v.To }

// moves is the asset and amount behind intent.token and intent.amount:
// what a transfer sends, an approval grants or a swap puts in. A call and
// a Safe transaction move the chain's native coin, which only the policy
// knows (ok is false, the amount is their value).
func (v Transfer) moves() (Token, *big.Int, bool)     { return v.Token, v.Amount, true }
func (v Approve) moves() (Token, *big.Int, bool)      { return v.Token, v.Amount, true }
func (v Swap) moves() (Token, *big.Int, bool)         { return v.TokenIn, v.AmountIn, true }
func (v ContractCall) moves() (Token, *big.Int, bool) { return Token{}, v.Value, false }
func (v SafeTx) moves() (Token, *big.Int, bool)       { return Token{}, v.Value, false }

func (c *celIntent) tokenName(t Token) ref.Val {
	return types.String(c.e.tokenName(c.in.Head().Chain, t))
}

// inner lists a Safe transaction's inner calls; empty beyond maxDepth,
// where the fixed checks deny the intent anyway.
func (c *celIntent) inner() ref.Val {
	s := c.in.(SafeTx)
	var xs []ref.Val
	if c.depth < maxDepth {
		xs = make([]ref.Val, 0, len(s.Inner))
		for _, x := range s.Inner {
			x, ok := deref(x)
			if !ok {
				return types.NewErr("inner call is empty")
			}
			xs = append(xs, c.e.newCelIntent(x, c.depth+1))
		}
	}
	return types.NewRefValList(types.DefaultTypeAdapter, xs)
}

// newDecimal is v base units with the given decimals, as a CEL decimal; a
// missing amount is 0.
func newDecimal(v *big.Int, decimals uint8) celDecimal {
	if v == nil {
		return celDecimal{new(big.Rat)}
	}
	return celDecimal{new(big.Rat).SetFrac(v, pow10(int(decimals)))}
}

func (c *celIntent) ConvertToNative(t reflect.Type) (any, error) {
	return nil, fmt.Errorf("an intent cannot be converted to %v", t)
}

func (c *celIntent) ConvertToType(t ref.Type) ref.Val {
	switch t.TypeName() {
	case intentTypeName:
		return c
	case types.TypeType.TypeName():
		return celIntentType
	}
	return types.NewErr("an intent cannot be converted to %s", t.TypeName())
}

func (c *celIntent) Equal(other ref.Val) ref.Val {
	o, ok := other.(*celIntent)
	return types.Bool(ok && o == c)
}

func (c *celIntent) Type() ref.Type { return celIntentType }
func (c *celIntent) Value() any     { return c }

// Get and IsSet serve a field read the checker could not type (through
// dyn()), with the same answers as the typed path.
func (c *celIntent) Get(key ref.Val) ref.Val {
	name, ok := key.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(key)
	}
	f, ok := fieldsByName[string(name)]
	if !ok {
		return types.NewErr("the intent has no field %s", string(name))
	}
	v, err := f.ft.GetFrom(c)
	if err != nil {
		return types.WrapErr(err)
	}
	return v.(ref.Val)
}

func (c *celIntent) IsSet(key ref.Val) ref.Val {
	name, ok := key.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(key)
	}
	f, ok := fieldsByName[string(name)]
	return types.Bool(ok && f.ft.IsSet(c))
}
