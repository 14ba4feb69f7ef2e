package policies

import (
	"fmt"
	"math/big"
	"strconv"

	"github.com/mandatehq/mandate/internal/jsonstr"
)

// The canonical encoding of an intent, which Marshal writes and Digest
// hashes, is encoding/json's encoding of the intent struct with the object's
// keys sorted and "kind" (and a Safe transaction's "inner") added. Marshal
// used to produce it by encoding, decoding into a map and encoding again;
// that cost more than the rest of a policy decision together. This writer
// produces the same bytes directly: the order of the keys below is
// alphabetical at the top level and struct order inside nested values
// (Token, Call, a swap's Approval), exactly as the map round trip did, and
// strings are escaped as encoding/json escapes them. A differential test
// and fuzz target hold it to the reference implementation.

type canonWriter struct {
	b     []byte
	first bool
}

func (w *canonWriter) open()  { w.b = append(w.b, '{'); w.first = true }
func (w *canonWriter) close() { w.b = append(w.b, '}'); w.first = false }

// key writes a separator if needed and "k":.
func (w *canonWriter) key(k string) {
	if !w.first {
		w.b = append(w.b, ',')
	}
	w.first = false
	w.b = append(w.b, '"')
	w.b = append(w.b, k...)
	w.b = append(w.b, '"', ':')
}

func (w *canonWriter) str(k, s string) { w.key(k); w.b = jsonstr.Append(w.b, s) }

func (w *canonWriter) strOmit(k, s string) {
	if s != "" {
		w.str(k, s)
	}
}

func (w *canonWriter) big(k string, v *big.Int) {
	w.key(k)
	if v == nil {
		w.b = append(w.b, "null"...)
		return
	}
	// Amounts are decimal strings: a JSON number above 2^53 loses digits in
	// JavaScript and jq, and one wei matters.
	w.b = append(w.b, '"')
	switch {
	case v.IsUint64(): // the common case, without big.Int's allocations
		w.b = strconv.AppendUint(w.b, v.Uint64(), 10)
	case v.IsInt64():
		w.b = strconv.AppendInt(w.b, v.Int64(), 10)
	default:
		w.b = v.Append(w.b, 10)
	}
	w.b = append(w.b, '"')
}

func (w *canonWriter) uint(k string, v uint64) { w.key(k); w.b = strconv.AppendUint(w.b, v, 10) }
func (w *canonWriter) int(k string, v int64)   { w.key(k); w.b = strconv.AppendInt(w.b, v, 10) }
func (w *canonWriter) bool(k string, v bool)   { w.key(k); w.b = strconv.AppendBool(w.b, v) }

func (w *canonWriter) hex(k string, h HexBytes) {
	const digits = "0123456789abcdef"
	w.key(k)
	w.b = append(w.b, '"', '0', 'x')
	for _, c := range h {
		w.b = append(w.b, digits[c>>4], digits[c&0xF])
	}
	w.b = append(w.b, '"')
}

// token writes a Token in struct order (symbol, address, decimals).
func (w *canonWriter) token(k string, t Token) {
	w.key(k)
	w.open()
	w.strOmit("symbol", t.Symbol)
	w.strOmit("address", t.Address)
	w.uint("decimals", uint64(t.Decimals))
	w.close()
}

// call writes an optional Call in struct order (to, value, data).
func (w *canonWriter) call(k string, c *Call) {
	if c == nil {
		return
	}
	w.key(k)
	w.open()
	w.str("to", c.To)
	w.big("value", c.Value)
	w.hex("data", c.Data)
	w.close()
}

// approveFields writes an Approve in struct order, as a swap embeds it.
func (w *canonWriter) approveFields(a *Approve) {
	w.open()
	w.str("chain", a.Chain)
	w.str("from", a.From)
	w.strOmit("idempotency_key", a.Key)
	w.str("method", string(a.Method))
	w.token("token", a.Token)
	w.str("spender", a.Spender)
	w.big("amount", a.Amount)
	w.bool("unlimited", a.Unlimited)
	if a.Expiration != 0 {
		w.uint("expiration", a.Expiration)
	}
	w.call("tx", a.Tx)
	w.close()
}

// intent writes one intent with its keys in alphabetical order.
func (w *canonWriter) intent(in Intent) error {
	in, ok := deref(in)
	if !ok {
		return fmt.Errorf("policies: nil intent")
	}
	if !ours(in) {
		return fmt.Errorf("policies: unknown intent type %T", in)
	}
	b, err := in.canon(w.b)
	w.b, w.first = b, false
	return err
}

// Each kind's canon appends the intent to b as one object, its fields,
// "kind" among them, in alphabetical order of their keys: the order is the
// encoding, so each kind lists its own. It takes and returns the bytes
// rather than the writer: a writer passed through the Intent interface
// would escape to the heap, one allocation more per Marshal.

func (v Transfer) canon(b []byte) ([]byte, error) {
	w := canonWriter{b: b}
	w.open()
	w.big("amount", v.Amount)
	w.str("chain", v.Chain)
	w.str("from", v.From)
	w.strOmit("idempotency_key", v.Key)
	w.str("kind", string(KindTransfer))
	w.str("to", v.To)
	w.token("token", v.Token)
	w.call("tx", v.Tx)
	w.close()
	return w.b, nil
}

func (v Approve) canon(b []byte) ([]byte, error) {
	w := canonWriter{b: b}
	w.open()
	w.big("amount", v.Amount)
	w.str("chain", v.Chain)
	if v.Expiration != 0 {
		w.uint("expiration", v.Expiration)
	}
	w.str("from", v.From)
	w.strOmit("idempotency_key", v.Key)
	w.str("kind", string(KindApprove))
	w.str("method", string(v.Method))
	w.str("spender", v.Spender)
	w.token("token", v.Token)
	w.call("tx", v.Tx)
	w.bool("unlimited", v.Unlimited)
	w.close()
	return w.b, nil
}

func (v Swap) canon(b []byte) ([]byte, error) {
	w := canonWriter{b: b}
	w.open()
	w.big("amount_in", v.AmountIn)
	if v.Approval != nil {
		w.key("approval")
		w.approveFields(v.Approval)
	}
	w.str("chain", v.Chain)
	w.int("deadline", v.Deadline)
	w.str("from", v.From)
	w.strOmit("idempotency_key", v.Key)
	w.str("kind", string(KindSwap))
	w.big("min_out", v.MinOut)
	w.big("quoted", v.Quoted)
	w.str("recipient", v.Recipient)
	w.uint("slippage_bps", uint64(v.SlippageBps))
	w.token("token_in", v.TokenIn)
	w.token("token_out", v.TokenOut)
	w.call("tx", v.Tx)
	w.str("venue", v.Venue)
	w.close()
	return w.b, nil
}

func (v ContractCall) canon(b []byte) ([]byte, error) {
	w := canonWriter{b: b}
	w.open()
	w.str("chain", v.Chain)
	w.hex("data", v.Data)
	w.str("from", v.From)
	w.strOmit("idempotency_key", v.Key)
	w.str("kind", string(KindCall))
	w.strOmit("selector", v.Selector)
	w.str("to", v.To)
	w.call("tx", v.Tx)
	w.big("value", v.Value)
	w.close()
	return w.b, nil
}

// canon of a SafeTx writes its inner calls as an array of intents: the
// only kind that can fail, on an empty inner call.
func (v SafeTx) canon(b []byte) ([]byte, error) {
	w := canonWriter{b: b}
	w.open()
	w.big("base_gas", v.BaseGas)
	w.str("chain", v.Chain)
	w.hex("data", v.Data)
	w.str("from", v.From)
	w.big("gas_price", v.GasPrice)
	w.str("gas_token", v.GasToken)
	w.strOmit("idempotency_key", v.Key)
	if len(v.Inner) > 0 {
		if err := w.inner(v.Inner); err != nil {
			return w.b, err
		}
	}
	w.str("kind", string(KindSafeTx))
	w.uint("nonce", v.Nonce)
	w.uint("operation", uint64(v.Operation))
	w.str("refund_receiver", v.RefundReceiver)
	w.big("safe_tx_gas", v.SafeTxGas)
	w.str("safe_tx_hash", v.SafeTxHash)
	w.strOmit("self_call", v.SelfCall)
	w.str("to", v.To)
	w.big("value", v.Value)
	w.close()
	return w.b, nil
}

// inner writes a Safe transaction's inner calls under "inner".
func (w *canonWriter) inner(xs []Intent) error {
	w.key("inner")
	w.b = append(w.b, '[')
	for i, x := range xs {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		if err := w.intent(x); err != nil {
			return fmt.Errorf("policies: inner call %d: %w", i, err)
		}
	}
	w.b = append(w.b, ']')
	w.first = false
	return nil
}
