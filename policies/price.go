package policies

import (
	"context"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
)

// PriceSource gives USD prices for the policy's USD limits and ask
// threshold. Implementations live outside this package (an on-chain oracle,
// a DEX quote, a price API); errors must not carry API keys, since the engine
// logs them.
type PriceSource interface {
	// PriceUSD returns the USD price of one whole token t (not one base
	// unit) on chain, which is spelled as in Header.Chain.
	PriceUSD(ctx context.Context, chain string, t Token) (Price, error)
}

// Price is an exact USD price per whole token and where it came from, which
// the ledger keeps beside the decision it was used for.
type Price struct {
	USD    *big.Rat
	Source string
}

// pow10s caches 10^n for every token decimals value.
var pow10s = func() (t [78]*big.Int) {
	t[0] = big.NewInt(1)
	for i := 1; i < len(t); i++ {
		t[i] = new(big.Int).Mul(t[i-1], big.NewInt(10))
	}
	return t
}()

var microPerUSD = big.NewInt(1_000_000)

// bpsPerOne is how many basis points make the whole.
var bpsPerOne = big.NewInt(10_000)

// pricedTok is a token's price as one decision found it: each token is
// priced once per decision, however many checks need it (a swap's loss
// bound and the USD limits), so they judge by the same price.
type pricedTok struct {
	tok *engToken
	m   *priceMemo // nil when there is no usable price
	why string     // then why not, naming the token
}

// lookupPrice prices t once per decision. Without a usable price it
// returns nil and why: no source, the source's error, or a price that is
// not positive (which would value any amount at nothing).
func (c *check) lookupPrice(t *engToken) (*priceMemo, string) {
	for _, p := range c.priced {
		if p.tok == t {
			return p.m, p.why
		}
	}
	m, why := c.fetchPrice(t)
	c.priced = append(c.priced, pricedTok{tok: t, m: m, why: why})
	if m != nil {
		c.prices = append(c.prices, m.text)
	}
	return m, why
}

func (c *check) fetchPrice(t *engToken) (*priceMemo, string) {
	src := c.e.prices
	if src == nil {
		return nil, fmt.Sprintf("no USD price for %s on chain %s (no price source is configured)", t.symbol, t.chain)
	}
	tok := Token{Symbol: t.symbol, Address: t.address, Decimals: t.decimals}
	pr, err := src.PriceUSD(c.ctx, t.chain, tok)
	if err != nil {
		c.e.log.LogAttrs(c.ctx, slog.LevelWarn, "no USD price", slog.String("token", t.symbol), slog.String("chain", t.chain), slog.String("error", err.Error()))
		return nil, fmt.Sprintf("no USD price for %s on chain %s (the price source failed: %s)", t.symbol, t.chain, oneLine(err.Error()))
	}
	if pr.USD == nil || pr.USD.Sign() <= 0 {
		got := "no price"
		if pr.USD != nil {
			got = ratString(pr.USD) + " USD"
		}
		c.e.log.LogAttrs(c.ctx, slog.LevelWarn, "non-positive USD price", slog.String("token", t.symbol), slog.String("chain", t.chain), slog.String("source", pr.Source), slog.String("price", got))
		return nil, fmt.Sprintf("the price source %s gave %s for %s on chain %s, and a price must be positive", orQuoted(pr.Source), got, t.symbol, t.chain)
	}
	return t.priceMemo(pr), ""
}

// oneLine keeps a price source's error to one line of reasonable length:
// it goes into a reason, which is one line.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 300 {
		s = string(r[:300]) + "…"
	}
	return s
}

// loss applies swaps.max_loss_bps: the USD value of the swap's min-out, by
// the independent price source, may fall short of the USD value of its
// input by at most maxBps basis points. The comparison is exact; the values
// and the loss in the reason are rounded against the swap (input up,
// output down, loss up).
func (c *check) loss(s Swap, in, out *engToken, maxBps int32, pre string) {
	const rule = "swaps.max_loss_bps"
	if s.MinOut == nil || s.MinOut.Sign() <= 0 || s.AmountIn.Sign() == 0 {
		return // a zero min-out is denied by max_slippage_bps; nothing in, nothing lost
	}
	pin, whyIn := c.lookupPrice(in)
	pout, whyOut := c.lookupPrice(out)
	if pin == nil || pout == nil {
		why := whyIn
		switch {
		case c.e.prices == nil:
			why = fmt.Sprintf("no USD price for %s or %s on chain %s (no price source is configured)", in.symbol, out.symbol, in.chain)
		case pin != nil:
			why = whyOut
		case pout == nil && whyOut != whyIn:
			why += "; " + whyOut
		}
		c.deny(rule, pre, "%s, so the swap cannot be judged against an independent price, and swaps.max_loss_bps %d requires it", why, maxBps)
		return
	}
	// In micro-USD, the input is worth AmountIn·pin.num/pin.den and the
	// output MinOut·pout.num/pout.den; over the common denominator:
	vin := new(big.Int).Mul(s.AmountIn, pin.num)
	vin.Mul(vin, pout.den)
	vout := new(big.Int).Mul(s.MinOut, pout.num)
	vout.Mul(vout, pin.den)
	// Denied when vout < vin·(10000-max)/10000.
	lhs := new(big.Int).Mul(vout, bpsPerOne)
	rhs := new(big.Int).Mul(vin, big.NewInt(int64(10000-maxBps)))
	if lhs.Cmp(rhs) >= 0 {
		return
	}
	// The loss in bps, rounded up: ceil((vin-vout)·10000 / vin).
	lossBps := new(big.Int).Sub(vin, vout)
	lossBps.Mul(lossBps, bpsPerOne)
	if _, r := lossBps.QuoRem(lossBps, vin, new(big.Int)); r.Sign() > 0 {
		lossBps.Add(lossBps, big.NewInt(1))
	}
	sources := in.priceText(pin)
	if out != in {
		sources += "; " + out.priceText(pout)
	}
	c.deny(rule, pre, "min_out %s is worth %s and the input %s is worth %s by the independent price (%s): a loss of %s bps (%s%%), more than swaps.max_loss_bps %d",
		amt(out, s.MinOut), usdAmt(pout.microDown(s.MinOut)), amt(in, s.AmountIn), usdAmt(pin.micro(s.AmountIn)), sources,
		lossBps, FormatUnits(lossBps, 2), maxBps)
}

// microDown converts base units into micro-USD, rounded down: the value a
// swap's output is at least worth.
func (m *priceMemo) microDown(amount *big.Int) *big.Int {
	num := new(big.Int).Mul(amount, m.num)
	return num.Quo(num, m.den)
}

// priceText writes a price for a reason a person reads: exact when short,
// else to six decimals (a TWAP's exact value can run to hundreds of digits;
// the audit keeps it exact).
func (t *engToken) priceText(m *priceMemo) string {
	v := ratString(m.usd)
	if len(v) > 24 {
		v = "about " + m.usd.FloatString(6)
	}
	return fmt.Sprintf("%s %s USD by %s", t.symbol, v, m.source)
}
