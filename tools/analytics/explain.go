package analytics

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/policies"
	"github.com/mandatehq/mandate/tools"
)

var txHashRe = regexp.MustCompile(`^0x[0-9a-fA-F]{64}$`)

// knownFunctions names common functions by selector, for calls no decoder
// reads in full. A selector is 4 bytes of a hash: another function may
// share it, so the name is what the call most likely is, and is said so.
var knownFunctions = func() map[[4]byte]string {
	m := map[[4]byte]string{}
	for _, sig := range []string{
		"transferFrom(address,address,uint256)",
		"deposit()", "withdraw(uint256)",
		"multicall(uint256,bytes[])", "multicall(bytes[])", "multicall(bytes32,bytes[])",
		"exactInputSingle((address,address,uint24,address,uint256,uint256,uint160))",
		"exactInput((bytes,address,uint256,uint256))",
		"exactOutputSingle((address,address,uint24,address,uint256,uint256,uint160))",
		"exactOutput((bytes,address,uint256,uint256))",
		"swapExactTokensForTokens(uint256,uint256,address[],address,uint256)",
		"swapExactTokensForTokens(uint256,uint256,address[],address)",
		"swapTokensForExactTokens(uint256,uint256,address[],address,uint256)",
		"swapExactETHForTokens(uint256,address[],address,uint256)",
		"swapExactTokensForETH(uint256,uint256,address[],address,uint256)",
		"swapExactTokensForTokensSupportingFeeOnTransferTokens(uint256,uint256,address[],address,uint256)",
		"addLiquidity(address,address,uint256,uint256,uint256,uint256,address,uint256)",
		"addLiquidityETH(address,uint256,uint256,uint256,address,uint256)",
		"removeLiquidity(address,address,uint256,uint256,uint256,address,uint256)",
		"mint((address,address,uint24,int24,int24,uint256,uint256,uint256,uint256,address,uint256))",
		"createAndInitializePoolIfNecessary(address,address,uint24,uint160)",
		"increaseObservationCardinalityNext(uint16)",
		"unwrapWETH9(uint256,address)",
		"execTransaction(address,uint256,bytes,uint8,uint256,uint256,uint256,address,address,bytes)",
	} {
		var s [4]byte
		copy(s[:], crypto.Keccak256([]byte(sig)))
		m[s] = sig
	}
	return m
}()

// Explanation is tx_explain's answer.
type Explanation struct {
	Hash     string  `json:"hash"`
	Status   string  `json:"status"` // pending, success, reverted
	Block    uint64  `json:"block,omitempty"`
	From     string  `json:"from"`
	To       string  `json:"to,omitempty"`
	Created  string  `json:"created,omitempty"` // the contract a creation made
	ValueETH string  `json:"value_eth"`
	Nonce    uint64  `json:"nonce"`
	Kind     string  `json:"kind"` // eth_transfer, transfer, approve, swap, contract_call, contract_creation
	Call     string  `json:"call"` // what the call does, in words
	Selector string  `json:"selector,omitempty"`
	Function string  `json:"function,omitempty"` // a known signature with that selector
	GasLimit uint64  `json:"gas_limit"`
	GasUsed  uint64  `json:"gas_used,omitempty"`
	GasPrice string  `json:"gas_price_gwei,omitempty"` // effective
	FeeETH   string  `json:"fee_eth,omitempty"`
	Events   []Event `json:"events"`
}

func (k *kit) explain(ctx context.Context, a struct {
	Hash string `json:"hash"`
}) (tools.Result, error) {
	if err := k.ready(); err != nil {
		return tools.Result{}, err
	}
	const name = "tx_explain"
	if err := tools.Require(name, "hash", a.Hash); err != nil {
		return tools.Result{}, err
	}
	h := strings.TrimSpace(a.Hash)
	if !txHashRe.MatchString(h) {
		return tools.Result{}, tools.Argf(name, "hash %q is not a transaction hash: want 0x followed by 64 hex digits", a.Hash)
	}
	hash := common.HexToHash(h)
	tx, pending, err := k.c.TransactionByHash(ctx, hash)
	if errors.Is(err, ethereum.NotFound) {
		return tools.Result{}, tools.Argf(name, "transaction %s is not known to the node: check the hash, and that it was sent on chain %d", hash.Hex(), k.chain)
	}
	if err != nil {
		return tools.Result{}, err
	}
	x := Explanation{Hash: hash.Hex(), Status: "pending", Nonce: tx.Nonce(), GasLimit: tx.Gas(), ValueETH: policies.DecimalUnits(tx.Value(), 18), Events: []Event{}}
	from, err := types.Sender(types.LatestSignerForChainID(k.c.ChainID()), tx)
	if err != nil {
		return tools.Result{}, fmt.Errorf("transaction %s: its sender cannot be recovered: %w", hash.Hex(), err)
	}
	x.From = from.Hex()
	if tx.To() != nil {
		x.To = tx.To().Hex()
	}
	k.describeCall(ctx, &x, from, tx)

	var lines []string
	if !pending {
		rc, err := k.c.Receipt(ctx, hash)
		switch {
		case errors.Is(err, ethereum.NotFound):
			x.Status = "mined, receipt not available yet"
		case err != nil:
			return tools.Result{}, err
		default:
			x.Block, x.GasUsed = rc.BlockNumber.Uint64(), rc.GasUsed
			x.Status = "success"
			if rc.Status != types.ReceiptStatusSuccessful {
				x.Status = "reverted"
			}
			if rc.ContractAddress != (common.Address{}) && tx.To() == nil {
				x.Created = rc.ContractAddress.Hex()
			}
			if p := rc.EffectiveGasPrice; p != nil {
				fee := new(big.Int).Mul(p, new(big.Int).SetUint64(rc.GasUsed))
				x.GasPrice, x.FeeETH = policies.DecimalUnits(p, 9), policies.DecimalUnits(fee, 18)
			}
			for _, l := range rc.Logs {
				e := k.event(ctx, l)
				x.Events = append(x.Events, e)
				lines = append(lines, fmt.Sprintf("%d. %s", len(x.Events), e.Text))
			}
		}
	}

	where := "pending (not in a block yet)"
	switch {
	case x.Block != 0 && x.Status == "success":
		where = fmt.Sprintf("succeeded in block %d", x.Block)
	case x.Block != 0:
		where = fmt.Sprintf("REVERTED in block %d: nothing it did took effect, but its fee was paid", x.Block)
	case x.Status != "pending":
		where = x.Status
	}
	text := fmt.Sprintf("Transaction %s %s. %s.", x.Hash, where, x.Call)
	if x.Created != "" {
		text += " It created the contract " + x.Created + "."
	}
	if x.GasUsed > 0 {
		text += fmt.Sprintf(" Gas: %d used of %d", x.GasUsed, x.GasLimit)
		if x.FeeETH != "" {
			text += fmt.Sprintf(" at %s gwei, fee %s ETH", x.GasPrice, x.FeeETH)
		}
		text += "."
	}
	if len(lines) > 0 {
		text += fmt.Sprintf(" Events (%d):\n%s", len(lines), strings.Join(lines, "\n"))
	} else if x.Block != 0 {
		text += " No events."
	}
	return tools.Result{Text: text, Data: x}, nil
}

// describeCall puts what the transaction asks its target to do into x,
// in words: decoded with evm.DecodeCall for ETH and token transfers and
// approvals, with the router's DecodeSwap for SwapRouter02 swaps, and by a
// known selector otherwise.
func (k *kit) describeCall(ctx context.Context, x *Explanation, from common.Address, tx *types.Transaction) {
	value := tx.Value()
	withValue := ""
	if value.Sign() > 0 {
		withValue = fmt.Sprintf(", sending %s ETH along", policies.FormatUnits(value, 18))
	}
	if tx.To() == nil {
		x.Kind = "contract_creation"
		x.Call = fmt.Sprintf("%s deployed a contract (%d bytes of creation code)%s", k.name(from), len(tx.Data()), withValue)
		return
	}
	to := *tx.To()
	data := tx.Data()
	var target tokenMeta
	if len(data) >= 4 {
		target = k.meta(ctx, to)
	}
	lookup := func(addr string) (policies.Token, bool) {
		if addr == "" {
			return policies.Token{Symbol: "ETH", Decimals: 18}, true
		}
		if common.HexToAddress(addr) == to && target.Known {
			return policies.Token{Symbol: target.Symbol, Decimals: target.Decimals}, true
		}
		return policies.Token{}, false
	}
	call := policies.Call{To: to.Hex(), Value: value, Data: data}
	in, err := evm.DecodeCall(k.c.Chain(), from.Hex(), call, lookup)
	if err != nil {
		var de *evm.DecodeError
		x.Kind = "contract_call"
		if errors.As(err, &de) {
			x.Call = fmt.Sprintf("%s called %s with a malformed %s call (%s)%s", k.name(from), k.name(to), de.Function, de.Reason, withValue)
		} else {
			x.Call = fmt.Sprintf("%s called %s with data that cannot be read (%v)%s", k.name(from), k.name(to), oneLine(err), withValue)
		}
		return
	}
	switch it := in.(type) {
	case policies.Transfer:
		if it.Token.Native() {
			x.Kind = "eth_transfer"
			x.Call = fmt.Sprintf("%s sent %s ETH to %s", k.name(from), policies.FormatUnits(it.Amount, 18), k.name(common.HexToAddress(it.To)))
			return
		}
		x.Kind, x.Selector, x.Function = "transfer", "0xa9059cbb", "transfer(address,uint256)"
		x.Call = fmt.Sprintf("%s called transfer on %s: send %s to %s", k.name(from), target.label(), target.amount(it.Amount), k.name(common.HexToAddress(it.To)))
		return
	case policies.Approve:
		x.Kind, x.Selector = "approve", "0x"+hex.EncodeToString(data[:4])
		tok := k.meta(ctx, common.HexToAddress(it.Token.Address))
		what := tok.amount(it.Amount)
		if it.Unlimited {
			what = "an unlimited amount of " + tok.label()
		}
		switch it.Method {
		case policies.MethodSetApprovalForAll:
			what = "every token of " + tok.label()
			if it.Amount.Sign() == 0 {
				x.Call = fmt.Sprintf("%s revoked %s's approval for all tokens of %s", k.name(from), k.name(common.HexToAddress(it.Spender)), tok.label())
				return
			}
		case policies.MethodPermit2:
			what += fmt.Sprintf(" through Permit2, until %s", time.Unix(int64(it.Expiration), 0).UTC().Format(time.RFC3339))
		}
		x.Call = fmt.Sprintf("%s approved %s to spend %s (%s)", k.name(from), k.name(common.HexToAddress(it.Spender)), what, it.Method)
		return
	}
	// A call no intent decoder reads: a swap through the router, or a
	// function known by its selector.
	x.Kind, x.Selector = "contract_call", "0x"+hex.EncodeToString(data[:min(4, len(data))])
	if k.cfg.router.Address == to && k.cfg.router.Address != (common.Address{}) {
		if sc, err := k.cfg.router.DecodeSwap(call); err == nil {
			x.Kind = "swap"
			x.Call = fmt.Sprintf("%s swapped through %s: %s for at least %s, along %s, paid to %s, deadline %s",
				k.name(from), k.name(to), k.swapAmount(ctx, sc.TokenIn, sc.AmountIn), k.swapAmount(ctx, sc.TokenOut, sc.MinOut),
				k.path(ctx, sc.Path), k.name(sc.Recipient), time.Unix(sc.Deadline, 0).UTC().Format(time.RFC3339))
			return
		}
	}
	var sel [4]byte
	copy(sel[:], data)
	fn := "an unknown function"
	if len(data) < 4 {
		fn = "no function"
	} else if sig, ok := knownFunctions[sel]; ok {
		x.Function = sig
		fn = "what is most likely " + sig
	}
	x.Call = fmt.Sprintf("%s called %s (selector %s) on %s%s", k.name(from), fn, x.Selector, k.name(to), withValue)
}

// swapAmount writes an amount of a swap's token; the zero address is ETH.
func (k *kit) swapAmount(ctx context.Context, token common.Address, v *big.Int) string {
	if token == (common.Address{}) {
		return policies.FormatUnits(v, 18) + " ETH"
	}
	return k.meta(ctx, token).amount(v)
}

func (k *kit) path(ctx context.Context, p []common.Address) string {
	s := make([]string, len(p))
	for i, a := range p {
		s[i] = k.meta(ctx, a).label()
	}
	return strings.Join(s, " → ")
}
