package tools

// Traits are what a tool says about itself. Front ends decide from them,
// not from a list of names, who may call a tool: a bot lets anyone in a
// group use a read-only tool and only an owner one that moves value, and
// the agent puts value-moving calls to a vote under a quorum.
type Traits struct {
	// ReadOnly: the tool only reads (prices, balances, quotes) and never
	// signs, sends, approves or places anything. The zero Traits is not
	// read-only, so a tool that declares nothing is treated as one that
	// may move value.
	ReadOnly bool
}

// TraitsOf returns t's declared traits (the zero Traits when t declares
// none).
func TraitsOf(t Tool) Traits {
	if d, ok := t.(interface{ Traits() Traits }); ok {
		return d.Traits()
	}
	return Traits{}
}

// MovesValue reports whether t may move value or sign: whether a caller
// must treat it as an owner's action.
func MovesValue(t Tool) bool { return !TraitsOf(t).ReadOnly }

// FuncOption sets what a Func tool declares.
type FuncOption func(*Traits)

// ReadOnly declares a Func tool read-only (see Traits.ReadOnly).
func ReadOnly() FuncOption { return func(t *Traits) { t.ReadOnly = true } }
