package jupiter

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"

	sol "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/programs/system"
	"github.com/gagliardetto/solana-go/programs/token"

	"github.com/mandatehq/mandate/chains/solana"
	"github.com/mandatehq/mandate/policies"
)

// ErrRefused is the error of a swap transaction that does not do what its
// quote says, or does more: nothing of it may be signed. The message names
// the instruction and what is wrong with it.
var ErrRefused = errors.New("jupiter: swap transaction refused")

// ErrNotSupported is the error of a route this package cannot check yet
// (exact-out routes); such a transaction is refused too.
var ErrNotSupported = errors.New("jupiter: not supported yet")

// Venue is the policies.Swap venue of a Jupiter swap.
const Venue = "jupiter"

// Defaults of Verify: the cluster, and how long after verification the
// swap can still land. A Solana transaction carries no time, only a
// blockhash that expires after 150 blocks (about a minute); the intent's
// deadline is the latest it could land, with margin.
const (
	DefaultChain  = "solana-mainnet"
	DefaultWindow = 2 * time.Minute
)

// Option configures Verify and Decoder.
type Option func(*config)

type config struct {
	chain   string
	tables  Tables
	now     func() time.Time
	window  time.Duration
	feeAcct *sol.PublicKey
	feeBps  uint8
}

// WithChain sets the cluster name intents carry ("solana-devnet", …).
func WithChain(name string) Option { return func(c *config) { c.chain = name } }

// WithTables gives the address lookup tables' reader; without it a
// transaction that uses tables is refused.
func WithTables(t Tables) Option { return func(c *config) { c.tables = t } }

// WithClock sets the clock the deadline is counted from.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithDeadlineWindow sets how far past now the intent's deadline is.
func WithDeadlineWindow(d time.Duration) Option { return func(c *config) { c.window = d } }

// WithPlatformFee accepts an integrator fee of bps to account. Without it
// a transaction that pays any platform fee is refused.
func WithPlatformFee(account sol.PublicKey, bps uint8) Option {
	return func(c *config) { c.feeAcct, c.feeBps = &account, bps }
}

func newConfig(opts []Option) config {
	c := config{chain: DefaultChain, now: time.Now, window: DefaultWindow}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// Route is what a Jupiter swap transaction does, read from its bytes and
// the accounts it names.
type Route struct {
	Instruction string // the route instruction's name in the program's IDL
	Index       int    // its position in the transaction
	Wallet      sol.PublicKey
	InputMint   solana.Mint
	OutputMint  solana.Mint
	Source      sol.PublicKey // the wallet's token account paying in
	Destination sol.PublicKey // the wallet's token account receiving
	InAmount    *big.Int
	QuotedOut   *big.Int // quoted_out_amount: what the route expects
	MinOut      *big.Int // what the program enforces: QuotedOut less SlippageBps, rounded down
	SlippageBps uint16
	// PlatformFeeBps and PlatformFeeAccount are the integrator fee; zero
	// and the zero key when none.
	PlatformFeeBps     uint8
	PlatformFeeAccount sol.PublicKey
	// NativeIn is set when the wallet's SOL is wrapped into Source for the
	// swap; NativeOut when Destination is the wallet's wSOL account,
	// closed back to it after the swap.
	NativeIn, NativeOut bool
	Fees                solana.Fees
}

// Intent is the swap as the policy decides it.
func (r *Route) Intent(chain string, deadline int64) policies.Swap {
	in, out := tokenOf(r.InputMint), tokenOf(r.OutputMint)
	if r.NativeIn {
		in = solana.SOL
	}
	if r.NativeOut {
		out = solana.SOL
	}
	return policies.Swap{
		Header: policies.Header{Chain: chain, From: r.Wallet.String()},
		Venue:  Venue, TokenIn: in, AmountIn: new(big.Int).Set(r.InAmount), TokenOut: out,
		Quoted: new(big.Int).Set(r.QuotedOut), MinOut: new(big.Int).Set(r.MinOut),
		Recipient: r.Wallet.String(), SlippageBps: uint32(r.SlippageBps), Deadline: deadline,
	}
}

func tokenOf(m solana.Mint) policies.Token {
	return policies.Token{Address: m.Address.String(), Decimals: m.Decimals}
}

// Verify checks a /swap transaction against its quote and returns the
// policies.Swap to decide. The transaction must swap exactly the quote's
// amount of its input mint for its output mint from and into wallet's own
// token accounts, with a floor no lower than the quote's
// otherAmountThreshold and the quote's slippage, and do nothing else than
// what such a swap needs. Its lookup tables are resolved in place
// (WithTables), as the signer needs them too.
func Verify(ctx context.Context, q *Quote, tx *sol.Transaction, wallet sol.PublicKey, look solana.Lookup, opts ...Option) (policies.Intent, error) {
	if q == nil {
		return nil, errors.New("jupiter: verify: no quote")
	}
	if q.SwapMode != SwapModeExactIn {
		return nil, fmt.Errorf("%w: %s quotes (only %s is)", ErrNotSupported, q.SwapMode, SwapModeExactIn)
	}
	cfg := newConfig(opts)
	r, err := decodeRoute(ctx, tx, wallet, look, cfg)
	if err != nil {
		return nil, err
	}
	if err := r.matches(q, cfg); err != nil {
		return nil, err
	}
	return r.Intent(cfg.chain, cfg.now().Add(cfg.window).Unix()), nil
}

// matches compares the decoded route with the quote it should carry out.
func (r *Route) matches(q *Quote, cfg config) error {
	refuse := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s %s", ErrRefused, r.Instruction, fmt.Sprintf(format, a...))
	}
	switch {
	case !r.InputMint.Address.Equals(q.InputMint):
		return refuse("swaps mint %s, the quote's input is %s", r.InputMint.Address, q.InputMint)
	case !r.OutputMint.Address.Equals(q.OutputMint):
		return refuse("swaps into mint %s, the quote's output is %s", r.OutputMint.Address, q.OutputMint)
	case r.InAmount.Cmp(q.InAmount) != 0:
		return refuse("puts in %s base units, the quote %s", r.InAmount, q.InAmount)
	case r.SlippageBps != q.SlippageBps:
		return refuse("allows %d bps of slippage, the quote %d", r.SlippageBps, q.SlippageBps)
	case r.QuotedOut.Cmp(q.OutAmount) != 0:
		return refuse("expects %s base units out, the quote %s", r.QuotedOut, q.OutAmount)
	case r.MinOut.Cmp(q.OtherAmountThreshold) < 0:
		return refuse("accepts as little as %s base units out, below the quote's floor %s", r.MinOut, q.OtherAmountThreshold)
	}
	if q.PlatformFee != nil && q.PlatformFee.FeeBps != uint16(r.PlatformFeeBps) {
		return refuse("takes a platform fee of %d bps, the quote %d", r.PlatformFeeBps, q.PlatformFee.FeeBps)
	}
	if q.PlatformFee == nil && r.PlatformFeeBps != 0 {
		return refuse("takes a platform fee of %d bps the quote does not have", r.PlatformFeeBps)
	}
	return nil
}

// Decoder reads a Jupiter swap transaction into the intents the signer
// must hold approvals for: one policies.Swap, the same Verify returned,
// and the transaction's fees. Its Decode has the shape of
// chains/solana.Decode, so the signing path can use it for transactions
// that call Jupiter (see IsSwap) and still decode on its own rather than
// trust intents handed to it.
type Decoder struct {
	Wallet sol.PublicKey
	// Deadline is the deadline of the intent Verify returned.
	Deadline int64
	Options  []Option
}

// NewDecoder returns the Decoder for a swap Verify returned.
func NewDecoder(in policies.Intent, opts ...Option) (Decoder, error) {
	sw, ok := in.(policies.Swap)
	if !ok || sw.Venue != Venue {
		return Decoder{}, errors.New("jupiter: a Decoder is made from the Jupiter swap intent Verify returned")
	}
	w, err := sol.PublicKeyFromBase58(sw.From)
	if err != nil {
		return Decoder{}, fmt.Errorf("jupiter: the intent's wallet: %w", err)
	}
	return Decoder{Wallet: w, Deadline: sw.Deadline, Options: append([]Option{WithChain(sw.Chain)}, opts...)}, nil
}

// Decode reads tx into its one Swap intent on chain and its fees.
func (d Decoder) Decode(ctx context.Context, tx *sol.Transaction, chain string, look solana.Lookup) (*solana.Decoded, error) {
	cfg := newConfig(d.Options)
	r, err := decodeRoute(ctx, tx, d.Wallet, look, cfg)
	if err != nil {
		return nil, err
	}
	return &solana.Decoded{Intents: []policies.Intent{r.Intent(chain, d.Deadline)}, Fees: r.Fees}, nil
}

// IsSwap reports whether tx calls the Jupiter program, so a signer knows to
// read it with a Decoder rather than chains/solana.Decode.
func IsSwap(tx *sol.Transaction) bool {
	if tx == nil {
		return false
	}
	m := &tx.Message
	for _, ci := range m.Instructions {
		if int(ci.ProgramIDIndex) < len(m.AccountKeys) && m.AccountKeys[ci.ProgramIDIndex].Equals(ProgramID) {
			return true
		}
	}
	return false
}

// DecodeRoute reads a Jupiter swap transaction without a quote to compare
// with: everything Verify checks but the quote's numbers.
func DecodeRoute(ctx context.Context, tx *sol.Transaction, wallet sol.PublicKey, look solana.Lookup, opts ...Option) (*Route, error) {
	return decodeRoute(ctx, tx, wallet, look, newConfig(opts))
}

// ix is one instruction with its program and accounts resolved.
type ix struct {
	i        int
	program  sol.PublicKey
	accounts []*sol.AccountMeta
	data     []byte
}

// created is an associated token account the transaction creates.
type created struct {
	owner, mint, program sol.PublicKey
}

type decoder struct {
	ctx    context.Context
	cfg    config
	wallet sol.PublicKey
	look   solana.Lookup
	atas   map[sol.PublicKey]created
	route  *Route
	routeX ix
	wrap   *ix // the System transfer into the wallet's wSOL account
	closes []ix
	wsol   sol.PublicKey // the wallet's wSOL associated account
}

func refusedAt(x ix, format string, a ...any) error {
	return fmt.Errorf("%w: instruction %d (program %s): %s", ErrRefused, x.i, x.program, fmt.Sprintf(format, a...))
}

func decodeRoute(ctx context.Context, tx *sol.Transaction, wallet sol.PublicKey, look solana.Lookup, cfg config) (r *Route, err error) {
	// solana-go indexes accounts by numbers from the untrusted message
	// header; a panic there is a malformed transaction, not a crash.
	defer func() {
		if p := recover(); p != nil {
			r, err = nil, fmt.Errorf("%w: the transaction is malformed", ErrRefused)
		}
	}()
	if tx == nil {
		return nil, errors.New("jupiter: verify: no transaction")
	}
	if look == nil {
		return nil, errors.New("jupiter: verify: a Lookup is needed to read the token accounts and mints")
	}
	if err := ResolveTables(ctx, tx, cfg.tables); err != nil {
		return nil, err
	}
	m := &tx.Message
	if len(m.AccountKeys) == 0 || !m.AccountKeys[0].Equals(wallet) {
		return nil, fmt.Errorf("%w: the fee payer is not the wallet %s", ErrRefused, wallet)
	}
	metas, err := m.AccountMetaList()
	if err != nil {
		return nil, fmt.Errorf("%w: its accounts do not resolve: %v", ErrRefused, err)
	}
	wsol, err := ata(wallet, sol.WrappedSol, sol.TokenProgramID)
	if err != nil {
		return nil, fmt.Errorf("jupiter: derive the wallet's wSOL account: %w", err)
	}
	d := &decoder{ctx: ctx, cfg: cfg, wallet: wallet, look: look, atas: map[sol.PublicKey]created{}, wsol: wsol}
	ixs := make([]ix, 0, len(m.Instructions))
	for i := range m.Instructions {
		ci := &m.Instructions[i]
		if int(ci.ProgramIDIndex) >= len(m.AccountKeys) {
			return nil, fmt.Errorf("%w: instruction %d names no program", ErrRefused, i)
		}
		x := ix{i: i, program: m.AccountKeys[ci.ProgramIDIndex], data: ci.Data, accounts: make([]*sol.AccountMeta, len(ci.Accounts))}
		for j, a := range ci.Accounts {
			if int(a) >= len(metas) {
				return nil, fmt.Errorf("%w: instruction %d names account %d of %d", ErrRefused, i, a, len(metas))
			}
			x.accounts[j] = metas[a]
		}
		ixs = append(ixs, x)
	}
	// Accounts created here are known before the route spends from or
	// pays into them, so they are judged by derivation, not by lookup.
	for _, x := range ixs {
		if x.program.Equals(sol.SPLAssociatedTokenAccountProgramID) {
			if err := d.createATA(x); err != nil {
				return nil, err
			}
		}
	}
	fees := solana.Fees{Signatures: int(m.Header.NumRequiredSignatures)}
	work := 0
	for _, x := range ixs {
		if x.program.Equals(sol.ComputeBudget) {
			if err := computeBudget(&fees, x); err != nil {
				return nil, err
			}
			continue
		}
		work++
		if err := d.instruction(x); err != nil {
			return nil, err
		}
	}
	if !fees.LimitSet {
		fees.UnitLimit = uint32(min(work*200_000, 1_400_000))
	}
	if d.route == nil {
		return nil, fmt.Errorf("%w: it has no Jupiter route instruction", ErrRefused)
	}
	if err := d.finish(); err != nil {
		return nil, err
	}
	d.route.Fees = fees
	return d.route, nil
}

// instruction judges one instruction that is not ComputeBudget.
func (d *decoder) instruction(x ix) error {
	switch {
	case x.program.Equals(ProgramID):
		if d.route != nil {
			return refusedAt(x, "a second Jupiter instruction; a swap has one")
		}
		return d.jupiter(x)
	case x.program.Equals(sol.SPLAssociatedTokenAccountProgramID):
		return nil // judged by createATA
	case x.program.Equals(sol.SystemProgramID):
		return d.system(x)
	case x.program.Equals(sol.TokenProgramID):
		return d.token(x)
	case x.program.Equals(sol.Token2022ProgramID):
		if len(x.data) > 0 {
			return refusedAt(x, "Token-2022 %s is no part of a Jupiter swap", token.InstructionIDToName(x.data[0]))
		}
		return refusedAt(x, "an empty Token-2022 instruction")
	}
	return refusedAt(x, "a call to a program a Jupiter swap does not need")
}

// createATA accepts CreateIdempotent of one of the wallet's own associated
// token accounts, paid by the wallet.
func (d *decoder) createATA(x ix) error {
	if !bytes.Equal(x.data, []byte{1}) {
		return refusedAt(x, "an associated token account instruction other than CreateIdempotent")
	}
	if len(x.accounts) < 6 {
		return refusedAt(x, "CreateIdempotent with %d accounts, 6 needed", len(x.accounts))
	}
	payer, addr, owner, mint, sys, prog := x.accounts[0].PublicKey, x.accounts[1].PublicKey, x.accounts[2].PublicKey, x.accounts[3].PublicKey, x.accounts[4].PublicKey, x.accounts[5].PublicKey
	switch {
	case !owner.Equals(d.wallet):
		return refusedAt(x, "creates a token account for %s, not the wallet", owner)
	case !payer.Equals(d.wallet):
		return refusedAt(x, "has %s pay for the wallet's token account", payer)
	case !sys.Equals(sol.SystemProgramID):
		return refusedAt(x, "names %s as the System program", sys)
	case !prog.Equals(sol.TokenProgramID) && !prog.Equals(sol.Token2022ProgramID):
		return refusedAt(x, "names %s as the token program", prog)
	}
	want, err := ata(owner, mint, prog)
	if err != nil || !want.Equals(addr) {
		return refusedAt(x, "%s is not the wallet's associated token account for mint %s", addr, mint)
	}
	d.atas[addr] = created{owner: owner, mint: mint, program: prog}
	return nil
}

// system accepts one Transfer of the wallet's lamports into its own wSOL
// account: the wrap of a SOL input. finish checks its amount.
func (d *decoder) system(x ix) error {
	if len(x.data) < 4 || binary.LittleEndian.Uint32(x.data) != system.Instruction_Transfer || len(x.data) != 12 || len(x.accounts) < 2 {
		name := "an unknown instruction"
		if len(x.data) >= 4 {
			name = system.InstructionIDToName(binary.LittleEndian.Uint32(x.data))
		}
		return refusedAt(x, "System %s is no part of a Jupiter swap", name)
	}
	from, to := x.accounts[0].PublicKey, x.accounts[1].PublicKey
	lamports := binary.LittleEndian.Uint64(x.data[4:])
	switch {
	case !from.Equals(d.wallet):
		return refusedAt(x, "a System transfer from %s, not the wallet", from)
	case !to.Equals(d.wsol):
		return refusedAt(x, "a System transfer of %d lamports to %s, which is not the wallet's wSOL account", lamports, to)
	case d.wrap != nil:
		return refusedAt(x, "a second System transfer into the wallet's wSOL account")
	}
	d.wrap = &x
	return nil
}

// token accepts SyncNative of the wallet's wSOL account and closing it back
// to the wallet; any other Token instruction (a transfer, an approval) is
// refused by name.
func (d *decoder) token(x ix) error {
	if len(x.data) == 0 {
		return refusedAt(x, "an empty Token instruction")
	}
	switch x.data[0] {
	case token.Instruction_SyncNative:
		if len(x.data) != 1 || len(x.accounts) < 1 || !x.accounts[0].PublicKey.Equals(d.wsol) {
			return refusedAt(x, "SyncNative of an account other than the wallet's wSOL account")
		}
		return nil
	case token.Instruction_CloseAccount:
		if len(x.data) != 1 || len(x.accounts) < 3 {
			return refusedAt(x, "a malformed CloseAccount")
		}
		acct, dest, owner := x.accounts[0].PublicKey, x.accounts[1].PublicKey, x.accounts[2].PublicKey
		if !acct.Equals(d.wsol) || !dest.Equals(d.wallet) || !owner.Equals(d.wallet) {
			return refusedAt(x, "CloseAccount of %s to %s; only the wallet's wSOL account closed back to the wallet is part of a swap", acct, dest)
		}
		d.closes = append(d.closes, x)
		return nil
	}
	return refusedAt(x, "Token %s is no part of a Jupiter swap", token.InstructionIDToName(x.data[0]))
}

// jupiter decodes the route instruction.
func (d *decoder) jupiter(x ix) error {
	if len(x.data) < 8 {
		return refusedAt(x, "Jupiter instruction data of %d bytes", len(x.data))
	}
	var disc [8]byte
	copy(disc[:], x.data)
	kind, ok := routeDiscriminators[disc]
	if !ok {
		if name, known := otherInstructions[disc]; known {
			return refusedAt(x, "Jupiter %s is not a swap this wallet signs", name)
		}
		return refusedAt(x, "an unknown Jupiter instruction %x", disc)
	}
	if kind == kindExactOutRoute || kind == kindSharedAccountsExactOutRoute {
		return fmt.Errorf("%w: %s (exact-out swaps)", ErrNotSupported, kind)
	}
	args, err := parseRoute(kind, x.data[8:])
	if err != nil {
		return fmt.Errorf("%w: instruction %d (%s): %w", ErrRefused, x.i, kind, err)
	}
	l := layouts[kind]
	if len(x.accounts) < l.accounts {
		return refusedAt(x, "%s with %d accounts, %d needed", kind, len(x.accounts), l.accounts)
	}
	acc := func(i int) sol.PublicKey { return x.accounts[i].PublicKey }
	none := func(i int) bool { return acc(i).Equals(ProgramID) }
	tp := acc(l.tokenProgram)
	switch {
	case !tp.Equals(sol.TokenProgramID) && !tp.Equals(sol.Token2022ProgramID):
		return refusedAt(x, "%s names %s as its token program", kind, tp)
	case !acc(l.authority).Equals(d.wallet) || !x.accounts[l.authority].IsSigner:
		return refusedAt(x, "%s is authorized by %s, not the wallet", kind, acc(l.authority))
	case !acc(l.eventAuth).Equals(EventAuthority) || !acc(l.program).Equals(ProgramID):
		return refusedAt(x, "%s names the wrong event authority or program", kind)
	case l.token2022 >= 0 && !none(l.token2022) && !acc(l.token2022).Equals(sol.Token2022ProgramID):
		return refusedAt(x, "%s names %s as the Token-2022 program", kind, acc(l.token2022))
	case args.slippageBps > 10000:
		return refusedAt(x, "%s allows %d bps of slippage, above 100%%", kind, args.slippageBps)
	case args.inAmount == 0 || args.outAmount == 0:
		return refusedAt(x, "%s swaps a zero amount", kind)
	}
	r := &Route{Instruction: kind.String(), Index: x.i, Wallet: d.wallet, SlippageBps: args.slippageBps, PlatformFeeBps: args.platformFeeBps,
		InAmount: new(big.Int).SetUint64(args.inAmount), QuotedOut: new(big.Int).SetUint64(args.outAmount)}
	r.MinOut = new(big.Int).SetUint64(args.outAmount)
	r.MinOut.Mul(r.MinOut, big.NewInt(int64(10000-args.slippageBps)))
	r.MinOut.Quo(r.MinOut, big.NewInt(10000))

	// The output goes to destination_token_account when the route names
	// one; a route paying anywhere but the wallet's account is refused.
	r.Source, r.Destination = acc(l.source), acc(l.dest)
	if l.userDest >= 0 {
		if none(l.dest) {
			r.Destination = acc(l.userDest)
		} else if !acc(l.dest).Equals(acc(l.userDest)) {
			return refusedAt(x, "%s pays its output to %s, not the wallet's destination account %s", kind, acc(l.dest), acc(l.userDest))
		}
	}
	src, err := d.tokenAccount(x, r.Source, "source")
	if err != nil {
		return err
	}
	dst, err := d.tokenAccount(x, r.Destination, "destination")
	if err != nil {
		return err
	}
	switch {
	case !src.owner.Equals(d.wallet):
		return refusedAt(x, "the source token account %s belongs to %s, not the wallet", r.Source, src.owner)
	case !dst.owner.Equals(d.wallet):
		return refusedAt(x, "the destination token account %s belongs to %s, not the wallet", r.Destination, dst.owner)
	case l.sourceMint >= 0 && !acc(l.sourceMint).Equals(src.mint):
		return refusedAt(x, "%s names source mint %s, its source account holds %s", kind, acc(l.sourceMint), src.mint)
	case !acc(l.destMint).Equals(dst.mint):
		return refusedAt(x, "%s names destination mint %s, its destination account holds %s", kind, acc(l.destMint), dst.mint)
	case src.mint.Equals(dst.mint):
		return refusedAt(x, "%s swaps mint %s into itself", kind, src.mint)
	}
	if r.InputMint, err = d.mint(x, src); err != nil {
		return err
	}
	if r.OutputMint, err = d.mint(x, dst); err != nil {
		return err
	}
	if err := d.platformFee(x, r, kind, none(l.platformFee), acc(l.platformFee)); err != nil {
		return err
	}
	d.route, d.routeX = r, x
	return nil
}

// platformFee accepts no fee, or exactly the one WithPlatformFee allows.
func (d *decoder) platformFee(x ix, r *Route, kind routeKind, absent bool, acct sol.PublicKey) error {
	if !absent {
		r.PlatformFeeAccount = acct
	}
	if d.cfg.feeAcct == nil {
		if r.PlatformFeeBps != 0 || !absent {
			return refusedAt(x, "%s pays a platform fee of %d bps to %s, which was not asked for", kind, r.PlatformFeeBps, acct)
		}
		return nil
	}
	if absent || !acct.Equals(*d.cfg.feeAcct) || r.PlatformFeeBps != d.cfg.feeBps {
		return refusedAt(x, "%s pays a platform fee of %d bps to %s; %d bps to %s was agreed", kind, r.PlatformFeeBps, acct, d.cfg.feeBps, *d.cfg.feeAcct)
	}
	return nil
}

// tokenAccount is who owns a token account and of which mint: by
// derivation when this transaction creates it, else by lookup.
func (d *decoder) tokenAccount(x ix, addr sol.PublicKey, role string) (created, error) {
	if c, ok := d.atas[addr]; ok {
		return c, nil
	}
	ta, err := d.look.TokenAccount(d.ctx, addr)
	if err != nil {
		if errors.Is(err, solana.ErrAccountNotFound) {
			return created{}, refusedAt(x, "the %s token account %s does not exist and the transaction does not create it", role, addr)
		}
		return created{}, fmt.Errorf("jupiter: the %s token account %s: %w", role, addr, err)
	}
	return created{owner: ta.Owner, mint: ta.Mint, program: ta.Program}, nil
}

// riskyExtensions are the Token-2022 extensions chains/solana refuses for
// transfers; a swap moves the same tokens, so it refuses them too.
var riskyExtensions = map[solana.Extension]string{
	solana.ExtTransferFeeConfig: "a transfer fee", solana.ExtTransferHook: "a transfer hook", solana.ExtPermanentDelegate: "a permanent delegate",
}

// mint reads a token account's mint, which must live under the account's
// token program and carry no extension that changes a transfer.
func (d *decoder) mint(x ix, a created) (solana.Mint, error) {
	m, err := d.look.Mint(d.ctx, a.mint)
	if err != nil {
		return solana.Mint{}, fmt.Errorf("jupiter: mint %s: %w", a.mint, err)
	}
	if !m.Program.Equals(a.program) {
		return solana.Mint{}, refusedAt(x, "mint %s belongs to %s, its token account to %s", a.mint, m.Program, a.program)
	}
	for _, e := range m.Extensions {
		if why, bad := riskyExtensions[e]; bad {
			return solana.Mint{}, fmt.Errorf("%w: mint %s has %s", solana.ErrRiskyMint, a.mint, why)
		}
	}
	return m, nil
}

// finish checks what only the whole transaction tells: that the accounts
// it creates are the swap's, and that wrapping and unwrapping SOL are the
// swap's own.
func (d *decoder) finish() error {
	r := d.route
	for addr, c := range d.atas {
		if !c.mint.Equals(r.InputMint.Address) && !c.mint.Equals(r.OutputMint.Address) {
			return fmt.Errorf("%w: it creates the wallet's account %s for mint %s, which the swap does not use", ErrRefused, addr, c.mint)
		}
	}
	if w := d.wrap; w != nil {
		lamports := binary.LittleEndian.Uint64(w.data[4:])
		switch {
		case !r.InputMint.Address.Equals(sol.WrappedSol) || !r.Source.Equals(d.wsol):
			return refusedAt(*w, "wraps %d lamports, and the swap does not spend the wallet's wSOL account", lamports)
		case w.i > d.routeX.i:
			return refusedAt(*w, "wraps SOL after the swap")
		case r.InAmount.Cmp(new(big.Int).SetUint64(lamports)) != 0:
			return refusedAt(*w, "wraps %d lamports, the swap puts in %s", lamports, r.InAmount)
		}
		r.NativeIn = true
	}
	for _, c := range d.closes {
		if c.i > d.routeX.i && r.OutputMint.Address.Equals(sol.WrappedSol) && r.Destination.Equals(d.wsol) {
			r.NativeOut = true
		}
	}
	return nil
}

// computeBudget reads a ComputeBudget instruction into f as the runtime
// does: each setting once.
func computeBudget(f *solana.Fees, x ix) error {
	d := x.data
	switch {
	case len(d) == 5 && d[0] == 2 && !f.LimitSet:
		f.UnitLimit, f.LimitSet = min(binary.LittleEndian.Uint32(d[1:]), 1_400_000), true
	case len(d) == 9 && d[0] == 3 && !f.PriceSet:
		f.UnitPrice, f.PriceSet = binary.LittleEndian.Uint64(d[1:]), true
	case len(d) == 5 && (d[0] == 1 || d[0] == 4):
		// heap frame, loaded accounts size: limits, not price
	default:
		return refusedAt(x, "a malformed, repeated or unknown ComputeBudget instruction")
	}
	return nil
}

// ata derives owner's associated token account for mint under program.
// Derivation searches for an off-curve point and dominates a
// verification, and a wallet swaps the same few mints, so results are
// kept; the cache is emptied when full, so hostile input cannot grow it.
func ata(owner, mint, program sol.PublicKey) (sol.PublicKey, error) {
	var k [96]byte
	copy(k[:], owner[:])
	copy(k[32:], mint[:])
	copy(k[64:], program[:])
	ataCache.Lock()
	a, ok := ataCache.m[k]
	ataCache.Unlock()
	if ok {
		return a, nil
	}
	a, _, err := sol.FindProgramAddress([][]byte{owner[:], program[:], mint[:]}, sol.SPLAssociatedTokenAccountProgramID)
	if err != nil {
		return a, err
	}
	ataCache.Lock()
	if len(ataCache.m) >= ataCacheSize {
		clear(ataCache.m)
	}
	ataCache.m[k] = a
	ataCache.Unlock()
	return a, nil
}

const ataCacheSize = 4096

var ataCache = struct {
	sync.Mutex
	m map[[96]byte]sol.PublicKey
}{m: map[[96]byte]sol.PublicKey{}}
