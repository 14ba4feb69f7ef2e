package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/mandatehq/mandate/chains/evm/tokenlist"
	"github.com/mandatehq/mandate/policies"
	"github.com/mandatehq/mandate/tools/dex"
)

// intentHelp documents the intent file of `mandate policy eval`.
const intentHelp = `The intent file is JSON: a "kind" beside the arguments the tool of that kind
takes, amounts as decimal strings in token units ("1.5"), tokens as symbols from
the policy's tokens: (or ETH), or addresses listed there:

  {"kind": "transfer", "to": "0x…", "token": "USDC", "amount": "250"}
  {"kind": "approve", "token": "USDC", "spender": "0x…", "amount": "100"}   (or "unlimited")
  {"kind": "swap", "from": "ETH", "to": "USDC", "amount": "0.5", "quoted": "1500",
   "slippage_bps": 50}
  {"kind": "call", "to": "0x…", "value": "0.1", "data": "0x…"}

Every kind also takes "chain" (needed when the policy names several) and
"wallet", the acting account (default the zero address; give yours for its daily
totals). A swap needs "quoted", the output you expect, since eval asks no chain;
its floor is that less slippage_bps (default 50, or the policy's maximum if
lower) unless "min_out" gives it; "recipient" defaults to the wallet.

The base-unit form, which ` + "`mandate tools call … --dry-run`" + ` prints as "intent:", is
read too: it names the account "from", gives tokens as objects with their
decimals and amounts in base units ("1500000" is 1.5 USDC); a safe_tx has only
this form. USD limits and swaps.max_loss_bps need prices, which eval has none
of: intents they apply to are denied.`

// readIntent reads the intent file of `mandate policy eval` against p, in
// either form. They are told apart by fields only the base-unit form has:
// tokens as objects (with their decimals), "token_in", or "from" as the
// acting account (a swap's "from" is its input token in the token-unit
// form, which names the account "wallet").
func readIntent(p *policies.Policy, data []byte) (policies.Intent, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	var kind policies.Kind
	if raw, ok := obj["kind"]; ok {
		if err := json.Unmarshal(raw, &kind); err != nil {
			return nil, errors.New(`"kind" is not a string; use one of transfer, approve, swap, call, safe_tx`)
		}
	}
	_, hasFrom := obj["from"]
	_, hasTokenIn := obj["token_in"]
	if kind == policies.KindSafeTx || hasTokenIn || hasFrom && kind != policies.KindSwap || isObject(obj["token"]) {
		in, err := policies.Unmarshal(data)
		if err != nil && hasFrom && isString(obj["token"]) {
			return nil, fmt.Errorf(`%w ("from" is the acting account of the base-unit form, whose tokens are objects; in the token-unit form it is "wallet")`, err)
		}
		return in, err
	}
	for _, f := range []string{"amount", "value", "quoted", "min_out"} {
		if raw, ok := obj[f]; ok && !isString(raw) {
			return nil, fmt.Errorf(`%q is %s: write it as a decimal string in token units, e.g. "%s": "1.5"`, f, bytes.TrimSpace(raw), f)
		}
	}
	r := intentReader{p: p}
	switch kind {
	case policies.KindTransfer:
		return r.transfer(data)
	case policies.KindApprove:
		return r.approve(data)
	case policies.KindSwap:
		return r.swap(data)
	case policies.KindCall:
		return r.call(data)
	case "":
		return nil, errors.New(`no "kind"; use one of transfer, approve, swap, call, safe_tx`)
	}
	return nil, fmt.Errorf("unknown intent kind %q; use one of transfer, approve, swap, call, safe_tx", kind)
}

func isString(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '"'
}

func isObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{'
}

// intentHead is what every kind takes besides its tool's arguments.
type intentHead struct {
	Kind   string `json:"kind"`
	Chain  string `json:"chain"`
	Wallet string `json:"wallet"`
}

// intentReader turns the token-unit form into intents, resolving tokens
// through the policy.
type intentReader struct {
	p *policies.Policy
}

// strict decodes data into v, refusing fields v does not have.
func strict(kind string, data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s intent: %w", kind, err)
	}
	return nil
}

// header is the chain and the acting account.
func (r intentReader) header(h intentHead) (policies.Header, error) {
	chain := h.Chain
	if chain == "" {
		chains := r.p.Chains()
		if len(chains) != 1 {
			return policies.Header{}, fmt.Errorf(`%s intent: give "chain": the policy names %s`, h.Kind, strings.Join(chains, ", "))
		}
		chain = chains[0]
	}
	from := "0x0000000000000000000000000000000000000000"
	if h.Wallet != "" {
		a, err := r.address(h.Kind, "wallet", chain, h.Wallet)
		if err != nil {
			return policies.Header{}, err
		}
		from = a
	}
	return policies.Header{Chain: chain, From: from}, nil
}

// address checks an EVM address (with its checksum when it has one); a
// Solana address is taken as written.
func (r intentReader) address(kind, field, chain, s string) (string, error) {
	if strings.HasPrefix(chain, "solana-") {
		if s == "" {
			return "", fmt.Errorf("%s intent: %s is empty", kind, field)
		}
		return s, nil
	}
	a, err := tokenlist.ParseAddress(strings.TrimSpace(s))
	if err != nil {
		return "", fmt.Errorf("%s intent: %s: %w", kind, field, err)
	}
	return a.Hex(), nil
}

// token resolves a symbol (the policy's, or the native coin's) or an
// address the policy lists: the policy bounds only the tokens it lists,
// and their decimals are what make the amount exact.
func (r intentReader) token(kind, field, chain string, raw json.RawMessage) (policies.Token, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil || strings.TrimSpace(s) == "" {
		return policies.Token{}, fmt.Errorf(`%s intent: %s: give a token symbol such as "USDC", or an address from the policy's tokens:`, kind, field)
	}
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		addr, err := r.address(kind, field, chain, s)
		if err != nil {
			return policies.Token{}, err
		}
		for _, t := range r.p.Tokens() {
			if t.Chain == chain && strings.EqualFold(t.Address, addr) {
				return t.Token, nil
			}
		}
		return policies.Token{}, fmt.Errorf("%s intent: %s: token %s is not under the policy's tokens: on chain %s, so neither its decimals nor any limit are known; add it there", kind, field, addr, chain)
	}
	if t, ok := r.p.Token(chain, s); ok {
		return t, nil
	}
	if t, ok := r.p.Token(chain, strings.ToUpper(s)); ok {
		return t, nil
	}
	known := []string{nativeSymbol(chain)}
	for _, t := range r.p.Tokens() {
		if t.Chain == chain {
			known = append(known, t.Symbol)
		}
	}
	slices.Sort(known)
	return policies.Token{}, fmt.Errorf("%s intent: %s: unknown token symbol %q on chain %s; the policy knows %s, or give an address from its tokens:", kind, field, s, chain, strings.Join(known, ", "))
}

// amount parses a decimal string in t's units.
func amount(kind, field, s string, t policies.Token) (*big.Int, error) {
	v, err := policies.ParseUnits(strings.TrimSpace(s), t.Decimals)
	if err != nil {
		return nil, fmt.Errorf("%s intent: %s: %w", kind, field, err)
	}
	return v, nil
}

func (r intentReader) transfer(data []byte) (policies.Intent, error) {
	var a struct {
		intentHead
		To     string          `json:"to"`
		Token  json.RawMessage `json:"token"`
		Amount string          `json:"amount"`
		Key    string          `json:"idempotency_key"`
	}
	if err := strict("transfer", data, &a); err != nil {
		return nil, err
	}
	h, err := r.header(a.intentHead)
	if err != nil {
		return nil, err
	}
	h.Key = a.Key
	to, err := r.address("transfer", "to", h.Chain, a.To)
	if err != nil {
		return nil, err
	}
	tok, err := r.token("transfer", "token", h.Chain, a.Token)
	if err != nil {
		return nil, err
	}
	amt, err := amount("transfer", "amount", a.Amount, tok)
	if err != nil {
		return nil, err
	}
	return policies.Transfer{Header: h, To: to, Token: tok, Amount: amt}, nil
}

// unlimited is the allowance "unlimited" asks for, as token_approve sends it.
var unlimited = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))

func (r intentReader) approve(data []byte) (policies.Intent, error) {
	var a struct {
		intentHead
		Token   json.RawMessage `json:"token"`
		Spender string          `json:"spender"`
		Amount  string          `json:"amount"`
	}
	if err := strict("approve", data, &a); err != nil {
		return nil, err
	}
	h, err := r.header(a.intentHead)
	if err != nil {
		return nil, err
	}
	spender, err := r.address("approve", "spender", h.Chain, a.Spender)
	if err != nil {
		return nil, err
	}
	tok, err := r.token("approve", "token", h.Chain, a.Token)
	if err != nil {
		return nil, err
	}
	if tok.Native() {
		return nil, fmt.Errorf("approve intent: %s has no allowances; approve a token", tok.Symbol)
	}
	in := policies.Approve{Header: h, Method: policies.MethodApprove, Token: tok, Spender: spender}
	if strings.EqualFold(strings.TrimSpace(a.Amount), "unlimited") {
		in.Amount, in.Unlimited = unlimited, true
		return in, nil
	}
	if in.Amount, err = amount("approve", "amount", a.Amount, tok); err != nil {
		return nil, err
	}
	return in, nil
}

func (r intentReader) swap(data []byte) (policies.Intent, error) {
	var a struct {
		intentHead
		From        json.RawMessage `json:"from"`
		To          json.RawMessage `json:"to"`
		Amount      string          `json:"amount"`
		SlippageBps *dex.Bps        `json:"slippage_bps"`
		Quoted      string          `json:"quoted"`
		MinOut      string          `json:"min_out"`
		Recipient   string          `json:"recipient"`
		Venue       string          `json:"venue"`
		Key         string          `json:"idempotency_key"`
	}
	if err := strict("swap", data, &a); err != nil {
		return nil, err
	}
	h, err := r.header(a.intentHead)
	if err != nil {
		return nil, err
	}
	h.Key = a.Key
	in := policies.Swap{Header: h, Venue: a.Venue, Recipient: h.From}
	if in.Venue == "" {
		in.Venue = "uniswap-v3"
	}
	if a.Recipient != "" {
		if in.Recipient, err = r.address("swap", "recipient", h.Chain, a.Recipient); err != nil {
			return nil, err
		}
	}
	if in.TokenIn, err = r.token("swap", "from", h.Chain, a.From); err != nil {
		return nil, err
	}
	if in.TokenOut, err = r.token("swap", "to", h.Chain, a.To); err != nil {
		return nil, err
	}
	if in.AmountIn, err = amount("swap", "amount", a.Amount, in.TokenIn); err != nil {
		return nil, err
	}
	if a.Quoted == "" {
		return nil, errors.New(`swap intent: give "quoted", the output you expect in token units: policy eval asks no chain for a quote`)
	}
	if in.Quoted, err = amount("swap", "quoted", a.Quoted, in.TokenOut); err != nil {
		return nil, err
	}
	maxSlip, maxDeadline, bounded := r.p.SwapBounds()
	in.SlippageBps = dex.DefaultSlippageBps
	if bounded && maxSlip < in.SlippageBps {
		in.SlippageBps = maxSlip
	}
	if a.SlippageBps != nil {
		in.SlippageBps = uint32(*a.SlippageBps)
	}
	if a.MinOut != "" {
		if in.MinOut, err = amount("swap", "min_out", a.MinOut, in.TokenOut); err != nil {
			return nil, err
		}
	} else {
		in.MinOut = new(big.Int).Mul(in.Quoted, big.NewInt(int64(10_000-in.SlippageBps)))
		in.MinOut.Quo(in.MinOut, big.NewInt(10_000))
	}
	deadline := dex.DefaultDeadline
	if bounded && maxDeadline < deadline {
		deadline = maxDeadline
	}
	in.Deadline = time.Now().Add(deadline).Unix()
	return in, nil
}

func (r intentReader) call(data []byte) (policies.Intent, error) {
	var a struct {
		intentHead
		To    string `json:"to"`
		Value string `json:"value"`
		Data  string `json:"data"`
	}
	if err := strict("call", data, &a); err != nil {
		return nil, err
	}
	h, err := r.header(a.intentHead)
	if err != nil {
		return nil, err
	}
	in := policies.ContractCall{Header: h, Value: new(big.Int)}
	if in.To, err = r.address("call", "to", h.Chain, a.To); err != nil {
		return nil, err
	}
	if a.Value != "" {
		if in.Value, err = amount("call", "value", a.Value, nativeCoin(h.Chain)); err != nil {
			return nil, err
		}
	}
	hexData := strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(a.Data), "0x"), "0X")
	if in.Data, err = hex.DecodeString(hexData); err != nil {
		return nil, fmt.Errorf("call intent: data is not hex: %w", err)
	}
	if len(in.Data) >= 4 {
		in.Selector = "0x" + hex.EncodeToString(in.Data[:4])
	}
	return in, nil
}

// nativeCoin is chain's native coin.
func nativeCoin(chain string) policies.Token {
	if strings.HasPrefix(chain, "solana-") {
		return policies.Token{Symbol: "SOL", Decimals: 9}
	}
	return policies.Token{Symbol: "ETH", Decimals: 18}
}

// nativeSymbol is the symbol of chain's native coin.
func nativeSymbol(chain string) string {
	if strings.HasPrefix(chain, "solana-") {
		return "SOL"
	}
	return "ETH"
}

// describeIntent says in token units what was decided, so a reader sees
// how the file was read.
func describeIntent(in policies.Intent) string {
	switch x := in.(type) { // an intent passed by pointer reads as its value
	case *policies.Transfer:
		return describeIntent(*x)
	case *policies.Approve:
		return describeIntent(*x)
	case *policies.Swap:
		return describeIntent(*x)
	case *policies.ContractCall:
		return describeIntent(*x)
	case *policies.SafeTx:
		return describeIntent(*x)
	}
	h := in.Head()
	where := " on chain " + h.Chain
	switch x := in.(type) {
	case policies.Transfer:
		return fmt.Sprintf("transfer %s %s to %s%s", units(x.Amount, x.Token), tokenName(x.Token), x.To, where)
	case policies.Approve:
		amt := units(x.Amount, x.Token)
		if x.Unlimited {
			amt = "unlimited"
		}
		return fmt.Sprintf("approve %s %s for %s%s", amt, tokenName(x.Token), x.Spender, where)
	case policies.Swap:
		return fmt.Sprintf("swap %s %s for at least %s %s (quoted %s, slippage %d bps)%s", units(x.AmountIn, x.TokenIn), tokenName(x.TokenIn),
			units(x.MinOut, x.TokenOut), tokenName(x.TokenOut), units(x.Quoted, x.TokenOut), x.SlippageBps, where)
	case policies.ContractCall:
		return fmt.Sprintf("call %s with %s %s and %d bytes of data%s", x.To, units(x.Value, nativeCoin(h.Chain)), nativeSymbol(h.Chain), len(x.Data), where)
	case policies.SafeTx:
		return fmt.Sprintf("Safe transaction %s of %s, nonce %d, %d inner call(s)%s", x.SafeTxHash, h.From, x.Nonce, len(x.Inner), where)
	}
	return string(in.Kind()) + where
}

func units(v *big.Int, t policies.Token) string {
	if v == nil {
		return "0"
	}
	return policies.DecimalUnits(v, t.Decimals)
}

func tokenName(t policies.Token) string {
	if t.Symbol != "" {
		return t.Symbol
	}
	return t.Address
}
