// Package policies decides whether an action that moves value may happen.
//
// Every such action is an Intent: a typed, fully decoded description built by a
// tool, the CLI, a bot or the co-signer from chain state. The Engine turns an
// Intent into an Approval, a *Denied error with reasons a person can read, or
// an *Ask error when a human must confirm. Signers accept an Approval and
// nothing else; an Approval is bound to the digest of the one Intent it
// approves and can be used once.
//
// The package is the root that every other package trusts, so it is kept
// small and free of chain clients: it speaks of addresses as strings and of
// amounts as exact base units.
package policies

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
)

// Kind names the family of an Intent. Policies speak of kinds; a kind the
// policy does not mention is denied.
type Kind string

const (
	KindTransfer Kind = "transfer" // native coin or token transfer
	KindApprove  Kind = "approve"  // allowance granted to a spender
	KindSwap     Kind = "swap"     // exchange on a DEX with a minimum output
	KindCall     Kind = "call"     // arbitrary contract call
	KindSafeTx   Kind = "safe_tx"  // Safe multisig transaction with its inner calls
)

// Token identifies an asset on a chain. Address is empty for the chain's
// native coin (ETH on EVM chains, SOL on Solana); on Solana it holds the mint.
type Token struct {
	Symbol   string `json:"symbol,omitempty"`
	Address  string `json:"address,omitempty"`
	Decimals uint8  `json:"decimals"`
}

// Native reports whether t is the chain's native coin.
func (t Token) Native() bool { return t.Address == "" }

// Call is the exact EVM call an intent executes. It is part of the intent, so
// the digest an Approval is bound to covers the bytes that will be signed.
type Call struct {
	To    string   `json:"to"`
	Value *big.Int `json:"value"`
	Data  HexBytes `json:"data"`
}

// Intent is one action that moves value or signs something. The set of
// intent types is closed: only this package defines them, so the Engine can
// check each one exhaustively.
type Intent interface {
	Kind() Kind
	// Head returns the fields every intent has.
	Head() Header
	// Call returns the exact call the intent executes, its Tx: nil when
	// the intent carries none, and always for a SafeTx, whose owners sign
	// it rather than a wallet sending it.
	Call() *Call

	// What differs by kind is a method of each kind rather than a switch
	// over them, so a new kind does not compile until it says how it is
	// encoded, copied and read by rules. Being unexported, they also keep
	// other packages from defining intents (a type that embeds one of
	// these has them too, so Marshal and Clone refuse it by name).
	canon(b []byte) ([]byte, error) // appends its canonical JSON (canonical.go)
	clone() (Intent, bool)          // a deep copy; false if any text was not UTF-8 (clone.go)
	counterparty() string           // the rules' intent.to (rulefields.go)
	moves() (Token, *big.Int, bool) // the rules' intent.token and amount (rulefields.go)
}

// Header holds what every intent carries: where it happens and who acts.
type Header struct {
	// Chain is the decimal EVM chain id ("1", "1337") or a Solana cluster name
	// ("solana-mainnet", "solana-devnet", "solana-local").
	Chain string `json:"chain"`
	// From is the acting account: the wallet, or the Safe for a SafeTx.
	From string `json:"from"`
	// Key, when set, makes the action idempotent: a second intent with the
	// same key and wallet is refused by the ledger as a duplicate of the first.
	Key string `json:"idempotency_key,omitempty"`
}

// Transfer moves Amount base units of Token from Header.From to To.
type Transfer struct {
	Header
	To     string   `json:"to"`
	Token  Token    `json:"token"`
	Amount *big.Int `json:"amount"`
	Tx     *Call    `json:"tx,omitempty"`
}

// ApproveMethod is the way an allowance is granted.
type ApproveMethod string

const (
	MethodApprove           ApproveMethod = "approve"
	MethodIncreaseAllowance ApproveMethod = "increaseAllowance"
	MethodSetApprovalForAll ApproveMethod = "setApprovalForAll"
	MethodPermit2           ApproveMethod = "permit2"
)

// Approve grants Spender the right to move Amount of Token. Unlimited is set
// for amounts at or above 2^255 (conventionally max uint256), for
// setApprovalForAll(true) and for Permit2's max uint160.
type Approve struct {
	Header
	Method    ApproveMethod `json:"method"`
	Token     Token         `json:"token"`
	Spender   string        `json:"spender"`
	Amount    *big.Int      `json:"amount"`
	Unlimited bool          `json:"unlimited"`
	// Expiration is Permit2's expiry (unix seconds); zero otherwise.
	Expiration uint64 `json:"expiration,omitempty"`
	Tx         *Call  `json:"tx,omitempty"`
}

// Swap exchanges AmountIn of TokenIn for at least MinOut of TokenOut.
type Swap struct {
	Header
	Venue     string   `json:"venue"` // "uniswap-v2", "uniswap-v3", "jupiter"
	TokenIn   Token    `json:"token_in"`
	AmountIn  *big.Int `json:"amount_in"`
	TokenOut  Token    `json:"token_out"`
	Quoted    *big.Int `json:"quoted"`  // expected output from the quote
	MinOut    *big.Int `json:"min_out"` // the floor the transaction enforces
	Recipient string   `json:"recipient"`
	// SlippageBps is the tolerance MinOut was derived from, in basis points.
	SlippageBps uint32 `json:"slippage_bps"`
	// Deadline is the unix time after which the swap reverts.
	Deadline int64 `json:"deadline"`
	// Approval is the allowance the swap needs first, if any.
	Approval *Approve `json:"approval,omitempty"`
	Tx       *Call    `json:"tx,omitempty"`
}

// ContractCall calls a contract with data no decoder understood.
type ContractCall struct {
	Header
	To       string   `json:"to"`
	Value    *big.Int `json:"value"`
	Data     HexBytes `json:"data"`
	Selector string   `json:"selector,omitempty"` // 0x-prefixed 4 bytes, if data has them
	Tx       *Call    `json:"tx,omitempty"`
}

// SafeOperation is a Safe transaction's operation: call or delegatecall.
type SafeOperation uint8

const (
	OpCall         SafeOperation = 0
	OpDelegateCall SafeOperation = 1
)

// SafeTx is a Safe multisig transaction with every inner call decoded.
type SafeTx struct {
	Header                       // From is the Safe
	To             string        `json:"to"`
	Value          *big.Int      `json:"value"`
	Data           HexBytes      `json:"data"`
	Operation      SafeOperation `json:"operation"`
	SafeTxGas      *big.Int      `json:"safe_tx_gas"`
	BaseGas        *big.Int      `json:"base_gas"`
	GasPrice       *big.Int      `json:"gas_price"`
	GasToken       string        `json:"gas_token"`
	RefundReceiver string        `json:"refund_receiver"`
	Nonce          uint64        `json:"nonce"`
	SafeTxHash     string        `json:"safe_tx_hash"`
	// SelfCall describes a call to the Safe itself (owner, threshold, module,
	// guard or fallback-handler change); empty when there is none.
	SelfCall string `json:"self_call,omitempty"`
	// Inner holds the decoded calls the transaction makes: one for a plain
	// call, each of a MultiSend batch's calls (flattened) for a batch.
	Inner []Intent `json:"-"`
}

func (Transfer) Kind() Kind     { return KindTransfer }
func (Approve) Kind() Kind      { return KindApprove }
func (Swap) Kind() Kind         { return KindSwap }
func (ContractCall) Kind() Kind { return KindCall }
func (SafeTx) Kind() Kind       { return KindSafeTx }

// Head returns the header; every intent type gets it by embedding Header.
func (h Header) Head() Header { return h }

func (t Transfer) Call() *Call     { return t.Tx }
func (a Approve) Call() *Call      { return a.Tx }
func (s Swap) Call() *Call         { return s.Tx }
func (k ContractCall) Call() *Call { return k.Tx }
func (SafeTx) Call() *Call         { return nil }

// Digest is the SHA-256 of an intent's canonical JSON encoding. An Approval is
// bound to it, so changing any field of an approved intent voids the approval.
func Digest(in Intent) ([32]byte, error) {
	b, err := Marshal(in)
	if err != nil {
		return [32]byte{}, err
	}
	return sha256.Sum256(b), nil
}

// ActionDigest identifies what an intent asks for, leaving out what a
// fresh quote changes: for a Swap, its expected and minimum output, its
// deadline, its allowance and its transaction (the venue, tokens, amount
// in, recipient and slippage tolerance stay); for every other kind it is
// Digest. A retry under an idempotency key must be the same action — a
// swap retried is quoted again, so its Digest differs, but its
// ActionDigest does not — and a different action under a used key is
// refused.
func ActionDigest(in Intent) (string, error) {
	if sw, ok := deref(in); ok {
		if x, isSwap := sw.(Swap); isSwap {
			x.Quoted, x.MinOut, x.Deadline, x.Approval, x.Tx = nil, nil, 0, nil, nil
			in = x
		}
	}
	d, err := Digest(in)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(d[:]), nil
}

// envelope is the JSON form of an Intent: its kind beside its fields.
type envelope struct {
	Kind  Kind              `json:"kind"`
	Inner []json.RawMessage `json:"inner,omitempty"`
}

// Marshal encodes an intent as JSON with a "kind" field, the form
// `mandate policy eval` reads and tools print. The encoding is deterministic
// (keys sorted; see canonical.go), so it is also what Digest hashes. An
// intent passed by pointer encodes as its value, inner calls included.
func Marshal(in Intent) ([]byte, error) {
	w := canonWriter{b: make([]byte, 0, 512)}
	if err := w.intent(in); err != nil {
		return nil, err
	}
	return w.b, nil
}

// Unmarshal decodes the JSON form written by Marshal. Unknown fields and
// unknown kinds are errors: an intent is never half understood.
func Unmarshal(data []byte) (Intent, error) {
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, fmt.Errorf("policies: intent JSON: %w", err)
	}
	var (
		in  Intent
		err error
	)
	switch env.Kind {
	case KindTransfer:
		var v Transfer
		err = strictJSON(data, &v)
		in = v
	case KindApprove:
		var v Approve
		err = strictJSON(data, &v)
		in = v
	case KindSwap:
		var v Swap
		err = strictJSON(data, &v)
		in = v
	case KindCall:
		var v ContractCall
		err = strictJSON(data, &v)
		in = v
	case KindSafeTx:
		var v SafeTx
		if err = strictJSON(data, &v); err == nil {
			for i, raw := range env.Inner {
				x, ierr := Unmarshal(raw)
				if ierr != nil {
					return nil, fmt.Errorf("policies: inner call %d: %w", i, ierr)
				}
				v.Inner = append(v.Inner, x)
			}
		}
		in = v
	case "":
		return nil, fmt.Errorf("policies: intent JSON has no \"kind\"; use one of transfer, approve, swap, call, safe_tx")
	default:
		return nil, fmt.Errorf("policies: unknown intent kind %q; use one of transfer, approve, swap, call, safe_tx", env.Kind)
	}
	if err != nil {
		return nil, fmt.Errorf("policies: %s intent: %w", env.Kind, err)
	}
	return in, nil
}

// strictJSON decodes one intent's fields, refusing unknown ones. The
// envelope's own fields ("kind", and "inner" for a SafeTx) are not fields of
// the struct and are removed first.
func strictJSON(data []byte, v any) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	delete(m, "kind")
	delete(m, "inner")
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if b, err = numberAmounts(b); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// amountKeys are the fields that hold *big.Int amounts. Marshal writes them
// as decimal strings; Unmarshal takes a string of digits or a JSON number.
var amountKeys = map[string]bool{
	"amount": true, "value": true, "amount_in": true, "quoted": true, "min_out": true,
	"safe_tx_gas": true, "base_gas": true, "gas_price": true,
}

// numberAmounts turns amount fields written as decimal strings into JSON
// numbers, which is what *big.Int decodes, anywhere in the object.
func numberAmounts(b []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	var walk func(any) error
	walk = func(x any) error {
		switch t := x.(type) {
		case map[string]any:
			for k, val := range t {
				if s, ok := val.(string); ok && amountKeys[k] {
					if d := strings.TrimPrefix(s, "-"); d == "" || strings.TrimLeft(d, "0123456789") != "" {
						return fmt.Errorf("%s %q is not a whole number of base units (decimal digits only)", k, s)
					}
					t[k] = json.Number(s)
					continue
				}
				if err := walk(val); err != nil {
					return err
				}
			}
		case []any:
			for _, val := range t {
				if err := walk(val); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}
