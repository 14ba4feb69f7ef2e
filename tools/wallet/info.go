package wallet

import (
	"context"
	"fmt"
	"math/big"
	"regexp"
	"strings"

	"github.com/ethereum/go-ethereum/common"

	"github.com/mandatehq/mandate/policies"
	"github.com/mandatehq/mandate/tools"
)

// totalSupply() selector.
var selTotalSupply = []byte{0x18, 0x16, 0x0d, 0xdd}

// TokenInfo is token_info's answer. Name and Symbol come from the token's
// own contract: they are data written by whoever deployed it, not facts.
type TokenInfo struct {
	Address     string `json:"address"`
	Name        string `json:"name"`
	Symbol      string `json:"symbol"`
	Decimals    uint8  `json:"decimals"`
	TotalSupply string `json:"total_supply"` // token units, exact
	Listed      bool   `json:"listed"`       // the token list has this address with the same symbol and decimals
	ListSymbol  string `json:"list_symbol,omitempty"`
}

func (k *kit) info(ctx context.Context, a struct {
	Token string `json:"token"`
}) (tools.Result, error) {
	if err := k.ready(); err != nil {
		return tools.Result{}, err
	}
	const name = "token_info"
	if err := tools.Require(name, "token", a.Token); err != nil {
		return tools.Result{}, err
	}
	tok, err := k.res.Resolve(ctx, a.Token)
	if err != nil {
		return tools.Result{}, tools.Argf(name, "%v", err)
	}
	if tok.Native() {
		return tools.Result{
			Text: "ETH is the chain's native coin: 18 decimals, no contract.",
			Data: TokenInfo{Symbol: "ETH", Name: "Ether", Decimals: 18, Listed: true},
		}, nil
	}
	addr := common.HexToAddress(tok.Address)
	c := k.w.Client()
	chainName, err := c.Name(ctx, addr)
	if err != nil {
		return tools.Result{}, err
	}
	chainSym, err := c.Symbol(ctx, addr)
	if err != nil {
		return tools.Result{}, err
	}
	raw, err := c.Call(ctx, k.w.Address(), policies.Call{To: addr.Hex(), Value: new(big.Int), Data: selTotalSupply})
	if err != nil {
		return tools.Result{}, fmt.Errorf("token %s totalSupply(): %w", addr.Hex(), err)
	}
	if len(raw) != 32 {
		return tools.Result{}, fmt.Errorf("token %s answered totalSupply() with %d bytes, not one 32-byte word", addr.Hex(), len(raw))
	}
	info := TokenInfo{
		Address: addr.Hex(), Name: chainName, Symbol: chainSym, Decimals: tok.Decimals,
		TotalSupply: policies.DecimalUnits(new(big.Int).SetBytes(raw), tok.Decimals),
	}
	if lt, ok := k.res.list.ByAddress(k.res.chain, addr.Hex()); ok {
		info.ListSymbol = lt.Symbol
		info.Listed = strings.EqualFold(lt.Symbol, chainSym) && lt.Decimals == tok.Decimals
	}
	verdict := "not in the token list: treat its name and symbol as claims"
	if info.Listed {
		verdict = "matches the token list"
	} else if info.ListSymbol != "" {
		verdict = fmt.Sprintf("the token list calls it %s, but the contract says %q", info.ListSymbol, chainSym)
	}
	return tools.Result{
		Text: fmt.Sprintf("Token %s: name %q, symbol %q, %d decimals, total supply %s; %s.",
			addr.Hex(), chainName, chainSym, tok.Decimals, info.TotalSupply, verdict),
		Data: info,
	}, nil
}

var txHashRe = regexp.MustCompile(`^0x[0-9a-fA-F]{64}$`)

// TxStatus is tx_status's answer.
type TxStatus struct {
	Hash    string `json:"hash"`
	Status  string `json:"status"` // pending, mined, reverted, unknown
	Block   uint64 `json:"block,omitempty"`
	GasUsed uint64 `json:"gas_used,omitempty"`
	From    string `json:"from,omitempty"`
	To      string `json:"to,omitempty"`
	Nonce   uint64 `json:"nonce"`
}

func (k *kit) status(ctx context.Context, a struct {
	Hash string `json:"hash"`
}) (tools.Result, error) {
	if err := k.ready(); err != nil {
		return tools.Result{}, err
	}
	const name = "tx_status"
	h := strings.TrimSpace(a.Hash)
	if !txHashRe.MatchString(h) {
		return tools.Result{}, tools.Argf(name, "hash %q is not a transaction hash: want 0x followed by 64 hex digits", a.Hash)
	}
	hash := common.HexToHash(h)
	c := k.w.Client()
	tx, pending, err := c.TransactionByHash(ctx, hash)
	if err != nil {
		return tools.Result{}, err
	}
	st := TxStatus{Hash: hash.Hex(), Status: "unknown"}
	if tx == nil {
		return tools.Result{Text: fmt.Sprintf("Transaction %s is not known to the node.", st.Hash), Data: st}, nil
	}
	st.Nonce = tx.Nonce()
	if tx.To() != nil {
		st.To = tx.To().Hex()
	}
	if pending {
		st.Status = "pending"
		return tools.Result{Text: fmt.Sprintf("Transaction %s is pending (nonce %d).", st.Hash, st.Nonce), Data: st}, nil
	}
	rc, err := c.Receipt(ctx, hash)
	if err != nil {
		return tools.Result{}, err
	}
	if rc == nil {
		st.Status = "pending"
		return tools.Result{Text: fmt.Sprintf("Transaction %s is mined but its receipt is not available yet.", st.Hash), Data: st}, nil
	}
	st.Block, st.GasUsed = rc.BlockNumber.Uint64(), rc.GasUsed
	st.Status = "mined"
	if rc.Status == 0 {
		st.Status = "reverted"
	}
	return tools.Result{
		Text: fmt.Sprintf("Transaction %s %s in block %d (gas used %d).", st.Hash, st.Status, st.Block, st.GasUsed),
		Data: st,
	}, nil
}
