package jupiter

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	sol "github.com/gagliardetto/solana-go"
)

// The Jupiter v6 aggregator program and the account its Anchor events are
// emitted through (both fixed on every cluster Jupiter runs on).
var (
	ProgramID      = sol.MustPublicKeyFromBase58("JUP6LkbZbjS1jKKwapdHNy74zcZ3tLUZoi5QNyVTaV4")
	EventAuthority = sol.MustPublicKeyFromBase58("D8cy77BBepLMngZx6ZukaTff5hCt1HrWyKk3Hnd9oitf")
)

// routeKind is one of the program's swap instructions.
type routeKind uint8

const (
	kindRoute routeKind = iota
	kindSharedAccountsRoute
	kindExactOutRoute
	kindSharedAccountsExactOutRoute
)

var routeNames = [...]string{"route", "shared_accounts_route", "exact_out_route", "shared_accounts_exact_out_route"}

func (k routeKind) String() string { return routeNames[k] }

// discriminator is Anchor's instruction tag: the first 8 bytes of
// sha256("global:" + name).
func discriminator(name string) [8]byte {
	h := sha256.Sum256([]byte("global:" + name))
	var d [8]byte
	copy(d[:], h[:8])
	return d
}

var routeDiscriminators = func() map[[8]byte]routeKind {
	m := make(map[[8]byte]routeKind, len(routeNames))
	for k, n := range routeNames {
		m[discriminator(n)] = routeKind(k)
	}
	return m
}()

// otherInstructions are the program's instructions that are no swap; a
// transaction carrying one is refused by name rather than as "unknown".
var otherInstructions = func() map[[8]byte]string {
	m := map[[8]byte]string{}
	for _, n := range []string{"route_with_token_ledger", "shared_accounts_route_with_token_ledger", "set_token_ledger",
		"create_open_orders", "create_token_account", "create_program_open_orders", "claim", "claim_token", "create_token_ledger"} {
		m[discriminator(n)] = n
	}
	return m
}()

// Account positions of each route instruction, from the program's IDL
// (event_authority and program follow the IDL's accounts, as Anchor's
// event CPI adds them). An optional account the transaction leaves out is
// the program's own id in its place.
type layout struct {
	accounts     int // fixed accounts before the route's AMM accounts
	tokenProgram int
	authority    int // user_transfer_authority, the signer
	source       int // the user's source token account
	userDest     int // user_destination_token_account (route) or -1
	dest         int // destination_token_account
	sourceMint   int // -1 when the instruction does not name it
	destMint     int
	platformFee  int
	token2022    int // -1 when absent
	eventAuth    int
	program      int
}

var layouts = [...]layout{
	kindRoute: {accounts: 9, tokenProgram: 0, authority: 1, source: 2, userDest: 3, dest: 4,
		sourceMint: -1, destMint: 5, platformFee: 6, token2022: -1, eventAuth: 7, program: 8},
	kindSharedAccountsRoute: {accounts: 13, tokenProgram: 0, authority: 2, source: 3, userDest: -1, dest: 6,
		sourceMint: 7, destMint: 8, platformFee: 9, token2022: 10, eventAuth: 11, program: 12},
	kindExactOutRoute: {accounts: 11, tokenProgram: 0, authority: 1, source: 2, userDest: 3, dest: 4,
		sourceMint: 5, destMint: 6, platformFee: 7, token2022: 8, eventAuth: 9, program: 10},
	kindSharedAccountsExactOutRoute: {accounts: 13, tokenProgram: 0, authority: 2, source: 3, userDest: -1, dest: 6,
		sourceMint: 7, destMint: 8, platformFee: 9, token2022: 10, eventAuth: 11, program: 12},
}

// routeArgs are a route instruction's arguments. For the exact-out kinds
// the program names them out_amount and quoted_in_amount; they land in
// outAmount and inAmount.
type routeArgs struct {
	kind           routeKind
	id             uint8
	steps          int
	inAmount       uint64
	outAmount      uint64
	slippageBps    uint16
	platformFeeBps uint8
}

// errRouteData is the parse error of a route instruction's data.
var errRouteData = errors.New("its data does not decode")

// swapVariants are the variants of the program's Swap enum
// (RoutePlanStep.swap) in IDL order, with the size of their fields; -1
// marks WhirlpoolSwapV2, whose optional remaining-accounts info has a
// variable length. A variant past the table is refused: without its size the arguments after the
// route plan (the amounts) cannot be located, and reading them from the
// end instead would let trailing bytes the program ignores decide them.
var swapVariants = [...]struct {
	name string
	size int8
}{
	{"Saber", 0},                            // 0
	{"SaberAddDecimalsDeposit", 0},          // 1
	{"SaberAddDecimalsWithdraw", 0},         // 2
	{"TokenSwap", 0},                        // 3
	{"Sencha", 0},                           // 4
	{"Step", 0},                             // 5
	{"Cropper", 0},                          // 6
	{"Raydium", 0},                          // 7
	{"Crema", 1},                            // 8
	{"Lifinity", 0},                         // 9
	{"Mercurial", 0},                        // 10
	{"Cykura", 0},                           // 11
	{"Serum", 1},                            // 12
	{"MarinadeDeposit", 0},                  // 13
	{"MarinadeUnstake", 0},                  // 14
	{"Aldrin", 1},                           // 15
	{"AldrinV2", 1},                         // 16
	{"Whirlpool", 1},                        // 17
	{"Invariant", 1},                        // 18
	{"Meteora", 0},                          // 19
	{"GooseFX", 0},                          // 20
	{"DeltaFi", 1},                          // 21
	{"Balansol", 0},                         // 22
	{"MarcoPolo", 1},                        // 23
	{"Dradex", 1},                           // 24
	{"LifinityV2", 0},                       // 25
	{"RaydiumClmm", 0},                      // 26
	{"Openbook", 1},                         // 27
	{"Phoenix", 1},                          // 28
	{"Symmetry", 16},                        // 29
	{"TokenSwapV2", 0},                      // 30
	{"HeliumTreasuryManagementRedeemV0", 0}, // 31
	{"StakeDexStakeWrappedSol", 0},          // 32
	{"StakeDexSwapViaStake", 4},             // 33
	{"GooseFXV2", 0},                        // 34
	{"Perps", 0},                            // 35
	{"PerpsAddLiquidity", 0},                // 36
	{"PerpsRemoveLiquidity", 0},             // 37
	{"MeteoraDlmm", 0},                      // 38
	{"OpenBookV2", 1},                       // 39
	{"RaydiumClmmV2", 0},                    // 40
	{"StakeDexPrefundWithdrawStakeAndDepositStake", 4}, // 41
	{"Clone", 3},                   // 42
	{"SanctumS", 10},               // 43
	{"SanctumSAddLiquidity", 5},    // 44
	{"SanctumSRemoveLiquidity", 5}, // 45
	{"RaydiumCP", 0},               // 46
	{"WhirlpoolSwapV2", -1},        // 47
	{"OneIntro", 0},                // 48
	{"PumpdotfunWrappedBuy", 0},    // 49
	{"PumpdotfunWrappedSell", 0},   // 50
	{"PerpsV2", 0},                 // 51
	{"PerpsV2AddLiquidity", 0},     // 52
	{"PerpsV2RemoveLiquidity", 0},  // 53
	{"MoonshotWrappedBuy", 0},      // 54
	{"MoonshotWrappedSell", 0},     // 55
	{"StabbleStableSwap", 0},       // 56
	{"StabbleWeightedSwap", 0},     // 57
	{"Obric", 1},                   // 58
	{"FoxBuyFromEstimatedCost", 0}, // 59
	{"FoxClaimPartial", 1},         // 60
	{"SolFi", 1},                   // 61
}

// reader reads Borsh values, remembering the first error.
type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.err = fmt.Errorf("%w: it ends early", errRouteData)
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8() uint8 {
	if v := r.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if v := r.take(2); v != nil {
		return binary.LittleEndian.Uint16(v)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if v := r.take(4); v != nil {
		return binary.LittleEndian.Uint32(v)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if v := r.take(8); v != nil {
		return binary.LittleEndian.Uint64(v)
	}
	return 0
}

// parseRoute decodes a route instruction's data (after its discriminator)
// the way the program's Borsh decoder does, and requires it to end where
// the arguments end.
func parseRoute(kind routeKind, data []byte) (routeArgs, error) {
	r := &reader{b: data}
	a := routeArgs{kind: kind}
	if kind == kindSharedAccountsRoute || kind == kindSharedAccountsExactOutRoute {
		a.id = r.u8()
	}
	n := r.u32()
	// Each step takes at least 4 bytes; a larger count is a lie about length.
	if r.err == nil && int64(n)*4 > int64(len(r.b)) {
		return a, fmt.Errorf("%w: the route plan claims %d steps in %d bytes", errRouteData, n, len(r.b))
	}
	if r.err == nil && n == 0 {
		return a, fmt.Errorf("%w: the route plan is empty", errRouteData)
	}
	for i := 0; i < int(n) && r.err == nil; i++ {
		if err := skipStep(r, i); err != nil {
			return a, err
		}
	}
	a.steps = int(n)
	if kind == kindExactOutRoute || kind == kindSharedAccountsExactOutRoute {
		a.outAmount, a.inAmount = r.u64(), r.u64()
	} else {
		a.inAmount, a.outAmount = r.u64(), r.u64()
	}
	a.slippageBps = r.u16()
	a.platformFeeBps = r.u8()
	if r.err != nil {
		return a, r.err
	}
	if len(r.b) != 0 {
		return a, fmt.Errorf("%w: %d bytes follow its arguments", errRouteData, len(r.b))
	}
	return a, nil
}

// skipStep reads one RoutePlanStep: the swap variant and its fields, then
// percent, input_index and output_index.
func skipStep(r *reader, i int) error {
	v := r.u8()
	if r.err != nil {
		return r.err
	}
	if int(v) >= len(swapVariants) {
		return fmt.Errorf("%w: route step %d uses swap variant %d, which this verifier does not know (it knows 0-%d); update its table from the program's IDL", errRouteData, i, v, len(swapVariants)-1)
	}
	switch n := swapVariants[v].size; {
	case n >= 0:
		r.take(int(n))
	default: // WhirlpoolSwapV2 {a_to_b: bool, remaining_accounts_info: Option<{slices: Vec<{accounts_type: u8 enum, length: u8}>}>}
		r.take(1)
		switch opt := r.u8(); {
		case r.err != nil:
		case opt == 1:
			k := r.u32()
			if r.err == nil && int64(k)*2 > int64(len(r.b)) {
				return fmt.Errorf("%w: route step %d claims %d remaining-account slices", errRouteData, i, k)
			}
			r.take(int(k) * 2)
		case opt != 0:
			return fmt.Errorf("%w: route step %d has an option tag %d", errRouteData, i, opt)
		}
	}
	r.take(3)
	return r.err
}
