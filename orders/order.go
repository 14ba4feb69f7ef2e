// Package orders defines standing orders, the ones trading-bot users
// expect: limit orders, stop-losses and dollar-cost averaging; their
// triggers; and the Store that keeps them (memory.Store over the database,
// MemStore in memory). It is a leaf: the watcher that executes orders, and
// the order_place, order_list and order_cancel tools, are dex.Book.
package orders

import (
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/mandatehq/mandate/policies"
)

// Kind is what an order does.
type Kind string

const (
	// Limit swaps when the price reaches a level the owner wants: "buy WETH
	// with 1000 USDC when WETH <= 2800".
	Limit Kind = "limit"
	// Stop swaps when the price falls (or rises) through a level the owner
	// fears: "sell 1 ETH for USDC if ETH <= 2500". It executes exactly like a
	// limit order; the kind records the owner's intention.
	Stop Kind = "stop"
	// DCA swaps the same amount on a schedule: "100 USDC of WETH every day
	// for a week".
	DCA Kind = "dca"
)

// Status is where an order stands.
type Status string

const (
	Open      Status = "open"      // waiting for its trigger or next run
	Executing Status = "executing" // a run is being swapped; cancel waits for it
	Filled    Status = "filled"    // a limit or stop order that executed
	Done      Status = "done"      // a DCA order that ran all its runs
	Cancelled Status = "cancelled" // cancelled by the owner
	Failed    Status = "failed"    // its execution was refused or reverted; see Note
)

// Order is a standing order of one wallet on one chain.
type Order struct {
	ID    int64  `json:"id"`
	Chain string `json:"chain"` // the chain id, in decimal
	// Genesis is the hash of the chain's genesis block: two chains with one
	// id (a devnet restarted over the same database) are told apart by it,
	// and an order is listed and executed only on its own. Empty for an
	// order placed before orders recorded it, until a chain adopts it
	// (Store.Adopt).
	Genesis string `json:"genesis,omitempty"`
	Wallet  string `json:"wallet"`
	Kind    Kind   `json:"kind"`
	// From and To are the tokens as resolved when the order was placed.
	From policies.Token `json:"from"`
	To   policies.Token `json:"to"`
	// Amount is what each execution puts in, in base units of From.
	Amount *big.Int `json:"amount"`
	// Trigger is the canonical text of the condition: "ETH <= 2500",
	// "every 1d for 7".
	Trigger     string  `json:"trigger"`
	SlippageBps *uint32 `json:"slippage_bps,omitempty"`
	// Every and Runs are a DCA order's schedule; Done counts executions.
	Every time.Duration `json:"every,omitempty"`
	Runs  int           `json:"runs,omitempty"`
	Done  int           `json:"done"`
	// Attempt counts fresh tries of the next run after tries that sent
	// nothing (a node that was down): each try gets a key of its own,
	// since a key the ledger has seen once is never reused.
	Attempt int       `json:"attempt,omitempty"`
	NextAt  time.Time `json:"next_at"` // a DCA's next run; zero otherwise
	Status  Status    `json:"status"`
	Note    string    `json:"note,omitempty"` // the last execution's outcome or error
	LastTx  string    `json:"last_tx,omitempty"`

	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ChainKey names the order's chain the way the stores are asked for it:
// the chain id, "/", the genesis block's hash (as evm.Client.ChainKey
// does).
func (o Order) ChainKey() string { return ChainKey(o.Chain, o.Genesis) }

// ChainKey names a chain by id and genesis block hash.
func ChainKey(chain, genesis string) string { return chain + "/" + strings.ToLower(genesis) }

// ErrChainKey says a chain was named without its genesis block.
var ErrChainKey = errors.New("orders: a chain is named by its id and genesis block hash (\"1337/0x…\")")

// SplitChainKey returns the chain id and genesis hash of a ChainKey, the
// hash in lower case.
func SplitChainKey(key string) (chain, genesis string, err error) {
	chain, genesis, ok := strings.Cut(key, "/")
	if !ok || chain == "" || genesis == "" {
		return "", "", fmt.Errorf("%w: got %q", ErrChainKey, key)
	}
	return chain, strings.ToLower(genesis), nil
}

// Live reports whether the order may still execute: open, or in the
// middle of a run.
func (s Status) Live() bool { return s == Open || s == Executing }

// Key is the idempotency key of the order's next execution.
func (o Order) Key() string {
	if o.Attempt == 0 {
		return fmt.Sprintf("order-%d-%d", o.ID, o.Done+1)
	}
	return fmt.Sprintf("order-%d-%d.%d", o.ID, o.Done+1, o.Attempt)
}

// Condition is a price trigger: the price of Subject (one whole token of
// From or To) in whole units of the other token, compared with Level.
type Condition struct {
	Subject string // symbol as written, matched to From or To
	Op      string // <=, >=, <, >
	Level   *big.Rat
}

// Holds reports whether price satisfies the condition.
func (c Condition) Holds(price *big.Rat) bool {
	switch k := price.Cmp(c.Level); c.Op {
	case "<=":
		return k <= 0
	case ">=":
		return k >= 0
	case "<":
		return k < 0
	case ">":
		return k > 0
	}
	return false
}

func (c Condition) String() string {
	return fmt.Sprintf("%s %s %s", c.Subject, c.Op, TrimRat(c.Level))
}

// TrimRat writes an exact decimal without trailing zeros.
func TrimRat(r *big.Rat) string {
	s := r.FloatString(18)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

var (
	condRe     = regexp.MustCompile(`^\s*(?:price\s+of\s+|price\(\s*)?([A-Za-z0-9x.]+?)\s*\)?\s*(<=|>=|<|>|=<|=>)\s*([0-9][0-9_,]*(?:\.[0-9]+)?)\s*([A-Za-z0-9]+)?\s*$`)
	scheduleRe = regexp.MustCompile(`^\s*every\s+(?:(\d+)\s*)?([a-z]+)\s+(?:for\s+)?(\d+)\s*(?:times|runs|x)?\s*$`)
)

var intervalUnits = map[string]time.Duration{
	"m": time.Minute, "min": time.Minute, "mins": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hour": time.Hour, "hours": time.Hour, "hr": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
	"w": 7 * 24 * time.Hour, "week": 7 * 24 * time.Hour, "weeks": 7 * 24 * time.Hour,
}

// ErrTrigger says a trigger could not be read.
var ErrTrigger = errors.New("bad trigger")

// ParseCondition reads a limit or stop trigger: "ETH <= 2500",
// "WETH >= 3500.5", "price of ETH < 2000 USDC". The subject must be one of
// the order's two tokens; the level is the price of one whole subject
// token in whole units of the other; a trailing unit, when given, must be
// the other token.
func ParseCondition(s string, from, to policies.Token) (Condition, error) {
	m := condRe.FindStringSubmatch(s)
	if m == nil {
		return Condition{}, fmt.Errorf("%w %q: write the price of one of the two tokens against a level, e.g. \"%s <= 2500\" (the price of one %s in %s)", ErrTrigger, s, from.Symbol, from.Symbol, to.Symbol)
	}
	subj, op, lvl, unit := m[1], m[2], strings.NewReplacer("_", "", ",", "").Replace(m[3]), m[4]
	op = strings.NewReplacer("=<", "<=", "=>", ">=").Replace(op)
	var other policies.Token
	switch {
	case matches(subj, from):
		subj, other = from.Symbol, to
	case matches(subj, to):
		subj, other = to.Symbol, from
	default:
		return Condition{}, fmt.Errorf("%w %q: %s is neither %s nor %s; the trigger names the price of one of the order's tokens", ErrTrigger, s, subj, from.Symbol, to.Symbol)
	}
	if unit != "" && !matches(unit, other) {
		return Condition{}, fmt.Errorf("%w %q: a price of %s is in %s, not %s", ErrTrigger, s, subj, other.Symbol, unit)
	}
	level, ok := new(big.Rat).SetString(lvl)
	if !ok || level.Sign() <= 0 {
		return Condition{}, fmt.Errorf("%w %q: the level must be a positive number", ErrTrigger, s)
	}
	return Condition{Subject: subj, Op: op, Level: level}, nil
}

func matches(s string, t policies.Token) bool {
	return strings.EqualFold(s, t.Symbol) || (t.Address != "" && strings.EqualFold(s, t.Address))
}

// ParseSchedule reads a DCA trigger: "every 1d for 7", "every day for 7",
// "every 12h for 14 runs", "every 30m x 4".
func ParseSchedule(s string) (every time.Duration, runs int, err error) {
	m := scheduleRe.FindStringSubmatch(strings.ToLower(s))
	if m == nil {
		return 0, 0, fmt.Errorf("%w %q: write the interval and the number of runs, e.g. \"every 1d for 7\" or \"every 12h for 14\"", ErrTrigger, s)
	}
	n := 1
	if m[1] != "" {
		n, _ = strconv.Atoi(m[1])
	}
	u, ok := intervalUnits[m[2]]
	if !ok {
		return 0, 0, fmt.Errorf("%w %q: unknown interval unit %q; use m, h, d or w", ErrTrigger, s, m[2])
	}
	runs, _ = strconv.Atoi(m[3])
	every = time.Duration(n) * u
	switch {
	case every < time.Minute:
		return 0, 0, fmt.Errorf("%w %q: the interval must be at least a minute", ErrTrigger, s)
	case runs < 1 || runs > 1000:
		return 0, 0, fmt.Errorf("%w %q: the number of runs must be from 1 to 1000", ErrTrigger, s)
	}
	return every, runs, nil
}

// FormatEvery writes a DCA interval the way people write it: "1d", "12h",
// "90m", "2w".
func FormatEvery(d time.Duration) string {
	for _, u := range []struct {
		name string
		d    time.Duration
	}{{"w", 7 * 24 * time.Hour}, {"d", 24 * time.Hour}, {"h", time.Hour}} {
		if d%u.d == 0 {
			return strconv.FormatInt(int64(d/u.d), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
}

// FormatPrice writes a price for people: exact digits up to six decimals,
// trailing zeros dropped.
func FormatPrice(r *big.Rat) string {
	s := r.FloatString(6)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// Price is the execution price of swapping amountIn of from for out of to,
// as the price of one whole subject token in whole units of the other.
func Price(subject string, from, to policies.Token, amountIn, out *big.Int) *big.Rat {
	in := new(big.Rat).SetFrac(amountIn, pow10(from.Decimals))
	got := new(big.Rat).SetFrac(out, pow10(to.Decimals))
	if strings.EqualFold(subject, from.Symbol) {
		return got.Quo(got, in) // to per from
	}
	return in.Quo(in, got) // from per to
}

// PriceFromUSD is the price of one whole subject token (From or To) in
// whole units of the other, from each token's USD price per whole token
// (an oracle's, such as a TWAP). A trigger is checked against it beside
// Price, the executable one: a pool pushed for a block moves the quote,
// not a time-weighted average. Nil when a USD price is missing or not
// positive.
func PriceFromUSD(subject string, from, to policies.Token, fromUSD, toUSD *big.Rat) *big.Rat {
	if fromUSD == nil || toUSD == nil || fromUSD.Sign() <= 0 || toUSD.Sign() <= 0 {
		return nil
	}
	if strings.EqualFold(subject, from.Symbol) {
		return new(big.Rat).Quo(fromUSD, toUSD) // to per from
	}
	return new(big.Rat).Quo(toUSD, fromUSD) // from per to
}

func pow10(d uint8) *big.Int { return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d)), nil) }
