package memory_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/memory"
	"github.com/mandatehq/mandate/memory/memtest"
)

const sender = "0xAbCdEf0000000000000000000000000000000001"

func tx(hash string, nonce uint64, key string, status evm.TxStatus) evm.TxRecord {
	return evm.TxRecord{
		Hash:       hash,
		Chain:      "1337",
		From:       sender,
		Nonce:      nonce,
		Key:        key,
		ApprovalID: "ap-" + hash,
		Raw:        []byte{0x02, 0xf8, 0x00, 0x71, 0x00, 0xff}, // NULs included
		Status:     status,
		CreatedAt:  day,
		UpdatedAt:  day,
	}
}

func TestJournal(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx := context.Background()
			j := st.Store.Journal()

			if _, ok, err := j.MaxNonce(ctx, "1337", sender); err != nil || ok {
				t.Fatalf("MaxNonce on an empty journal = %v, %v; want false", ok, err)
			}
			first := tx("0xa1", 7, "k7", evm.TxSigned)
			if err := j.Insert(ctx, first); err != nil {
				t.Fatal(err)
			}
			got, ok, err := j.ByHash(ctx, "1337", "0xA1") // any hex case
			if err != nil || !ok {
				t.Fatalf("ByHash = %v, %v", ok, err)
			}
			if !reflect.DeepEqual(got, first) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, first)
			}
			if got, ok, _ := j.ByKey(ctx, "1337", sender, "k7"); !ok || got.Hash != "0xa1" {
				t.Errorf("ByKey = %+v, %v", got, ok)
			}
			for _, miss := range [][3]string{{"1", sender, "k7"}, {"1337", "0xother", "k7"}, {"1337", sender, ""}} {
				if _, ok, err := j.ByKey(ctx, miss[0], miss[1], miss[2]); ok || err != nil {
					t.Errorf("ByKey%v = %v, %v; want not found", miss, ok, err)
				}
			}

			// The key is unique per chain and sender; the hash is unique.
			if err := j.Insert(ctx, tx("0xa2", 8, "k7", evm.TxSigned)); !errors.Is(err, evm.ErrDuplicateKey) {
				t.Errorf("reused key = %v, want evm.ErrDuplicateKey", err)
			}
			other := tx("0xa3", 1, "k7", evm.TxSigned)
			other.Chain = "1"
			if err := j.Insert(ctx, other); err != nil {
				t.Errorf("same key on another chain: %v", err)
			}
			if err := j.Insert(ctx, tx("0xa1", 9, "", evm.TxSigned)); !errors.Is(err, memory.ErrDuplicateTx) || errors.Is(err, evm.ErrDuplicateKey) {
				t.Errorf("reused hash = %v, want ErrDuplicateTx", err)
			}
			// Unkeyed transactions do not collide on the empty key.
			for _, rec := range []evm.TxRecord{
				tx("0xb8", 8, "", evm.TxSent),
				tx("0xb9", 9, "", evm.TxSigned),
				tx("0xb6", 6, "", evm.TxMined),
				tx("0xba", 10, "", evm.TxFailed),
			} {
				if err := j.Insert(ctx, rec); err != nil {
					t.Fatalf("Insert %s: %v", rec.Hash, err)
				}
			}

			open, err := j.Open(ctx, "1337", sender)
			if err != nil {
				t.Fatal(err)
			}
			if h := hashes(open); !reflect.DeepEqual(h, []string{"0xa1", "0xb8", "0xb9"}) {
				t.Errorf("Open = %v, want non-final by nonce", h)
			}
			if n, ok, err := j.MaxNonce(ctx, "1337", sender); err != nil || !ok || n != 9 {
				t.Errorf("MaxNonce = %d, %v, %v; want 9 (10 failed)", n, ok, err)
			}
			// The sender's letter case is only a checksum.
			lower := strings.ToLower(sender)
			if n, ok, _ := j.MaxNonce(ctx, "1337", lower); !ok || n != 9 {
				t.Errorf("MaxNonce(lower-case sender) = %d, %v; want 9", n, ok)
			}
			if got, ok, _ := j.ByKey(ctx, "1337", lower, "k7"); !ok || got.From != sender {
				t.Errorf("ByKey(lower-case sender) = %+v, %v; want the record as written", got, ok)
			}
			if open, _ := j.Open(ctx, "1337", lower); len(open) != 3 {
				t.Errorf("Open(lower-case sender) = %d records, want 3", len(open))
			}
			shouty := tx("0xa4", 11, "k7", evm.TxSigned)
			shouty.From = lower
			if err := j.Insert(ctx, shouty); !errors.Is(err, evm.ErrDuplicateKey) {
				t.Errorf("reused key, sender in other case = %v, want evm.ErrDuplicateKey", err)
			}

			// Replace nonce 7, mine the replacement.
			upd := time.Date(2025, 3, 14, 12, 5, 0, 0, time.UTC)
			if err := j.Insert(ctx, tx("0xa1ff", 7, "", evm.TxSent)); err != nil {
				t.Fatal(err)
			}
			if err := j.Update(ctx, evm.TxRecord{Hash: "0xa1", Status: evm.TxReplaced, ReplacedBy: "0xA1FF", UpdatedAt: upd}); err != nil {
				t.Fatal(err)
			}
			if err := j.Update(ctx, evm.TxRecord{Hash: "0xa1ff", Status: evm.TxMined, Block: 42}); err != nil {
				t.Fatal(err)
			}
			if err := j.Update(ctx, evm.TxRecord{Hash: "0xb9", Status: evm.TxReverted, Error: "execution reverted: STF", Block: 43}); err != nil {
				t.Fatal(err)
			}
			got, _, _ = j.ByHash(ctx, "1337", "0xa1")
			if got.Status != evm.TxReplaced || got.ReplacedBy != "0xa1ff" || !got.UpdatedAt.Equal(upd) || !got.CreatedAt.Equal(day) || got.Key != "k7" {
				t.Errorf("after Update: %+v", got)
			}
			got, _, _ = j.ByHash(ctx, "1337", "0xb9")
			if got.Status != evm.TxReverted || got.Error != "execution reverted: STF" || got.Block != 43 {
				t.Errorf("after Update: %+v", got)
			}
			open, _ = j.Open(ctx, "1337", sender)
			if h := hashes(open); !reflect.DeepEqual(h, []string{"0xb8"}) {
				t.Errorf("Open after updates = %v, want [0xb8]", h)
			}
			if err := j.Update(ctx, evm.TxRecord{Hash: "0xdead", Status: evm.TxMined}); !errors.Is(err, memory.ErrNotFound) {
				t.Errorf("Update(unknown) = %v, want ErrNotFound", err)
			}
		})
	}
}

// The journal's idea of "final" must match evm.TxStatus.Final.
func TestJournalFinalStatuses(t *testing.T) {
	st := memtest.SQLite(t)
	ctx := context.Background()
	j := st.Store.Journal()
	all := []evm.TxStatus{evm.TxSigned, evm.TxSent, evm.TxMined, evm.TxReverted, evm.TxReplaced, evm.TxFailed}
	var want []string
	for i, s := range all {
		h := "0x" + string(s)
		if err := j.Insert(ctx, tx(h, uint64(i), "", s)); err != nil {
			t.Fatal(err)
		}
		if !s.Final() {
			want = append(want, h)
		}
	}
	open, err := j.Open(ctx, "1337", sender)
	if err != nil {
		t.Fatal(err)
	}
	if got := hashes(open); !reflect.DeepEqual(got, want) {
		t.Errorf("Open = %v, want %v", got, want)
	}
}

func hashes(rs []evm.TxRecord) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Hash)
	}
	return out
}

// OpenNonces agrees with Open: the nonces of a sender's open transactions
// at or above the floor, lowest first, whatever the sender's letter case,
// final ones left out.
func TestJournalOpenNonces(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx := context.Background()
			j := st.Store.Journal()
			on, ok := j.(evm.OpenNoncer)
			if !ok {
				t.Fatal("the store's journal does not list open nonces")
			}
			for _, rec := range []evm.TxRecord{
				tx("0xc5", 5, "", evm.TxSent),
				tx("0xc7", 7, "", evm.TxSigned),
				tx("0xc7b", 7, "", evm.TxSent), // a replacement at the same nonce
				tx("0xc8", 8, "", evm.TxMined),
				tx("0xc9", 9, "", evm.TxFailed),
				tx("0xca", 10, "", evm.TxSent),
			} {
				if err := j.Insert(ctx, rec); err != nil {
					t.Fatal(err)
				}
			}
			other := tx("0xd6", 6, "", evm.TxSent)
			other.From = "0x0000000000000000000000000000000000000002"
			if err := j.Insert(ctx, other); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				floor uint64
				want  []uint64
			}{{0, []uint64{5, 7, 7, 10}}, {6, []uint64{7, 7, 10}}, {11, nil}, {1 << 63, nil}} {
				got, err := on.OpenNonces(ctx, "1337", "0x"+strings.ToUpper(sender[2:]), tc.floor)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(tc.want) || (len(got) > 0 && !reflect.DeepEqual(got, tc.want)) {
					t.Errorf("OpenNonces from %d = %v, want %v", tc.floor, got, tc.want)
				}
			}
			if got, err := on.OpenNonces(ctx, "1", sender, 0); err != nil || len(got) != 0 {
				t.Errorf("OpenNonces on another chain = %v, %v; want none", got, err)
			}
		})
	}
}
