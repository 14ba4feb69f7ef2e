package policies

import (
	"bytes"
	"errors"
	"math/big"
	"strings"
	"unicode/utf8"
)

// Clone returns a deep copy of in, as a value (not a pointer) intent, with
// every string made valid UTF-8 the way Marshal writes it (invalid bytes
// become U+FFFD). The copy shares nothing with in: the engine judges and
// approves a snapshot the caller cannot change afterwards, and an
// approval hands out copies of that snapshot, never the snapshot itself.
// It returns nil for a nil intent.
func Clone(in Intent) Intent {
	var c cloner
	return c.intent(in)
}

// cloner copies intents and notes whether any string was not valid UTF-8.
type cloner struct{ invalid bool }

func (c *cloner) intent(in Intent) Intent {
	in, ok := deref(in)
	if !ok || !ours(in) {
		return nil
	}
	out, valid := in.clone()
	c.invalid = c.invalid || !valid
	return out
}

// Each kind's clone copies every field it holds, deeply: a field left out
// here would be shared with the caller, who could change the approved
// snapshot through it. valid is false when some string was not valid
// UTF-8. Each keeps a cloner of its own rather than take the caller's: a
// cloner passed through the Intent interface would escape to the heap,
// one allocation more per decision.

func (v Transfer) clone() (Intent, bool) {
	var c cloner
	out := Transfer{Header: c.cloneHeader(v.Header), To: c.utf(v.To), Token: c.cloneToken(v.Token), Amount: cloneInt(v.Amount), Tx: c.cloneCall(v.Tx)}
	return out, !c.invalid
}

func (v Approve) clone() (Intent, bool) {
	var c cloner
	out := c.cloneApprove(v)
	return out, !c.invalid
}

func (v Swap) clone() (Intent, bool) {
	var c cloner
	out := Swap{Header: c.cloneHeader(v.Header), Venue: c.utf(v.Venue), TokenIn: c.cloneToken(v.TokenIn), AmountIn: cloneInt(v.AmountIn),
		TokenOut: c.cloneToken(v.TokenOut), Quoted: cloneInt(v.Quoted), MinOut: cloneInt(v.MinOut), Recipient: c.utf(v.Recipient),
		SlippageBps: v.SlippageBps, Deadline: v.Deadline, Tx: c.cloneCall(v.Tx)}
	if v.Approval != nil {
		a := c.cloneApprove(*v.Approval)
		out.Approval = &a
	}
	return out, !c.invalid
}

func (v ContractCall) clone() (Intent, bool) {
	var c cloner
	out := ContractCall{Header: c.cloneHeader(v.Header), To: c.utf(v.To), Value: cloneInt(v.Value), Data: cloneBytes(v.Data), Selector: c.utf(v.Selector), Tx: c.cloneCall(v.Tx)}
	return out, !c.invalid
}

// clone of a SafeTx copies its inner calls too, keeping a nil Inner nil
// so the copy encodes as the original does.
func (v SafeTx) clone() (Intent, bool) {
	var c cloner
	out := SafeTx{Header: c.cloneHeader(v.Header), To: c.utf(v.To), Value: cloneInt(v.Value), Data: cloneBytes(v.Data), Operation: v.Operation,
		SafeTxGas: cloneInt(v.SafeTxGas), BaseGas: cloneInt(v.BaseGas), GasPrice: cloneInt(v.GasPrice), GasToken: c.utf(v.GasToken),
		RefundReceiver: c.utf(v.RefundReceiver), Nonce: v.Nonce, SafeTxHash: c.utf(v.SafeTxHash), SelfCall: c.utf(v.SelfCall)}
	if v.Inner != nil {
		out.Inner = make([]Intent, len(v.Inner))
		for i, x := range v.Inner {
			out.Inner[i] = c.intent(x)
		}
	}
	return out, !c.invalid
}

func (c *cloner) utf(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	c.invalid = true
	return strings.ToValidUTF8(s, "\uFFFD")
}

// ErrInvalidUTF8 says an intent holds a string that is not valid UTF-8:
// its canonical encoding would not say what it holds, so it is refused.
var ErrInvalidUTF8 = errors.New("policies: the intent holds text that is not valid UTF-8; refusing to judge what its encoding would not show exactly")

// snapshot is Clone for the engine: it refuses intents whose strings are
// not valid UTF-8 rather than approve a rewritten copy.
func snapshot(in Intent) (Intent, error) {
	var c cloner
	out := c.intent(in)
	if c.invalid {
		return nil, ErrInvalidUTF8
	}
	return out, nil
}

func (c *cloner) cloneHeader(h Header) Header {
	return Header{Chain: c.utf(h.Chain), From: c.utf(h.From), Key: c.utf(h.Key)}
}

func (c *cloner) cloneToken(t Token) Token {
	return Token{Symbol: c.utf(t.Symbol), Address: c.utf(t.Address), Decimals: t.Decimals}
}

func (c *cloner) cloneApprove(v Approve) Approve {
	return Approve{Header: c.cloneHeader(v.Header), Method: ApproveMethod(c.utf(string(v.Method))), Token: c.cloneToken(v.Token), Spender: c.utf(v.Spender),
		Amount: cloneInt(v.Amount), Unlimited: v.Unlimited, Expiration: v.Expiration, Tx: c.cloneCall(v.Tx)}
}

func cloneInt(v *big.Int) *big.Int {
	if v == nil {
		return nil
	}
	return new(big.Int).Set(v)
}

func cloneBytes(b HexBytes) HexBytes {
	if b == nil {
		return nil
	}
	return bytes.Clone(b)
}

func (c *cloner) cloneCall(k *Call) *Call {
	if k == nil {
		return nil
	}
	return &Call{To: c.utf(k.To), Value: cloneInt(k.Value), Data: cloneBytes(k.Data)}
}
