package analytics

import (
	"context"
	"fmt"
	"math/big"
	"sort"
	"strings"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/mandatehq/mandate/policies"
	"github.com/mandatehq/mandate/tools"
)

// historyLines is how many transfers wallet_history writes in its text;
// Data has them all.
const historyLines = 50

// TransferEntry is one ERC-20 transfer of wallet_history.
type TransferEntry struct {
	Block        uint64 `json:"block"`
	Tx           string `json:"tx"`
	LogIndex     uint   `json:"log_index"`
	Token        string `json:"token"` // listed symbol, or the contract's own (a claim: see Listed)
	TokenAddress string `json:"token_address"`
	Listed       bool   `json:"listed"`
	Direction    string `json:"direction"` // in, out, self
	Counterparty string `json:"counterparty"`
	Amount       string `json:"amount,omitempty"` // token units, exact; empty when decimals are unknown
	Base         string `json:"base"`             // base units
}

// TokenTotal sums one token's transfers.
type TokenTotal struct {
	Token        string `json:"token"`
	TokenAddress string `json:"token_address"`
	In           string `json:"in"`  // token units (base units when decimals are unknown)
	Out          string `json:"out"` //
	Count        int    `json:"count"`
}

// History is wallet_history's answer.
type History struct {
	Address   string          `json:"address"`
	FromBlock uint64          `json:"from_block"`
	ToBlock   uint64          `json:"to_block"`
	Transfers []TransferEntry `json:"transfers"`
	Totals    []TokenTotal    `json:"totals"`
	Skipped   int             `json:"skipped"` // Transfer events that are not ERC-20 transfers (NFTs)
}

func (k *kit) history(ctx context.Context, a struct {
	FromBlock blockArg `json:"from_block"`
	ToBlock   blockArg `json:"to_block"`
}) (tools.Result, error) {
	if err := k.ready(); err != nil {
		return tools.Result{}, err
	}
	const name = "wallet_history"
	head, err := k.c.BlockNumber(ctx)
	if err != nil {
		return tools.Result{}, err
	}
	from, to, err := k.blockRange(name, a.FromBlock, a.ToBlock, head)
	if err != nil {
		return tools.Result{}, err
	}
	me := common.BytesToHash(k.addr.Bytes())
	q := ethereum.FilterQuery{FromBlock: new(big.Int).SetUint64(from), ToBlock: new(big.Int).SetUint64(to)}
	// Two scans, since topic filters AND across positions: from the
	// wallet, then to it.
	outQ, inQ := q, q
	outQ.Topics = [][]common.Hash{{topicTransfer}, {me}}
	inQ.Topics = [][]common.Hash{{topicTransfer}, nil, {me}}
	var logs []types.Log
	for i, fq := range []ethereum.FilterQuery{outQ, inQ} {
		got, err := k.c.ScanLogs(ctx, fq, k.cfg.page, k.progressTo(name+[]string{" (transfers out)", " (transfers in)"}[i]))
		if err != nil {
			return tools.Result{}, err
		}
		logs = append(logs, got...)
	}
	sort.SliceStable(logs, func(i, j int) bool {
		if logs[i].BlockNumber != logs[j].BlockNumber {
			return logs[i].BlockNumber < logs[j].BlockNumber
		}
		return logs[i].Index < logs[j].Index
	})

	out := History{Address: k.addr.Hex(), FromBlock: from, ToBlock: to, Transfers: []TransferEntry{}, Totals: []TokenTotal{}}
	type total struct {
		in, out *big.Int
		n       int
		m       tokenMeta
	}
	totals := map[common.Address]*total{}
	var order []common.Address
	var lines []string
	seen := map[[2]any]bool{}
	for i := range logs {
		l := &logs[i]
		key := [2]any{l.TxHash, l.Index}
		if seen[key] || l.Removed { // a transfer to oneself matches both scans
			continue
		}
		seen[key] = true
		if len(l.Topics) != 3 || len(l.Data) != 32 { // ERC-721 Transfer: the id is a topic
			out.Skipped++
			continue
		}
		m := k.meta(ctx, l.Address)
		src, dst := topicAddress(l.Topics[1]), topicAddress(l.Topics[2])
		v := new(big.Int).SetBytes(l.Data)
		e := TransferEntry{Block: l.BlockNumber, Tx: l.TxHash.Hex(), LogIndex: l.Index, Token: m.Symbol, TokenAddress: l.Address.Hex(),
			Listed: m.Listed, Base: v.String()}
		if m.Known {
			e.Amount = policies.DecimalUnits(v, m.Decimals)
		}
		t, ok := totals[l.Address]
		if !ok {
			t = &total{in: new(big.Int), out: new(big.Int), m: m}
			totals[l.Address] = t
			order = append(order, l.Address)
		}
		t.n++
		var line string
		switch {
		case src == k.addr && dst == k.addr:
			e.Direction, e.Counterparty = "self", k.addr.Hex()
			line = fmt.Sprintf("block %d: %s to itself", l.BlockNumber, m.amount(v))
		case src == k.addr:
			e.Direction, e.Counterparty = "out", dst.Hex()
			t.out.Add(t.out, v)
			line = fmt.Sprintf("block %d: sent %s to %s", l.BlockNumber, m.amount(v), k.name(dst))
		default:
			e.Direction, e.Counterparty = "in", src.Hex()
			t.in.Add(t.in, v)
			line = fmt.Sprintf("block %d: received %s from %s", l.BlockNumber, m.amount(v), k.name(src))
		}
		out.Transfers = append(out.Transfers, e)
		lines = append(lines, line+" (tx "+l.TxHash.Hex()+")")
	}
	var sums []string
	for _, a := range order {
		t := totals[a]
		units := func(v *big.Int) string {
			if t.m.Known {
				return policies.DecimalUnits(v, t.m.Decimals)
			}
			return v.String()
		}
		out.Totals = append(out.Totals, TokenTotal{Token: t.m.Symbol, TokenAddress: a.Hex(), In: units(t.in), Out: units(t.out), Count: t.n})
		sums = append(sums, fmt.Sprintf("%s in, %s out", t.m.amount(t.in), t.m.amount(t.out)))
	}

	text := fmt.Sprintf("No ERC-20 transfers into or out of %s in blocks %d..%d.", k.addr.Hex(), from, to)
	if len(out.Transfers) > 0 {
		shown := lines
		more := ""
		if len(shown) > historyLines {
			shown, more = shown[:historyLines], fmt.Sprintf("\n… and %d more (all in the data)", len(lines)-historyLines)
		}
		text = fmt.Sprintf("%d ERC-20 transfers into or out of %s in blocks %d..%d. Totals: %s.\n%s%s",
			len(out.Transfers), k.addr.Hex(), from, to, strings.Join(sums, "; "), strings.Join(shown, "\n"), more)
	}
	if out.Skipped > 0 {
		text += fmt.Sprintf("\n(%d NFT transfers not listed.)", out.Skipped)
	}
	return tools.Result{Text: text, Data: out}, nil
}
