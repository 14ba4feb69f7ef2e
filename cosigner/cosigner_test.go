package cosigner_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/evm/safe"
	"github.com/mandatehq/mandate/cosigner"
	"github.com/mandatehq/mandate/policies"
)

var (
	safeAddr  = common.HexToAddress("0x5afe5afe5afe5afe5afe5afe5afe5afe5afe5afe")
	usdc      = common.HexToAddress("0x2000000000000000000000000000000000000002")
	friend    = common.HexToAddress("0x3000000000000000000000000000000000000003")
	attacker  = common.HexToAddress("0x000000000000000000000000000000000000bEEF")
	permit2   = evm.Permit2Address
	callOnly  = safe.MultiSendCallOnly141
	multiSend = safe.MultiSend141
	chainID   = big.NewInt(1337)
	version   = safe.Version{Major: 1, Minor: 4, Patch: 1}
	ownerKey  = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
)

var policyYAML = fmt.Sprintf(`version: 1
chains: [1337]
tokens:
  USDC: {chain: 1337, address: "%s", decimals: 6}
recipients:
  allow: ["%s"]
limits:
  per_tx: {ETH: "1", USDC: "1000"}
  daily: {ETH: "2", USDC: "5000"}
approvals: {max: {USDC: "500"}, unlimited: false}
safe:
  delegatecall: ["%s"]
  self_calls: false
  refund: false
`, usdc.Hex(), friend.Hex(), callOnly.Hex())

// reviewer decides by policyYAML with an in-memory ledger; sign adds the
// owner key and a Safe at nonce 7, extra any other options.
func reviewer(t *testing.T, sign bool, extra ...cosigner.Option) *cosigner.Reviewer {
	t.Helper()
	p, err := policies.Parse([]byte(policyYAML))
	if err != nil {
		t.Fatal(err)
	}
	eng := policies.NewEngine(p, policies.NewMemLedger())
	opts := []cosigner.Option{cosigner.WithSafe(safeAddr, version), cosigner.WithTokens(func(a string) (policies.Token, bool) {
		if common.HexToAddress(a) == usdc {
			return policies.Token{Symbol: "USDC", Address: usdc.Hex(), Decimals: 6}, true
		}
		return policies.Token{}, false
	})}
	if sign {
		s, err := evm.NewKeySigner(ownerKey)
		if err != nil {
			t.Fatal(err)
		}
		opts = append(opts, cosigner.WithSigner(s), cosigner.WithNonces(fixedNonce(7)))
	}
	return cosigner.New(chainID, eng, append(opts, extra...)...)
}

// Calldata builders.
func sel(sig string) []byte { return crypto.Keccak256([]byte(sig))[:4] }
func w(v any) []byte {
	switch x := v.(type) {
	case common.Address:
		return common.LeftPadBytes(x[:], 32)
	case int64:
		return common.LeftPadBytes(big.NewInt(x).Bytes(), 32)
	case *big.Int:
		return common.LeftPadBytes(x.Bytes(), 32)
	case bool:
		if x {
			return w(int64(1))
		}
		return w(int64(0))
	}
	panic("w")
}
func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}
func transfer(to common.Address, amt int64) []byte {
	return cat(sel("transfer(address,uint256)"), w(to), w(amt))
}
func approve(sp common.Address, amt *big.Int) []byte {
	return cat(sel("approve(address,uint256)"), w(sp), w(amt))
}

var maxU256 = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))

type txOpt func(*safe.ServiceTx)

func stx(to common.Address, value *big.Int, data []byte, op int, opts ...txOpt) safe.ServiceTx {
	d := hexutil.Encode(data)
	zero := common.Address{}.Hex()
	gt, rr := zero, zero
	s := safe.ServiceTx{
		To: to.Hex(), Value: json.RawMessage(`"` + value.String() + `"`), Data: &d,
		Operation: json.RawMessage(fmt.Sprint(op)), SafeTxGas: json.RawMessage(`0`), BaseGas: json.RawMessage(`0`),
		GasPrice: json.RawMessage(`"0"`), GasToken: &gt, RefundReceiver: &rr, Nonce: json.RawMessage(`7`),
	}
	for _, o := range opts {
		o(&s)
	}
	return s
}

func batch(calls ...safe.Inner) []byte { return safe.EncodeMultiSend(calls) }
func call(to common.Address, value int64, data []byte) safe.Inner {
	return safe.Inner{Operation: safe.Call, To: to, Value: big.NewInt(value), Data: data}
}

var eth = func(milli int64) *big.Int { return new(big.Int).Mul(big.NewInt(milli), big.NewInt(1e15)) }

func TestBenignApproved(t *testing.T) {
	for name, tx := range map[string]safe.ServiceTx{
		"USDC transfer":              stx(usdc, new(big.Int), transfer(friend, 100e6), 0),
		"ETH transfer":               stx(friend, eth(500), nil, 0),
		"exactly the per-tx limit":   stx(usdc, new(big.Int), transfer(friend, 1000e6), 0),
		"approval within the max":    stx(usdc, new(big.Int), approve(friend, big.NewInt(500e6)), 0),
		"batch through CallOnly":     stx(callOnly, new(big.Int), batch(call(usdc, 0, transfer(friend, 100e6)), call(friend, 100e15, nil)), 1),
		"numbers as JSON numbers":    stx(friend, eth(1), nil, 0, func(s *safe.ServiceTx) { s.Value = json.RawMessage(`1000000000000000`) }),
		"revoking an approval (0)":   stx(usdc, new(big.Int), approve(attacker, new(big.Int)), 0),
		"lower-case address fields":  stx(friend, eth(1), nil, 0, func(s *safe.ServiceTx) { s.To = strings.ToLower(friend.Hex()) }),
		"supplied hash that matches": withHash(stx(friend, eth(2), nil, 0)),
	} {
		t.Run(name, func(t *testing.T) {
			d, err := reviewer(t, false).Review(context.Background(), safeAddr, tx)
			if err != nil {
				t.Fatal(err)
			}
			if d.Decision != cosigner.Approve {
				t.Fatalf("%s: %v", d.Decision, d.Reasons)
			}
		})
	}
}

func withHash(s safe.ServiceTx) safe.ServiceTx {
	tx, err := s.Tx(chainID, safeAddr, version)
	if err != nil {
		panic(err)
	}
	h, _ := tx.Hash(version)
	s.SafeTxHash = h.Hex()
	return s
}

// TestAttacksRefused: each class the issue lists, in several variants. The
// answer is reject with a reason naming what was wrong, never approve.
// attack is one transaction an attacker proposes, and the reason its
// refusal must name.
type attack struct {
	name string
	tx   safe.ServiceTx
	want string // in one of the reasons
}

func attacks() []attack {
	selfCall := func(sig string, args ...[]byte) []byte { return cat(append([][]byte{sel(sig)}, args...)...) }
	good := call(usdc, 0, transfer(friend, 100e6))
	return []attack{
		// Delegatecall to anything but the allowed MultiSendCallOnly (Bybit).
		{"delegatecall to an attacker contract", stx(attacker, new(big.Int), sel("sweepETH(address)"), 1), "safe.delegatecall"},
		{"delegatecall to MultiSend (not CallOnly)", stx(multiSend, new(big.Int), batch(good), 1), "safe.delegatecall"},
		{"delegatecall to the token", stx(usdc, new(big.Int), transfer(friend, 1), 1), "safe.delegatecall"},
		{"delegatecall with a Bybit-style transfer(address,uint256) payload", stx(attacker, new(big.Int), transfer(attacker, 0), 1), "safe.delegatecall"},
		// Batches hiding one bad call, nesting, inner delegatecalls.
		{"batch: one transfer to the attacker among good ones", stx(callOnly, new(big.Int), batch(good, call(usdc, 0, transfer(attacker, 1e6)), good), 1), "recipients.allow"},
		{"batch: ETH to the attacker last", stx(callOnly, new(big.Int), batch(good, call(attacker, 1, nil)), 1), "recipients.allow"},
		{"batch: inner delegatecall to the attacker", stx(callOnly, new(big.Int), batch(good, safe.Inner{Operation: safe.DelegateCall, To: attacker, Value: new(big.Int), Data: []byte{1, 2, 3, 4}}), 1), "delegatecall"},
		{"batch: nested batch", stx(callOnly, new(big.Int), batch(good, safe.Inner{Operation: safe.DelegateCall, To: callOnly, Value: new(big.Int), Data: batch(good)}), 1), "inner call"},
		{"batch: inner call to the Safe adding an owner", stx(callOnly, new(big.Int), batch(good, call(safeAddr, 0, selfCall("addOwnerWithThreshold(address,uint256)", w(attacker), w(int64(1))))), 1), "safe.self_calls"},
		{"batch: zero address means the Safe itself", stx(callOnly, new(big.Int), batch(good, call(common.Address{}, 0, selfCall("changeThreshold(uint256)", w(int64(1))))), 1), "safe.self_calls"},
		{"batch over the limit in sum", stx(callOnly, new(big.Int), batch(call(usdc, 0, transfer(friend, 600e6)), call(usdc, 0, transfer(friend, 600e6))), 1), "limits.per_tx"},
		// Owner, threshold, module, guard and fallback-handler changes.
		{"addOwnerWithThreshold", stx(safeAddr, new(big.Int), selfCall("addOwnerWithThreshold(address,uint256)", w(attacker), w(int64(1))), 0), "safe.self_calls"},
		{"removeOwner", stx(safeAddr, new(big.Int), selfCall("removeOwner(address,address,uint256)", w(common.HexToAddress("0x1")), w(friend), w(int64(1))), 0), "safe.self_calls"},
		{"swapOwner", stx(safeAddr, new(big.Int), selfCall("swapOwner(address,address,address)", w(common.HexToAddress("0x1")), w(friend), w(attacker)), 0), "safe.self_calls"},
		{"changeThreshold", stx(safeAddr, new(big.Int), selfCall("changeThreshold(uint256)", w(int64(1))), 0), "safe.self_calls"},
		{"enableModule", stx(safeAddr, new(big.Int), selfCall("enableModule(address)", w(attacker)), 0), "safe.self_calls"},
		{"setGuard", stx(safeAddr, new(big.Int), selfCall("setGuard(address)", w(attacker)), 0), "safe.self_calls"},
		{"setFallbackHandler", stx(safeAddr, new(big.Int), selfCall("setFallbackHandler(address)", w(attacker)), 0), "safe.self_calls"},
		{"approveHash of another transaction", stx(safeAddr, new(big.Int), selfCall("approveHash(bytes32)", w(int64(99))), 0), "safe.self_calls"},
		{"unknown function on the Safe", stx(safeAddr, new(big.Int), []byte{0xde, 0xad, 0xbe, 0xef}, 0), "safe.self_calls"},
		// Gas refunds to an attacker.
		{"gasPrice refund", stx(friend, eth(1), nil, 0, func(s *safe.ServiceTx) { s.GasPrice = json.RawMessage(`"1"`) }), "safe.refund"},
		{"gas token", stx(friend, eth(1), nil, 0, func(s *safe.ServiceTx) { a := usdc.Hex(); s.GasToken = &a }), "safe.refund"},
		{"refund receiver", stx(friend, eth(1), nil, 0, func(s *safe.ServiceTx) { a := attacker.Hex(); s.RefundReceiver = &a }), "safe.refund"},
		// Approvals.
		{"unlimited approval", stx(usdc, new(big.Int), approve(friend, maxU256), 0), "approvals.unlimited"},
		{"approval one unit over the max", stx(usdc, new(big.Int), approve(friend, big.NewInt(500e6+1)), 0), "approvals.max"},
		{"increaseAllowance", stx(usdc, new(big.Int), cat(sel("increaseAllowance(address,uint256)"), w(friend), w(int64(1))), 0), "increaseAllowance"},
		{"setApprovalForAll", stx(usdc, new(big.Int), cat(sel("setApprovalForAll(address,bool)"), w(friend), w(true)), 0), "approvals"},
		{"Permit2 approve unlimited", stx(permit2, new(big.Int), cat(sel("approve(address,address,uint160,uint48)"), w(usdc), w(attacker), w(new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 160), big.NewInt(1))), w(int64(0))), 0), "approvals.unlimited"},
		{"approval to the attacker", stx(usdc, new(big.Int), approve(attacker, big.NewInt(1)), 0), "spender"},
		// ETH along with a token call.
		{"ETH sent with a token transfer", stx(usdc, big.NewInt(1), transfer(friend, 1e6), 0), "contracts"},
		// Limits by one base unit.
		{"USDC one base unit over per-tx", stx(usdc, new(big.Int), transfer(friend, 1000e6+1), 0), "limits.per_tx"},
		{"ETH one wei over per-tx", stx(friend, new(big.Int).Add(eth(1000), big.NewInt(1)), nil, 0), "limits.per_tx"},
		// Recipients.
		{"USDC to a recipient not allowed", stx(usdc, new(big.Int), transfer(attacker, 1), 0), "recipients.allow"},
		{"ETH to a recipient not allowed", stx(attacker, big.NewInt(1), nil, 0), "recipients.allow"},
		// Hashes and chains.
		{"supplied hash for other fields", func() safe.ServiceTx {
			s := withHash(stx(friend, eth(1), nil, 0))
			s.Value = json.RawMessage(`"2000000000000000000"`)
			return s
		}(), "supplied safeTxHash"},
		{"supplied hash computed for another chain", func() safe.ServiceTx {
			s := stx(friend, eth(1), nil, 0)
			tx, _ := s.Tx(big.NewInt(1), safeAddr, version)
			h, _ := tx.Hash(version)
			s.SafeTxHash = h.Hex()
			return s
		}(), "supplied safeTxHash"},
		// Non-canonical ABI.
		{"dirty high bits in the recipient", stx(usdc, new(big.Int), cat(sel("transfer(address,uint256)"), append([]byte{0xff}, w(friend)[1:]...), w(int64(1))), 0), "decoded"},
		{"trailing bytes", stx(usdc, new(big.Int), append(transfer(friend, 1), 0), 0), "decoded"},
		{"short calldata", stx(usdc, new(big.Int), transfer(friend, 1)[:40], 0), "decoded"},
		{"three-byte calldata", stx(friend, new(big.Int), []byte{1, 2, 3}, 0), "decoded"},
		{"MultiSend batch with trailing garbage", stx(callOnly, new(big.Int), append(batch(good), 1), 1), "decoded"},
		{"MultiSend batch with operation 2", stx(callOnly, new(big.Int), func() []byte { b := batch(good); b[4+64] = 2; return b }(), 1), "decoded"},
		// Unknown contracts with arbitrary data.
		{"unknown contract call", stx(attacker, new(big.Int), []byte{0x12, 0x34, 0x56, 0x78, 0}, 0), "contracts"},
		{"unknown function on the token", stx(usdc, new(big.Int), cat(sel("mint(address,uint256)"), w(attacker), w(int64(1))), 0), "contracts"},
	}
}

func TestAttacksRefused(t *testing.T) {
	cases := attacks()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := reviewer(t, true).Review(context.Background(), safeAddr, tc.tx)
			if err != nil {
				t.Fatalf("error instead of a decision: %v", err)
			}
			if d.Decision != cosigner.Reject || d.Signature != "" {
				t.Fatalf("decision %s (signature %q)", d.Decision, d.Signature)
			}
			if !strings.Contains(strings.Join(d.Reasons, "\n"), tc.want) || len(d.Reasons) == 0 {
				t.Errorf("reasons %q lack %q", d.Reasons, tc.want)

			}
		})
	}
}

// TestSignedOnce: an approval is signed by the owner key, the signature is
// what the Safe verifies (EOA, v 27/28, recovering to the owner), and a
// second review returns the same decision and signature, not a new one.
func TestSignedOnce(t *testing.T) {
	r := reviewer(t, true)
	tx := stx(usdc, new(big.Int), transfer(friend, 100e6), 0)
	d1, err := r.Review(context.Background(), safeAddr, tx)
	if err != nil || d1.Decision != cosigner.Approve || d1.Signature == "" {
		t.Fatalf("first review: %+v %v", d1, err)
	}
	sig := hexutil.MustDecode(d1.Signature)
	owner, kind, err := safe.Recover(common.HexToHash(d1.SafeTxHash), sig)
	s, _ := evm.NewKeySigner(ownerKey)
	if err != nil || owner != s.Address() || kind != safe.EOA {
		t.Fatalf("signature recovers to %s (%s, %v), want the owner %s", owner.Hex(), kind, err, s.Address().Hex())
	}
	d2, err := r.Review(context.Background(), safeAddr, tx)
	if err != nil || d2.Signature != d1.Signature || d2.Decision != cosigner.Approve {
		t.Fatalf("second review: %+v %v", d2, err)
	}
}

func TestBadInput(t *testing.T) {
	r := reviewer(t, false)
	for name, tx := range map[string]safe.ServiceTx{
		"missing nonce":  stx(friend, eth(1), nil, 0, func(s *safe.ServiceTx) { s.Nonce = nil }),
		"negative value": stx(friend, eth(1), nil, 0, func(s *safe.ServiceTx) { s.Value = json.RawMessage(`"-1"`) }),
		"operation 2":    stx(friend, eth(1), nil, 2),
		"bad checksum":   stx(friend, eth(1), nil, 0, func(s *safe.ServiceTx) { s.To = "0x000000000000000000000000000000000000BeEF" }),
		"odd hex data":   stx(friend, eth(1), nil, 0, func(s *safe.ServiceTx) { d := "0x123"; s.Data = &d }),
		"value above uint256": stx(friend, eth(1), nil, 0, func(s *safe.ServiceTx) {
			s.Value = json.RawMessage(`"` + new(big.Int).Lsh(big.NewInt(1), 256).String() + `"`)
		}),
		"missing gas token":    stx(friend, eth(1), nil, 0, func(s *safe.ServiceTx) { s.GasToken = nil }),
		"float value":          stx(friend, eth(1), nil, 0, func(s *safe.ServiceTx) { s.Value = json.RawMessage(`1.5`) }),
		"leading zero nonce":   stx(friend, eth(1), nil, 0, func(s *safe.ServiceTx) { s.Nonce = json.RawMessage(`"07"`) }),
		"another Safe's field": stx(friend, eth(1), nil, 0, func(s *safe.ServiceTx) { s.Safe = attacker.Hex() }),
	} {
		_, err := r.Review(context.Background(), safeAddr, tx)
		var ie *cosigner.InputError
		if err == nil || !errorsAs(err, &ie) {
			t.Errorf("%s: %v, want an InputError", name, err)
		}
	}
	if _, err := r.Review(context.Background(), attacker, stx(friend, eth(1), nil, 0)); err == nil {
		t.Error("a Safe not configured was reviewed")
	}
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

func zeroInt() *big.Int { return new(big.Int) }

// With refunds allowed, a refund is a payment: its most (safeTxGas +
// overhead + baseGas) × gasPrice counts against the gas token's limits,
// the receiver is held to the recipient lists, and an unbounded one
// (safeTxGas 0) is refused.
func TestRefundsArePayments(t *testing.T) {
	y := strings.Replace(policyYAML, "refund: false", "refund: true", 1)
	p, err := policies.Parse([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	r := cosigner.New(chainID, policies.NewEngine(p, policies.NewMemLedger()), cosigner.WithSafe(safeAddr, version))
	refund := func(gasToken, receiver common.Address, safeTxGas, baseGas, price string) safe.ServiceTx {
		return stx(friend, eth(1), nil, 0, func(s *safe.ServiceTx) {
			gt, rr := gasToken.Hex(), receiver.Hex()
			s.GasToken, s.RefundReceiver = &gt, &rr
			s.SafeTxGas, s.BaseGas, s.GasPrice = json.RawMessage(safeTxGas), json.RawMessage(baseGas), json.RawMessage(price)
		})
	}
	for _, tc := range []struct {
		name string
		tx   safe.ServiceTx
		want string // "" approves
	}{
		{"small ETH refund to an allowed receiver", refund(common.Address{}, friend, "100000", "50000", `"1000000000"`), ""},
		{"USDC refund within limits", refund(usdc, friend, "100000", "0", `"1000"`), ""},
		{"refund to a stranger", refund(common.Address{}, attacker, "100000", "0", `"1000000000"`), "recipients.allow"},
		{"refund to whoever executes", refund(common.Address{}, common.Address{}, "100000", "0", `"1000000000"`), "whoever executes"},
		{"unbounded refund (safeTxGas 0)", refund(common.Address{}, friend, "0", "50000", `"1000000000"`), "no bound"},
		{"refund over the USDC limit", refund(usdc, friend, "100000", "9000000000", `"1"`), "limits.per_tx"},
		{"refund in a token not in the policy", refund(attacker, friend, "100000", "0", `"1"`), "not in tokens"},
	} {
		d, err := r.Review(context.Background(), safeAddr, tc.tx)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		reasons := strings.Join(d.Reasons, "; ")
		if tc.want == "" && d.Decision != cosigner.Approve {
			t.Errorf("%s: %s %s", tc.name, d.Decision, reasons)
		}
		if tc.want != "" && (d.Decision != cosigner.Reject || !strings.Contains(reasons, tc.want)) {
			t.Errorf("%s: %s %s, want a refusal naming %q", tc.name, d.Decision, reasons, tc.want)
		}
	}
}

// fixedNonce is a Safe that stays at nonce n (the test transactions' 7).
func fixedNonce(n uint64) cosigner.NonceReader {
	return func(context.Context, common.Address) (uint64, error) { return n, nil }
}
