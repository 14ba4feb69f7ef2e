package analytics

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum/common"

	"github.com/mandatehq/mandate/chains/evm/uniswap"
	"github.com/mandatehq/mandate/policies"
	"github.com/mandatehq/mandate/tools"
	"github.com/mandatehq/mandate/tools/wallet"
)

// quoter is a price source that can say more than a price: the pools,
// window and spot price behind it, at a given block (uniswap.PriceSource).
type quoter interface {
	QuoteAt(ctx context.Context, block uint64, t policies.Token) (uniswap.USDQuote, error)
}

// errNoPriceSource is the answer of the price tools when nothing can price.
var errNoPriceSource = errors.New("no price source is configured: give the tools Uniswap factories and a token list with USDC, USDT or DAI on this chain, or a price source")

// TokenPrice is token_price's answer. USD amounts are decimal strings
// rounded to the micro-USD.
type TokenPrice struct {
	Token     string    `json:"token"`
	Address   string    `json:"address,omitempty"`
	USD       string    `json:"usd"`            // per whole token
	Spot      string    `json:"spot,omitempty"` // the same pools' prices at Block
	Source    string    `json:"source"`
	Pegged    bool      `json:"pegged,omitempty"`
	Window    uint32    `json:"twap_seconds,omitempty"`           // the TWAP window used
	Requested uint32    `json:"twap_seconds_requested,omitempty"` // the window asked for
	Block     uint64    `json:"block,omitempty"`
	Pools     []PoolLeg `json:"pools,omitempty"`
	quote     *uniswap.USDQuote
	price     policies.Price
}

// PoolLeg is one pool a price passed through.
type PoolLeg struct {
	Pool       string `json:"pool"`
	FeePercent string `json:"fee_percent"`
	Window     uint32 `json:"twap_seconds"`
	MeanTick   int32  `json:"mean_tick"`
	Tick       int32  `json:"tick"`
}

// priceOf prices t with the configured source, in as much detail as it
// gives, at block when the source can price at a given block (a quoter).
func (k *kit) priceOf(ctx context.Context, block uint64, t policies.Token) (TokenPrice, error) {
	out := TokenPrice{Token: t.Symbol, Address: t.Address}
	if k.cfg.prices == nil {
		return out, errNoPriceSource
	}
	if q, ok := k.cfg.prices.(quoter); ok {
		uq, err := q.QuoteAt(ctx, block, t)
		if err != nil {
			return out, err
		}
		out.quote, out.price = &uq, uq.Price()
		out.USD, out.Spot, out.Source, out.Pegged, out.Block = usdData(uq.USD), usdData(uq.Spot), uq.Source, uq.Pegged, uq.Block
		if !uq.Pegged {
			out.Window, out.Requested = uq.Window, uq.Requested
		}
		for _, l := range uq.Legs {
			out.Pools = append(out.Pools, PoolLeg{Pool: l.Pool.Hex(), FeePercent: feePercent(l.Fee), Window: l.Window, MeanTick: l.MeanTick, Tick: l.Tick})
		}
		return out, nil
	}
	p, err := k.cfg.prices.PriceUSD(ctx, k.c.Chain(), t)
	if err != nil {
		return out, err
	}
	if p.USD == nil {
		return out, fmt.Errorf("the price source gave no price for %s", t.Symbol)
	}
	out.price, out.USD, out.Source = p, usdData(p.USD), p.Source
	return out, nil
}

func (k *kit) price(ctx context.Context, a struct {
	Token string `json:"token"`
}) (tools.Result, error) {
	if err := k.ready(); err != nil {
		return tools.Result{}, err
	}
	const name = "token_price"
	if err := tools.Require(name, "token", a.Token); err != nil {
		return tools.Result{}, err
	}
	t, err := k.resolve(ctx, name, "token", a.Token)
	if err != nil {
		return tools.Result{}, err
	}
	head, err := k.c.BlockNumber(ctx)
	if err != nil {
		return tools.Result{}, err
	}
	p, err := k.priceOf(ctx, head, t)
	if err != nil {
		return tools.Result{}, err
	}
	label := k.tokenLabel(ctx, t)
	text := fmt.Sprintf("%s: %s (%s).", label, usdText(p.price.USD), p.Source)
	if q := p.quote; q != nil && !q.Pegged {
		text = fmt.Sprintf("%s: %s, the %ds time-weighted average at block %d (%s); spot price of the same pools now: %s.",
			label, usdText(q.USD), q.Window, q.Block, q.Source, usdText(q.Spot))
	}
	return tools.Result{Text: text, Data: p}, nil
}

// tokenLabel names a resolved token in text: ETH, a listed symbol, or an
// unlisted token's symbol quoted with its address.
func (k *kit) tokenLabel(ctx context.Context, t policies.Token) string {
	if t.Native() {
		return wallet.NativeSymbol
	}
	return k.meta(ctx, common.HexToAddress(t.Address)).label()
}

// Holding is one line of wallet_portfolio.
type Holding struct {
	Token    string `json:"token"`
	Address  string `json:"address,omitempty"`
	Amount   string `json:"amount"` // token units, exact
	Base     string `json:"base"`   // base units
	Decimals uint8  `json:"decimals"`
	PriceUSD string `json:"price_usd,omitempty"` // per whole token
	ValueUSD string `json:"value_usd,omitempty"`
	Source   string `json:"source,omitempty"`
	NoPrice  string `json:"no_price,omitempty"` // why there is no price
}

// Portfolio is wallet_portfolio's answer. USD amounts are decimal strings
// rounded to the micro-USD; TotalUSD is the exact sum rounded once.
type Portfolio struct {
	Address  string    `json:"address"`
	Block    uint64    `json:"block"` // prices read at this block (balances at the latest)
	Holdings []Holding `json:"holdings"`
	TotalUSD string    `json:"total_usd"`
	Unpriced int       `json:"unpriced"` // holdings without a price, not in the total
}

func (k *kit) portfolio(ctx context.Context, _ noArgs) (tools.Result, error) {
	if err := k.ready(); err != nil {
		return tools.Result{}, err
	}
	toks := []policies.Token{wallet.Native}
	for _, lt := range k.cfg.list.Tokens {
		if lt.ChainID == k.chain {
			toks = append(toks, policies.Token{Symbol: lt.Symbol, Address: common.HexToAddress(lt.Address).Hex(), Decimals: lt.Decimals})
		}
	}
	head, err := k.c.BlockNumber(ctx)
	if err != nil {
		return tools.Result{}, err
	}
	out := Portfolio{Address: k.addr.Hex(), Block: head, Holdings: []Holding{}}
	total := new(big.Rat)
	var lines []string
	for _, t := range toks {
		var bal *big.Int
		var err error
		if t.Native() {
			bal, err = k.c.Balance(ctx, k.addr)
		} else {
			bal, err = k.c.TokenBalance(ctx, common.HexToAddress(t.Address), k.addr)
		}
		if err != nil {
			return tools.Result{}, err
		}
		if bal.Sign() == 0 && !t.Native() {
			continue
		}
		h := Holding{Token: t.Symbol, Address: t.Address, Amount: policies.DecimalUnits(bal, t.Decimals), Base: bal.String(), Decimals: t.Decimals}
		line := policies.FormatUnits(bal, t.Decimals) + " " + t.Symbol
		if !t.Native() { // the list's decimals must be the contract's, or every amount is off by powers of ten
			if dec, err := k.c.Decimals(ctx, common.HexToAddress(t.Address)); err != nil || dec != t.Decimals {
				h.NoPrice = fmt.Sprintf("%s at %s reports %d decimals on chain but the token list says %d", t.Symbol, t.Address, dec, t.Decimals)
				if err != nil {
					h.NoPrice = fmt.Sprintf("%s at %s: decimals(): %v", t.Symbol, t.Address, oneLine(err))
				}
			}
		}
		if h.NoPrice == "" {
			p, err := k.priceOf(ctx, head, t)
			switch {
			case ctx.Err() != nil:
				return tools.Result{}, ctx.Err()
			case err != nil:
				h.NoPrice = oneLine(err)
			default:
				value := new(big.Rat).Mul(p.price.USD, new(big.Rat).SetFrac(bal, pow10(t.Decimals)))
				total.Add(total, value)
				h.PriceUSD, h.ValueUSD, h.Source = usdData(p.price.USD), usdData(value), p.Source
				line += " = " + usdText(value)
			}
		}
		if h.NoPrice != "" {
			out.Unpriced++
			line += ": no price (" + h.NoPrice + ")"
		}
		out.Holdings = append(out.Holdings, h)
		lines = append(lines, line)
	}
	out.TotalUSD = usdData(total)
	text := fmt.Sprintf("Portfolio of %s: %s. Total %s", k.addr.Hex(), strings.Join(lines, "; "), usdText(total))
	if out.Unpriced > 0 {
		text += fmt.Sprintf(", not counting %d holding(s) without a price", out.Unpriced)
	}
	return tools.Result{Text: text + ".", Data: out}, nil
}

func pow10(d uint8) *big.Int { return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d)), nil) }

// feePercent writes a fee in hundredths of a bip as a percentage: 500 →
// "0.05".
func feePercent(fee uint32) string {
	return policies.DecimalUnits(new(big.Int).SetUint64(uint64(fee)), 4)
}
