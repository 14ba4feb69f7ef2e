package solana

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
)

// Fees are what a transaction pays its validators: a base fee per
// signature and a priority fee set by ComputeBudget instructions. They are
// not a policy intent (no one receives them) but they do leave the wallet,
// so the signer checks them against a FeeCap rather than taking any price
// a quote or a builder chose.
type Fees struct {
	Signatures int
	// UnitLimit is the compute-unit limit the transaction requests, or the
	// runtime's default for its instructions when it sets none.
	UnitLimit uint32
	LimitSet  bool
	// UnitPrice is the priority fee in micro-lamports per compute unit.
	UnitPrice uint64
	PriceSet  bool
}

// Runtime constants of fees, the same on every cluster.
const (
	lamportsPerSignature = 5000
	defaultUnitsPerIx    = 200_000
	maxUnits             = 1_400_000
)

// Max is the most the transaction can pay in lamports: the signatures' base
// fee plus the unit price times the unit limit (rounded up, as the runtime
// does).
func (f Fees) Max() *big.Int {
	prio := new(big.Int).Mul(new(big.Int).SetUint64(f.UnitPrice), big.NewInt(int64(f.UnitLimit)))
	prio.Add(prio, big.NewInt(999_999))
	prio.Quo(prio, big.NewInt(1_000_000))
	return prio.Add(prio, big.NewInt(int64(f.Signatures)*lamportsPerSignature))
}

// FeeCap bounds the fees a signer accepts; a zero field sets no bound.
type FeeCap struct {
	MaxUnitPrice uint64   // micro-lamports per compute unit
	MaxLamports  *big.Int // Fees.Max
}

// ErrFeeOverCap is Check's error, for callers that retry at a lower price.
var ErrFeeOverCap = errors.New("solana: the transaction's fee is over the cap")

// Check refuses fees over c.
func (f Fees) Check(c FeeCap) error {
	if c.MaxUnitPrice > 0 && f.UnitPrice > c.MaxUnitPrice {
		return fmt.Errorf("%w: unit price %d micro-lamports is above %d; lower the priority fee", ErrFeeOverCap, f.UnitPrice, c.MaxUnitPrice)
	}
	if c.MaxLamports != nil && f.Max().Cmp(c.MaxLamports) > 0 {
		return fmt.Errorf("%w: up to %s lamports is above %s; lower the priority fee or the unit limit", ErrFeeOverCap, f.Max(), c.MaxLamports)
	}
	return nil
}

// ComputeBudget instruction discriminators.
const (
	cbRequestHeapFrame     = 1
	cbSetComputeUnitLimit  = 2
	cbSetComputeUnitPrice  = 3
	cbSetLoadedAccountSize = 4
)

// computeBudget reads one ComputeBudget instruction into f. The runtime
// refuses a transaction that sets the same thing twice, and so does this.
func (f *Fees) computeBudget(data []byte) error {
	if len(data) == 0 {
		return errors.New("solana: an empty ComputeBudget instruction; the transaction is malformed")
	}
	switch data[0] {
	case cbSetComputeUnitLimit:
		if len(data) != 5 || f.LimitSet {
			return errors.New("solana: a malformed or repeated SetComputeUnitLimit; the transaction is malformed")
		}
		f.UnitLimit, f.LimitSet = min(binary.LittleEndian.Uint32(data[1:]), maxUnits), true
	case cbSetComputeUnitPrice:
		if len(data) != 9 || f.PriceSet {
			return errors.New("solana: a malformed or repeated SetComputeUnitPrice; the transaction is malformed")
		}
		f.UnitPrice, f.PriceSet = binary.LittleEndian.Uint64(data[1:]), true
	case cbRequestHeapFrame, cbSetLoadedAccountSize:
		// They change limits, not what is paid per unit.
	default:
		return fmt.Errorf("solana: ComputeBudget instruction %d is not supported; build the transaction with SetComputeUnitLimit and SetComputeUnitPrice", data[0])
	}
	return nil
}

// defaultLimit sets the limit the runtime applies when none is requested.
func (f *Fees) defaultLimit(instructions int) {
	if !f.LimitSet {
		f.UnitLimit = uint32(min(instructions*defaultUnitsPerIx, maxUnits))
	}
}
