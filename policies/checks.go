package policies

import (
	"context"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"
)

// maxDepth bounds Safe transactions nested in Safe transactions: a Safe
// owning a Safe is plausible, a tower of them is an attack on the checker.
const maxDepth = 4

// check is one decision in progress: the fixed checks' findings, what the
// intent spends, and the limits the ledger must enforce.
type check struct {
	e       *Engine
	ctx     context.Context
	now     time.Time
	confirm bool // a person confirmed: skip the ask threshold

	reasons []Reason // why the intent is denied
	asks    []Reason // why a person must confirm

	spends    []spendAcc // per asset, summed over inner calls
	usd       *big.Int   // total value in micro-USD; nil when not priced
	limits    []Limit    // the windowed limits the ledger enforces
	limitToks []*engToken
	prices    []string
	priced    []pricedTok      // every token priced in this decision, once
	approvals []approvalCharge // the approvals charged as spends

	// Backing arrays for the common case (an intent spends one or two
	// assets), so a decision does not grow slices.
	spendsBuf    [2]spendAcc
	limitsBuf    [3]Limit
	ltoksBuf     [3]*engToken
	pricesBuf    [2]string
	pricedBuf    [2]pricedTok
	approvalsBuf [1]approvalCharge
}

type spendAcc struct {
	tok    *engToken
	amount *big.Int
}

// check runs the fixed checks and the rules over in.
func (e *Engine) check(ctx context.Context, in Intent, now time.Time, confirm bool) (*check, error) {
	c := &check{e: e, ctx: ctx, now: now, confirm: confirm}
	c.spends, c.limits, c.limitToks, c.prices = c.spendsBuf[:0], c.limitsBuf[:0], c.ltoksBuf[:0], c.pricesBuf[:0]
	c.priced = c.pricedBuf[:0]
	c.intent(in, "", 0)
	c.totals()
	if len(e.p.rules) > 0 {
		c.rules(in)
	}
	return c, ctx.Err()
}

func (c *check) deny(rule, prefix, format string, args ...any) {
	c.reasons = append(c.reasons, Reason{Rule: rule, Text: prefix + fmt.Sprintf(format, args...)})
}

// deref lets callers pass intents by pointer as well as by value.
func deref(in Intent) (Intent, bool) {
	switch v := in.(type) {
	case *Transfer:
		return derefPtr(v)
	case *Approve:
		return derefPtr(v)
	case *Swap:
		return derefPtr(v)
	case *ContractCall:
		return derefPtr(v)
	case *SafeTx:
		return derefPtr(v)
	}
	return in, in != nil
}

// ours reports whether in, dereferenced, is one of this package's intent
// types. A type of another package that embeds one of them has its
// methods too, and would pass for the intent it embeds, its own fields
// unseen; Marshal and Clone refuse it instead.
func ours(in Intent) bool {
	switch in.(type) {
	case Transfer, Approve, Swap, ContractCall, SafeTx:
		return true
	}
	return false
}

func derefPtr[T Intent](p *T) (Intent, bool) {
	if p == nil {
		return nil, false
	}
	return *p, true
}

func (c *check) intent(in Intent, pre string, depth int) {
	in, ok := deref(in)
	if !ok {
		c.deny("intent", pre, "the intent is empty")
		return
	}
	switch v := in.(type) {
	case Transfer:
		c.transfer(v, pre)
	case Approve:
		c.approve(v, pre, nil)
	case Swap:
		c.swap(v, pre)
	case ContractCall:
		c.call(v, pre)
	case SafeTx:
		c.safeTx(v, pre, depth)
	default: // unreachable: the set of intents is closed
		c.deny("intent", pre, "intent kind %q is unknown", in.Kind())
	}
}

// chain checks the intent's chain is in the policy.
func (c *check) chain(h Header, pre string) (family, bool) {
	fam, ok := c.e.p.families[h.Chain]
	if !ok {
		c.deny("chains", pre, "chain %s is not in chains", orQuoted(h.Chain))
	}
	return fam, ok
}

func orQuoted(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\n") {
		return fmt.Sprintf("%q", s)
	}
	return s
}

// token finds the asset in the policy; nil (with a reason) when it is not
// there or the intent disagrees about its decimals, which would make every
// amount comparison wrong.
func (c *check) token(chain string, t Token, role, pre string) *engToken {
	et := c.e.tokens[tokenKey{chain, addrKey(t.Address)}]
	if et == nil {
		c.deny("tokens", pre, "%s %s on chain %s is not in tokens", role, tokenName(t), orQuoted(chain))
		return nil
	}
	if t.Decimals != et.decimals {
		c.deny("tokens", pre, "%s %s has %d decimals in the intent but %d in the policy", role, et.symbol, t.Decimals, et.decimals)
		return nil
	}
	return et
}

func tokenName(t Token) string {
	switch {
	case t.Address == "" && t.Symbol == "":
		return "(native coin)"
	case t.Address == "":
		return t.Symbol
	case t.Symbol == "":
		return t.Address
	}
	return t.Symbol + " (" + t.Address + ")"
}

// recipient applies recipients.deny always and recipients.allow when present.
func (c *check) recipient(addr, role, pre string) {
	if addr == "" {
		c.deny("intent", pre, "the intent has no %s", role)
		return
	}
	k := addrKey(addr)
	if c.e.p.recipDeny[k] {
		c.deny("recipients.deny", pre, "%s %s is in recipients.deny", role, addr)
	}
	if allow := c.e.p.recipAllow; allow != nil && !allow[k] {
		c.deny("recipients.allow", pre, "%s %s is not in recipients.allow", role, addr)
	}
}

// amountOK refuses a missing or negative amount.
func (c *check) amountOK(v *big.Int, name, pre string) bool {
	switch {
	case v == nil:
		c.deny("intent", pre, "the intent has no %s", name)
		return false
	case v.Sign() < 0:
		c.deny("intent", pre, "%s %s is negative", name, v)
		return false
	case v.Cmp(maxUint256) > 0:
		c.deny("intent", pre, "%s is larger than 2^256-1", name)
		return false
	}
	return true
}

// spend adds amount of tok to what the intent spends.
func (c *check) spend(tok *engToken, amount *big.Int) {
	if amount.Sign() == 0 {
		return
	}
	for i := range c.spends {
		if c.spends[i].tok == tok {
			c.spends[i].amount = new(big.Int).Add(c.spends[i].amount, amount)
			return
		}
	}
	c.spends = append(c.spends, spendAcc{tok, amount})
}

func amt(tok *engToken, v *big.Int) string {
	return FormatUnits(v, tok.decimals) + " " + tok.symbol
}

func usdAmt(v *big.Int) string { return FormatUnits(v, usdDecimals) + " USD" }

func (c *check) transfer(t Transfer, pre string) {
	p := c.e.p
	if !p.limits && !p.recipients {
		c.deny("limits", pre, "transfers are denied: the policy has no limits or recipients section")
	}
	var tok *engToken
	fam, chainOK := c.chain(t.Header, pre)
	if chainOK {
		tok = c.token(t.Chain, t.Token, "token", pre)
	}
	c.recipient(t.To, "recipient", pre)
	c.solanaAddress(fam, t.To, "recipient", pre)
	if c.amountOK(t.Amount, "amount", pre) && tok != nil {
		c.spend(tok, t.Amount)
	}
	if t.Tx != nil && fam == familyEVM {
		if what := transferTxMismatch(t); what != "" {
			c.deny("intent", pre, "the transaction does not do what the transfer says: %s", what)
		}
	}
}

// approve checks an approval and charges what it grants as a spend: a
// spender may pull the allowance with transferFrom whenever it likes, so
// an approval moves value out of the wallet's control as surely as a
// transfer does. credit is the part of the grant already charged (a swap's
// input, for the swap's own larger approval to its router); nil for none.
func (c *check) approve(a Approve, pre string, credit *big.Int) {
	p := c.e.p
	if !p.approvals {
		c.deny("approvals", pre, "approvals are denied: the policy has no approvals section")
	}
	var tok *engToken
	fam, chainOK := c.chain(a.Header, pre)
	if chainOK {
		if a.Token.Native() {
			c.deny("approvals", pre, "the native coin cannot be approved")
		} else {
			tok = c.token(a.Chain, a.Token, "token", pre)
		}
	}
	switch a.Method {
	case MethodApprove, MethodSetApprovalForAll, MethodPermit2:
	case MethodIncreaseAllowance:
		// It adds to an allowance the policy cannot see, so approvals.max
		// would bound each step but not the sum: repeated, it is unlimited.
		if !p.unlimited {
			c.deny("approvals.unlimited", pre, "increaseAllowance adds to an allowance the policy cannot see, so approvals.max cannot bound it: use approve with an exact amount")
		}
	default:
		c.deny("intent", pre, "approval method %q is unknown", a.Method)
	}
	// A zero allowance revokes: approve(spender, 0), Permit2's approve of
	// 0, setApprovalForAll(false). It grants nothing, so it passes the
	// spender and amount checks and charges nothing once its calldata is
	// checked below: withdrawing an allowance from anyone only lowers the
	// risk, and it must work when the limits are spent.
	//
	// Except on a token with no decimals: ERC-721's approve(spender, id)
	// has ERC-20's selector, and there approve(spender, 0) grants NFT #0.
	// The engine cannot tell the two standards apart from the call, so on
	// such a token only approve(address(0), id), ERC-721's way of clearing
	// an approval, is a revoke; approve(spender, 0) is charged as one token.
	nftLike := a.Method == MethodApprove && tok != nil && tok.decimals == 0
	revoke := a.Method != MethodIncreaseAllowance && !a.Unlimited && a.Amount != nil &&
		((!nftLike && a.Amount.Sign() == 0) || (nftLike && isZeroAddress(a.Spender)))
	if revoke {
		if a.Spender == "" {
			c.deny("intent", pre, "the approval has no spender")
		}
	} else {
		c.spender(a, pre)
	}
	c.solanaAddress(fam, a.Spender, "spender", pre)
	// Unlimited in all its spellings, whatever the flag says: 2^255 and up,
	// setApprovalForAll(true), and Permit2's max uint160.
	unlimited := a.Unlimited || (a.Method == MethodSetApprovalForAll && !revoke) ||
		(a.Amount != nil && (a.Amount.BitLen() >= 256 || (a.Method == MethodPermit2 && a.Amount.BitLen() >= 160)))
	switch {
	case revoke:
	case a.Amount != nil && !c.amountOK(a.Amount, "amount", pre):
	case unlimited && !p.unlimited:
		c.deny("approvals.unlimited", pre, "an unlimited approval of %s to %s is not allowed (approvals.unlimited is false); approve the exact amount needed", tokenName(a.Token), a.Spender)
	case unlimited:
		c.unlimitedApproval(a, tok, pre)
	case !c.amountOK(a.Amount, "amount", pre) || tok == nil:
	default:
		switch {
		case tok.approveMax == nil:
			c.deny("approvals.max", pre, "approvals.max has no entry for %s", tok.symbol)
		case a.Amount.Cmp(tok.approveMax) > 0:
			c.deny(tok.maxRule, pre, "approval %s exceeds approvals.max %s", amt(tok, a.Amount), amt(tok, tok.approveMax))
		}
		charged := a
		if nftLike && a.Amount.Sign() == 0 {
			charged.Amount = big.NewInt(1) // NFT #0: one token
		}
		c.chargeApproval(charged, tok, credit)
	}
	if a.Tx != nil && fam == familyEVM {
		if what := approveTxMismatch(a); what != "" {
			c.deny("intent", pre, "the transaction does not do what the approval says: %s", what)
		}
	}
}

// approvalCharge is an approval the intent charges as a spend, kept so the
// reasons of a limit it breaks can say that an approval is charged.
type approvalCharge struct {
	tok     *engToken
	spender string
	grant   *big.Int // the allowance it grants
	charged *big.Int // what it adds to the spends: grant less any credit
}

// chargeApproval adds what an approval grants, less credit, to the spends.
func (c *check) chargeApproval(a Approve, tok *engToken, credit *big.Int) {
	charge := a.Amount
	if credit != nil {
		charge = new(big.Int).Sub(a.Amount, credit)
	}
	if charge.Sign() <= 0 {
		return
	}
	c.spend(tok, charge)
	if c.approvals == nil {
		c.approvals = c.approvalsBuf[:0]
	}
	c.approvals = append(c.approvals, approvalCharge{tok: tok, spender: a.Spender, grant: a.Amount, charged: charge})
}

// unlimitedApproval judges an unlimited approval the policy allows
// (approvals.unlimited: true). It grants more than any limit, and limits
// bound what can leave the wallet by any route, so it is denied for a token
// any limit bounds; otherwise a person confirms it when there is an ask
// threshold, which it exceeds too.
func (c *check) unlimitedApproval(a Approve, tok *engToken, pre string) {
	if tok == nil {
		return // denied by tokens or approvals already
	}
	p := c.e.p
	var rule string
	var bounds []string
	bound := func(r, limit string) {
		if rule == "" {
			rule = r
		}
		bounds = append(bounds, r+" "+limit)
	}
	if tok.perTx != nil {
		bound(tok.perTxRule, amt(tok, tok.perTx))
	}
	if tok.daily != nil {
		bound(tok.dailyRule, amt(tok, tok.daily))
	}
	if p.perTxUSD != nil {
		bound("limits.per_tx_usd", usdAmt(p.perTxUSD))
	}
	if p.dailyUSD != nil {
		bound("limits.daily_usd", usdAmt(p.dailyUSD))
	}
	if rule != "" {
		c.deny(rule, pre, "an unlimited approval of %s to %s grants more than %s: limits bound what can leave the wallet by any route, a spender's transferFrom included, so approvals.unlimited allows only tokens no limit bounds; approve an exact amount",
			tok.symbol, a.Spender, strings.Join(bounds, " and "))
		return
	}
	if p.askUSD != nil && !c.confirm {
		c.asks = append(c.asks, Reason{Rule: "ask.above_usd", Text: pre + fmt.Sprintf("an unlimited approval of %s to %s grants more than ask.above_usd %s", tok.symbol, a.Spender, usdAmt(p.askUSD))})
	}
}

// approvalNote prefixes a limit's reason when approvals of tok (of any
// token when tok is nil) are part of what the limit was charged: the
// person reading it should know an approval counts, and which one.
func (c *check) approvalNote(tok *engToken) string {
	var first *approvalCharge
	n := 0
	var sums []spendAcc
	for i := range c.approvals {
		a := &c.approvals[i]
		if tok != nil && a.tok != tok {
			continue
		}
		if n++; first == nil {
			first = a
		}
		j := slices.IndexFunc(sums, func(s spendAcc) bool { return s.tok == a.tok })
		if j < 0 {
			sums = append(sums, spendAcc{a.tok, new(big.Int)})
			j = len(sums) - 1
		}
		sums[j].amount.Add(sums[j].amount, a.charged)
	}
	switch n {
	case 0:
		return ""
	case 1:
		s := "approval " + amt(first.tok, first.grant) + " to " + first.spender
		if first.charged.Cmp(first.grant) != 0 {
			s += " (" + amt(first.tok, first.charged) + " beyond the swap's input)"
		}
		return s + " is charged as a spend: "
	}
	parts := make([]string, len(sums))
	for i, s := range sums {
		parts[i] = amt(s.tok, s.amount)
	}
	return fmt.Sprintf("%d approvals are charged as spends, %s in all: ", n, strings.Join(parts, " and "))
}

// spender applies recipients.deny, then approvals.spenders when the policy
// has it, else the allow lists when there are any: a spender may move the
// wallet's tokens, so it must be one the owner named. The token itself and
// the wallet itself are refused: neither ever needs an allowance, and an
// approval to either is a mistake or a trap.
func (c *check) spender(a Approve, pre string) {
	p := c.e.p
	s := a.Spender
	if s == "" {
		c.deny("intent", pre, "the approval has no spender")
		return
	}
	k := addrKey(s)
	if !a.Token.Native() && k == addrKey(a.Token.Address) {
		c.deny("approvals.spender", pre, "spender %s is the token contract itself: no contract needs an allowance over its own token; approve the contract that will pull the tokens", s)
	}
	if k == addrKey(a.From) {
		c.deny("approvals.spender", pre, "spender %s is the wallet itself: a wallet needs no allowance over its own tokens; approve the contract that will pull them", s)
	}
	if p.recipDeny[k] {
		c.deny("recipients.deny", pre, "spender %s is in recipients.deny", s)
	}
	switch {
	case p.spenders != nil:
		if !p.spenders[k] {
			c.deny("approvals.spenders", pre, "spender %s is not in approvals.spenders", s)
		}
	case (p.contractAllow != nil || p.recipAllow != nil) && !p.contractAllow[k] && !p.recipAllow[k]:
		c.deny("approvals.spender", pre, "spender %s is not in contracts.allow or recipients.allow", s)
	}
}

func (c *check) swap(s Swap, pre string) {
	p := c.e.p
	if p.swaps == nil {
		c.deny("swaps", pre, "swaps are denied: the policy has no swaps section")
	}
	var in, out *engToken
	fam, chainOK := c.chain(s.Header, pre)
	c.solanaAddress(fam, s.Recipient, "swap recipient", pre)
	if chainOK {
		in = c.token(s.Chain, s.TokenIn, "token_in", pre)
		out = c.token(s.Chain, s.TokenOut, "token_out", pre)
	}
	amountIn := c.amountOK(s.AmountIn, "amount_in", pre)
	if amountIn && in != nil {
		c.spend(in, s.AmountIn)
	}
	if b := p.swaps; b != nil {
		if s.SlippageBps > b.maxSlippageBps {
			c.deny("swaps.max_slippage_bps", pre, "slippage %d bps exceeds swaps.max_slippage_bps %d", s.SlippageBps, b.maxSlippageBps)
		}
		c.minOut(s, out, b, pre)
		if b.maxLossBps >= 0 && amountIn && in != nil && out != nil {
			c.loss(s, in, out, b.maxLossBps, pre)
		}
		nowUnix := c.now.Unix()
		switch {
		case s.Deadline <= nowUnix:
			c.deny("swaps.max_deadline_seconds", pre, "deadline %s has passed", time.Unix(s.Deadline, 0).UTC().Format(time.RFC3339))
		case s.Deadline-nowUnix > b.maxDeadline:
			c.deny("swaps.max_deadline_seconds", pre, "deadline is %ds away, more than swaps.max_deadline_seconds %d", s.Deadline-nowUnix, b.maxDeadline)
		}
	}
	// The output goes to the wallet itself, or to an allowed recipient.
	switch k := addrKey(s.Recipient); {
	case s.Recipient == "":
		c.deny("intent", pre, "the swap has no recipient")
	case k == addrKey(s.From):
	default:
		if p.recipDeny[k] {
			c.deny("recipients.deny", pre, "swap recipient %s is in recipients.deny", s.Recipient)
		}
		if !p.recipAllow[k] {
			c.deny("recipients.allow", pre, "swap output goes to %s, not the wallet, and that address is not in recipients.allow", s.Recipient)
		}
	}
	if s.Approval != nil && !c.swapApprovalFits(s, in) {
		c.approve(*s.Approval, pre+"approval: ", c.swapApprovalCredit(s, in))
	}
	if s.Tx != nil && in != nil && c.e.p.families[s.Chain] == familyEVM {
		want := new(big.Int)
		if in.native() && s.AmountIn != nil {
			want = s.AmountIn
		}
		if !eqInt(s.Tx.Value, want) {
			c.deny("intent", pre, "the transaction sends value %s but the swap puts in %s", valueOf(s.Tx.Value), amt(in, nilZero(s.AmountIn)))
		}
	}
}

// minOut checks the floor the transaction enforces against the quote less
// the largest slippage the policy allows, rounded up so the bound is never
// looser than the policy says.
func (c *check) minOut(s Swap, out *engToken, b *swapBounds, pre string) {
	name := func(v *big.Int) string {
		if out == nil {
			return v.String() + " base units"
		}
		return amt(out, v)
	}
	switch {
	case s.Quoted == nil || s.Quoted.Sign() <= 0:
		c.deny("swaps.max_slippage_bps", pre, "the swap has no quote to bound its output")
	case s.MinOut == nil || s.MinOut.Sign() <= 0:
		c.deny("swaps.max_slippage_bps", pre, "min_out is zero: the swap would accept any price")
	default:
		floor := new(big.Int).Mul(s.Quoted, big.NewInt(int64(10000-b.maxSlippageBps)))
		floor, r := floor.QuoRem(floor, big.NewInt(10000), new(big.Int))
		if r.Sign() > 0 {
			floor.Add(floor, big.NewInt(1))
		}
		if s.MinOut.Cmp(floor) < 0 {
			c.deny("swaps.max_slippage_bps", pre, "min_out %s is below %s, the quote %s less swaps.max_slippage_bps %d", name(s.MinOut), name(floor), name(s.Quoted), b.maxSlippageBps)
		}
	}
}

// swapApprovalFits reports whether a swap's embedded approval is the one a
// swap needs and nothing more: exactly AmountIn of TokenIn to the contract
// the swap calls, not unlimited. The swap's input already charges it.
// Anything else is checked, and charged, as an approve.
func (c *check) swapApprovalFits(s Swap, in *engToken) bool {
	return c.swapApprovalCovers(s, in) && s.Approval.Amount.Cmp(s.AmountIn) == 0
}

// swapApprovalCovers reports whether a swap's embedded approval is of
// TokenIn to the contract the swap calls, an exact amount of at least
// AmountIn: the swap then pulls AmountIn of it.
func (c *check) swapApprovalCovers(s Swap, in *engToken) bool {
	a := s.Approval
	return in != nil && s.Tx != nil && s.Tx.To != "" &&
		a.Chain == s.Chain &&
		(a.Method == MethodApprove || a.Method == MethodPermit2) &&
		!a.Unlimited && a.Amount != nil && s.AmountIn != nil && s.AmountIn.Sign() >= 0 && a.Amount.Cmp(s.AmountIn) >= 0 &&
		addrKey(a.Token.Address) == addrKey(s.TokenIn.Address) && !s.TokenIn.Native() &&
		addrKey(a.Spender) == addrKey(s.Tx.To) &&
		(a.Tx == nil || approveTxMismatch(*a) == "")
}

// swapApprovalCredit is the part of a swap's larger approval to its router
// that the swap's input already charges: the swap pulls AmountIn of the
// allowance, and only what is left beyond it is a further spend.
func (c *check) swapApprovalCredit(s Swap, in *engToken) *big.Int {
	if !c.swapApprovalCovers(s, in) {
		return nil
	}
	return s.AmountIn
}

func (c *check) call(k ContractCall, pre string) {
	p := c.e.p
	if !p.contracts {
		c.deny("contracts", pre, "contract calls are denied: the policy has no contracts section")
	}
	fam, chainOK := c.chain(k.Header, pre)
	switch key := addrKey(k.To); {
	case k.To == "":
		c.deny("intent", pre, "the call has no contract")
	case p.contracts && !p.contractAllow[key]:
		c.deny("contracts.allow", pre, "contract %s is not in contracts.allow", k.To)
	}
	if p.recipDeny[addrKey(k.To)] && k.To != "" {
		c.deny("recipients.deny", pre, "contract %s is in recipients.deny", k.To)
	}
	c.solanaAddress(fam, k.To, "program", pre)
	if k.Value != nil && chainOK && c.amountOK(k.Value, "value", pre) && k.Value.Sign() > 0 {
		// Value sent with a call is a native transfer to the contract.
		c.spend(c.e.tokens[tokenKey{k.Chain, ""}], k.Value)
	}
	if k.Selector != "" && (len(k.Data) < 4 || !strings.EqualFold(k.Selector, "0x"+fmt.Sprintf("%x", k.Data[:4]))) {
		c.deny("intent", pre, "selector %s does not match the call data", k.Selector)
	}
	if k.Tx != nil && fam == familyEVM {
		if what := callTxMismatch(k); what != "" {
			c.deny("intent", pre, "the transaction does not do what the call says: %s", what)
		}
	}
}

func (c *check) safeTx(s SafeTx, pre string, depth int) {
	p := c.e.p
	if p.safe == nil {
		c.deny("safe", pre, "Safe transactions are denied: the policy has no safe section")
	}
	c.chain(s.Header, pre)
	if p.safe != nil {
		switch s.Operation {
		case OpCall:
		case OpDelegateCall:
			if !p.safe.delegatecall[addrKey(s.To)] {
				c.deny("safe.delegatecall", pre, "delegatecall to %s is not in safe.delegatecall", s.To)
			}
		default:
			c.deny("intent", pre, "operation %d is neither call (0) nor delegatecall (1)", s.Operation)
		}
		if s.SelfCall != "" && !p.safe.selfCalls {
			c.deny("safe.self_calls", pre, "the transaction changes the Safe itself (%s) and safe.self_calls is false", s.SelfCall)
		}
		refund := (s.GasPrice != nil && s.GasPrice.Sign() != 0) || !isZeroAddress(s.RefundReceiver) || !isZeroAddress(s.GasToken)
		switch {
		case refund && !p.safe.refund:
			c.deny("safe.refund", pre, "the transaction pays a gas refund (gas price %s, gas token %s, receiver %s) and safe.refund is false",
				valueOf(s.GasPrice), orQuoted(s.GasToken), orQuoted(s.RefundReceiver))
		case refund:
			c.refund(s, pre)
		}
	}
	if len(s.Inner) == 0 && s.SelfCall == "" {
		c.deny("safe", pre, "the transaction has no decoded inner calls, so what it does cannot be checked")
	} else if p.safe != nil {
		c.safeMatches(s, pre)
	}
	if depth >= maxDepth && len(s.Inner) > 0 {
		c.deny("safe", pre, "Safe transactions are nested more than %d deep", maxDepth)
		return
	}
	for i, x := range s.Inner {
		ipre := fmt.Sprintf("%sinner call %d: ", pre, i)
		if xv, ok := deref(x); ok && xv.Head().Chain != s.Chain {
			c.deny("intent", ipre, "chain %s differs from the Safe's chain %s", orQuoted(xv.Head().Chain), orQuoted(s.Chain))
			continue
		}
		c.intent(x, ipre, depth+1)
	}
}

// safeGasOverhead bounds the gas a Safe counts for a refund beyond the
// safeTxGas it forwards to the call: the CALL or DELEGATECALL itself (cold
// account, value transfer, new account) and the bookkeeping around it,
// generously.
const safeGasOverhead = 100_000

// dataGas bounds the gas a Safe spends on the transaction's data inside
// what it measures for a refund, beyond safeTxGas: copying it into memory
// for the call (3 per word) and the memory that takes (3 per word plus
// words²/512), counted twice over for the ABI decoding before it.
func dataGas(n int) *big.Int {
	w := big.NewInt(int64((n + 31) / 32))
	mem := new(big.Int).Mul(w, w)
	mem.Quo(mem, big.NewInt(512))
	mem.Add(mem, new(big.Int).Mul(w, big.NewInt(3)))
	copyGas := new(big.Int).Mul(w, big.NewInt(3))
	return new(big.Int).Add(new(big.Int).Mul(mem, big.NewInt(2)), new(big.Int).Mul(copyGas, big.NewInt(2)))
}

// refund treats an allowed gas refund as what it is, a payment from the
// Safe: the most it can be, (safeTxGas + overhead + dataGas + baseGas) × gasPrice in
// the gas token (the native coin when none), counts against the limits,
// and the receiver is a recipient like any other. Without safeTxGas the
// gas paid for, and so the refund, has no bound, and it is denied.
func (c *check) refund(s SafeTx, pre string) {
	price := s.GasPrice
	if price == nil || price.Sign() == 0 {
		return // a receiver or gas token without a price pays nothing
	}
	if s.SafeTxGas == nil || s.SafeTxGas.Sign() == 0 {
		c.deny("safe.refund", pre, "the refund has safeTxGas 0, so the gas it pays for, and the refund, have no bound")
		return
	}
	max := new(big.Int).Add(s.SafeTxGas, big.NewInt(safeGasOverhead))
	max.Add(max, dataGas(len(s.Data)))
	if s.BaseGas != nil {
		max.Add(max, s.BaseGas)
	}
	max.Mul(max, price)
	key := ""
	if !isZeroAddress(s.GasToken) {
		key = addrKey(s.GasToken)
	}
	if tok := c.e.tokens[tokenKey{s.Chain, key}]; tok == nil {
		c.deny("tokens", pre, "the refund is paid in %s, which is not in tokens", orQuoted(s.GasToken))
	} else {
		c.spend(tok, max)
	}
	if isZeroAddress(s.RefundReceiver) {
		if c.e.p.recipAllow != nil {
			c.deny("recipients.allow", pre, "the refund goes to whoever executes the transaction (refundReceiver is zero), and recipients.allow is set")
		}
		return
	}
	c.recipient(s.RefundReceiver, "refund receiver", pre)
}

// totals applies the per-transaction limits to the summed spends, prices
// them in USD when the policy needs it, and lists the windowed limits the
// ledger enforces on commit.
func (c *check) totals() {
	p := c.e.p
	since := c.now.Add(-window)
	var usdTotal *big.Int
	priced := p.usesUSD()
	usdRule := "limits.per_tx_usd"
	switch {
	case p.perTxUSD != nil:
	case p.dailyUSD != nil:
		usdRule = "limits.daily_usd"
	default:
		usdRule = "ask.above_usd"
	}
	for _, s := range c.spends {
		t := s.tok
		if t.perTx == nil && t.daily == nil && p.perTxUSD == nil && p.dailyUSD == nil {
			// Nothing bounds this asset: fail closed rather than let any
			// amount through.
			c.deny("limits", c.approvalNote(t), "no limit covers %s: add limits.per_tx.%s or limits.daily.%s, or a USD limit (limits.per_tx_usd or limits.daily_usd)", t.symbol, t.symbol, t.symbol)
		}
		if t.perTx != nil && s.amount.Cmp(t.perTx) > 0 {
			c.deny(t.perTxRule, c.approvalNote(t), "amount %s exceeds per-tx limit %s", amt(t, s.amount), amt(t, t.perTx))
		}
		if t.daily != nil {
			c.limits = append(c.limits, Limit{Bucket: t.bucket, Max: t.daily, Since: since, Rule: t.dailyRule})
			c.limitToks = append(c.limitToks, t)
		}
		if !priced {
			continue
		}
		v, ok := c.price(t, usdRule)
		if !ok {
			priced = false
			continue
		}
		if usdTotal == nil {
			usdTotal = new(big.Int)
		}
		usdTotal.Add(usdTotal, v.micro(s.amount))
	}
	if !priced || usdTotal == nil {
		return
	}
	c.usd = usdTotal
	if p.perTxUSD != nil && usdTotal.Cmp(p.perTxUSD) > 0 {
		c.deny("limits.per_tx_usd", c.approvalNote(nil), "value %s exceeds per-tx limit %s", usdAmt(usdTotal), usdAmt(p.perTxUSD))
	}
	if p.dailyUSD != nil {
		c.limits = append(c.limits, Limit{Bucket: c.e.usdBucket, Max: p.dailyUSD, Since: since, Rule: "limits.daily_usd"})
		c.limitToks = append(c.limitToks, nil)
	}
	if p.askUSD != nil && !c.confirm && usdTotal.Cmp(p.askUSD) > 0 {
		c.asks = append(c.asks, Reason{Rule: "ask.above_usd", Text: c.approvalNote(nil) + fmt.Sprintf("value %s is above ask.above_usd %s", usdAmt(usdTotal), usdAmt(p.askUSD))})
	}
}

// price is t's USD price for the USD limits. Without one they cannot be
// checked, and the intent is denied: the engine fails closed.
func (c *check) price(t *engToken, usdRule string) (*priceMemo, bool) {
	m, why := c.lookupPrice(t)
	if m == nil {
		c.deny(usdRule, "", "%s, so the USD limits cannot be checked", why)
		return nil, false
	}
	return m, true
}

// priceMemo remembers the last price of a token, how it is written and
// what it multiplies base units by: prices change far less often than
// decisions are made.
type priceMemo struct {
	usd    *big.Rat
	source string
	text   string
	// micro-USD per base unit is num/den: USD * 10^6 / 10^decimals.
	num, den *big.Int
}

func (t *engToken) priceMemo(pr Price) *priceMemo {
	if m := t.lastPrice.Load(); m != nil && m.source == pr.Source && ratEqual(m.usd, pr.USD) {
		return m
	}
	m := &priceMemo{
		usd:    new(big.Rat).Set(pr.USD),
		source: pr.Source,
		text:   fmt.Sprintf("%s on chain %s: %s USD (%s)", t.symbol, t.chain, ratString(pr.USD), pr.Source),
		num:    new(big.Int).Mul(pr.USD.Num(), microPerUSD),
		den:    new(big.Int).Mul(pr.USD.Denom(), pow10s[t.decimals]),
	}
	t.lastPrice.Store(m)
	return m
}

// ratEqual reports whether a == b. A memo's price is nearly always the
// price it was made from, with the same numerator and denominator; those
// compare without the two allocations big.Rat.Cmp makes on every call.
// Anything else (a Rat a caller left unnormalised through Num) goes to Cmp.
func ratEqual(a, b *big.Rat) bool {
	if a.IsInt() && b.IsInt() {
		return a.Num().Cmp(b.Num()) == 0
	}
	if !a.IsInt() && !b.IsInt() && a.Num().Cmp(b.Num()) == 0 && a.Denom().Cmp(b.Denom()) == 0 {
		return true
	}
	return a.Cmp(b) == 0
}

// micro converts base units into micro-USD, rounded up: a limit must never
// let through a value a rounding step made look smaller.
func (m *priceMemo) micro(amount *big.Int) *big.Int {
	num := new(big.Int).Mul(amount, m.num)
	q, r := num.QuoRem(num, m.den, new(big.Int))
	if r.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	return q
}

// ratString writes r as an exact decimal when it has one, else as a fraction.
func ratString(r *big.Rat) string {
	d := new(big.Int).Set(r.Denom())
	exp := [2]int{}
	for i, f := range []*big.Int{big.NewInt(2), big.NewInt(5)} {
		for {
			q, m := new(big.Int).QuoRem(d, f, new(big.Int))
			if m.Sign() != 0 {
				break
			}
			d, exp[i] = q, exp[i]+1
		}
	}
	if d.Cmp(big.NewInt(1)) != 0 {
		return r.RatString()
	}
	return r.FloatString(max(exp[0], exp[1]))
}

// windowReasons reads the ledger's live spends for each windowed limit and
// adds a reason for every limit this intent would exceed.
func (c *check) windowReasons(ctx context.Context) error {
	for i, l := range c.limits {
		spent, err := c.e.ledger.Spent(ctx, l.Bucket, l.Since)
		if err != nil {
			return fmt.Errorf("policies: read spends of %s: %w", l.Rule, err)
		}
		add := c.bucketSpend(i)
		if new(big.Int).Add(spent, add).Cmp(l.Max) > 0 {
			c.reasons = append(c.reasons, c.limitReasonAt(i, spent, add))
		}
	}
	return nil
}

// bucketSpend is what this intent charges to the i-th limit's bucket.
func (c *check) bucketSpend(i int) *big.Int {
	if t := c.limitToks[i]; t != nil {
		for _, s := range c.spends {
			if s.tok == t {
				return s.amount
			}
		}
		return new(big.Int)
	}
	return nilZero(c.usd)
}

// limitReason explains a *LimitError from the ledger.
func (c *check) limitReason(l Limit, spent, add *big.Int) Reason {
	for i := range c.limits {
		if c.limits[i].Bucket == l.Bucket {
			return c.limitReasonAt(i, spent, add)
		}
	}
	return Reason{Rule: l.Rule, Text: fmt.Sprintf("%s already spent + %s exceeds %s", spent, add, l.Max)}
}

func (c *check) limitReasonAt(i int, spent, add *big.Int) Reason {
	l := c.limits[i]
	f := usdAmt
	what := "value"
	t := c.limitToks[i]
	if t != nil {
		f = func(v *big.Int) string { return amt(t, v) }
		what = "amount"
	}
	total := new(big.Int).Add(spent, add)
	return Reason{Rule: l.Rule, Text: c.approvalNote(t) + fmt.Sprintf("%s %s would bring the last 24h to %s, over the daily limit %s", what, f(add), f(total), f(l.Max))}
}

// spendList is what an approval charges: each asset's bucket, and the USD
// bucket when the intent was priced.
func (c *check) spendList() []Spend {
	out := make([]Spend, 0, len(c.spends)+1)
	for _, s := range c.spends {
		out = append(out, Spend{Bucket: s.tok.bucket, Amount: s.amount})
	}
	if c.usd != nil && c.usd.Sign() > 0 {
		out = append(out, Spend{Bucket: c.e.usdBucket, Amount: c.usd})
	}
	return out
}

func nilZero(v *big.Int) *big.Int {
	if v == nil {
		return new(big.Int)
	}
	return v
}

func eqInt(a, b *big.Int) bool { return nilZero(a).Cmp(nilZero(b)) == 0 }

func valueOf(v *big.Int) string { return nilZero(v).String() }
