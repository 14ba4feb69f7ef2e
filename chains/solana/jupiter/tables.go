package jupiter

import (
	"context"
	"errors"
	"fmt"

	sol "github.com/gagliardetto/solana-go"
	alt "github.com/gagliardetto/solana-go/programs/address-lookup-table"
	"github.com/gagliardetto/solana-go/rpc"
)

// Tables reads address lookup tables. Jupiter's transactions name most of
// their accounts through them, so which accounts a transaction touches is
// not in its bytes: without the tables it cannot be checked, and is refused.
type Tables interface {
	// AddressTable returns the addresses stored in the table at addr.
	AddressTable(ctx context.Context, addr sol.PublicKey) (sol.PublicKeySlice, error)
}

// ErrUnresolvedTables is the error of a transaction whose lookup tables
// could not be read.
var ErrUnresolvedTables = errors.New("jupiter: the transaction's address lookup tables are not resolved")

// StaticTables are tables known in advance: a recorded state, a test.
type StaticTables map[sol.PublicKey]sol.PublicKeySlice

func (s StaticTables) AddressTable(_ context.Context, addr sol.PublicKey) (sol.PublicKeySlice, error) {
	if t, ok := s[addr]; ok {
		return t, nil
	}
	return nil, fmt.Errorf("address lookup table %s is unknown", addr)
}

// RPCTables reads tables from a node.
type RPCTables struct{ Client *rpc.Client }

func (r RPCTables) AddressTable(ctx context.Context, addr sol.PublicKey) (sol.PublicKeySlice, error) {
	st, err := alt.GetAddressLookupTable(ctx, r.Client, addr)
	if err != nil {
		return nil, fmt.Errorf("address lookup table %s: %w", addr, err)
	}
	return st.Addresses, nil
}

// ResolveTables reads tx's lookup tables through t and resolves its
// accounts in place, which both Verify and the signer's decoder need. The
// message's bytes, and so what is signed, do not change. A legacy or
// already resolved transaction is left as it is.
func ResolveTables(ctx context.Context, tx *sol.Transaction, t Tables) error {
	m := &tx.Message
	if !m.IsVersioned() || m.NumLookups() == 0 || m.IsResolved() {
		return nil
	}
	if t == nil {
		return fmt.Errorf("%w: it uses %d lookup tables and no way to read them was given (WithTables)", ErrUnresolvedTables, len(m.AddressTableLookups))
	}
	tables := make(map[sol.PublicKey]sol.PublicKeySlice, len(m.AddressTableLookups))
	for _, l := range m.AddressTableLookups {
		if _, ok := tables[l.AccountKey]; ok {
			continue
		}
		addrs, err := t.AddressTable(ctx, l.AccountKey)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrUnresolvedTables, err)
		}
		tables[l.AccountKey] = addrs
	}
	if err := m.SetAddressTables(tables); err != nil {
		return fmt.Errorf("%w: %v", ErrUnresolvedTables, err)
	}
	if err := m.ResolveLookups(); err != nil {
		return fmt.Errorf("%w: %v", ErrUnresolvedTables, err)
	}
	return nil
}
