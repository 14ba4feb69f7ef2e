package memory

import (
	"cmp"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// The ledger keeps, beside every spend row, a counter per bucket and hour:
// the sum of the live spends charged in that hour. A daily limit then reads
// at most 25 counters and the spends of the one hour the window starts in,
// instead of every spend of the last 24 hours, and the sum stays exact: the
// counters cover only whole hours inside the window, and the hour it starts
// in is summed from its rows. A counter is written in the transaction that
// charges or voids the spends it counts, under the same bucket locks, so it
// never disagrees with them.

// counterRow is a bucket's live spends in one hour, as decimal text (SQLite
// has no integer wide enough).
type counterRow struct {
	Bucket string `gorm:"column:bucket;primaryKey"`
	Hour   int64  `gorm:"column:hour;primaryKey"` // Unix nanoseconds / hourNs, rounded down
	Amount string `gorm:"column:amount"`
}

func (counterRow) TableName() string { return "spend_counters" }

const hourNs = int64(time.Hour)

// hourOf is the hour a time in Unix nanoseconds falls in, rounded down
// (toward minus infinity, so times before 1970 land in the right hour).
func hourOf(ns int64) int64 {
	h := ns / hourNs
	if ns%hourNs < 0 {
		h--
	}
	return h
}

// windowQuery is sumWindows' statement. It notes in after, per bucket, the
// hour after which it reads every counter.
func windowQuery(ws []window, after map[string]int64) (string, []any) {
	var q strings.Builder
	args := make([]any, 0, 5*len(ws))
	for i, w := range ws {
		from := nanos(w.since)
		first := hourOf(from)
		end := int64(math.MaxInt64)
		if first < math.MaxInt64/hourNs {
			end = (first + 1) * hourNs
		}
		if i > 0 {
			q.WriteString(" UNION ALL ")
		}
		// w is the window's index: generated here, never input.
		fmt.Fprintf(&q, "SELECT %d AS w, 1 AS counter, hour, amount FROM spend_counters WHERE bucket = ? AND hour > ?"+
			" UNION ALL SELECT %d, 0, 0, amount FROM spends WHERE "+whereLiveSpends+" AND at_ns < ?", i, i)
		args = append(args, w.bucket, first, w.bucket, from, end)
		// Two windows of one bucket: the earlier start read every counter
		// the later did.
		if prev, ok := after[w.bucket]; !ok || first < prev {
			after[w.bucket] = first
		}
	}
	return q.String(), args
}

// bucketHour names a counter.
type bucketHour struct {
	bucket string
	hour   int64
}

// known is what a transaction has read of the counters: every counter of a
// bucket for the hours after after[bucket] (a row not read there is zero),
// under the bucket's lock. A charge in the same transaction updates those
// without reading them again.
type known struct {
	after map[string]int64
	rows  map[bucketHour]*big.Int
}

// at is the counter k as read, and whether it was.
func (kn known) at(k bucketHour) (*big.Int, bool) {
	first, ok := kn.after[k.bucket]
	if !ok || k.hour <= first {
		return nil, false
	}
	if v := kn.rows[k]; v != nil {
		return new(big.Int).Set(v), true
	}
	return new(big.Int), true
}

// addCounters adds each spend's amount (negated with sign -1) to its
// bucket's counter for its hour, in one statement. The caller holds the
// buckets' locks; a counter kn does not hold is read first.
func addCounters(tx *gorm.DB, spends []spendRow, sign int, kn known) error {
	delta := map[bucketHour]*big.Int{}
	var keys []bucketHour
	for _, sp := range spends {
		a, ok := new(big.Int).SetString(sp.Amount, 10)
		if !ok {
			return fmt.Errorf("corrupt amount %q in bucket %s", sp.Amount, sp.Bucket)
		}
		k := bucketHour{sp.Bucket, hourOf(sp.AtNs)}
		if delta[k] == nil {
			delta[k] = new(big.Int)
			keys = append(keys, k)
		}
		if sign < 0 {
			a.Neg(a)
		}
		delta[k].Add(delta[k], a)
	}
	slices.SortFunc(keys, func(a, b bucketHour) int {
		if c := strings.Compare(a.bucket, b.bucket); c != 0 {
			return c
		}
		return cmp.Compare(a.hour, b.hour)
	})
	rows := make([]counterRow, 0, len(keys))
	for _, k := range keys {
		cur, ok := kn.at(k)
		if !ok {
			var err error
			if cur, err = readCounter(tx, k); err != nil {
				return err
			}
		}
		cur.Add(cur, delta[k])
		if cur.Sign() < 0 {
			return fmt.Errorf("spend counter of bucket %s would go below zero: the counters disagree with the spends", k.bucket)
		}
		rows = append(rows, counterRow{Bucket: k.bucket, Hour: k.hour, Amount: cur.String()})
	}
	if len(rows) == 0 {
		return nil
	}
	err := tx.Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "bucket"}, {Name: "hour"}},
		DoUpdates: clause.AssignmentColumns([]string{"amount"}),
	}).Create(&rows).Error
	if err != nil {
		return fmt.Errorf("spend counter: %w", err)
	}
	return nil
}

func readCounter(tx *gorm.DB, k bucketHour) (*big.Int, error) {
	var amounts []string
	if err := tx.Model(&counterRow{}).Where("bucket = ? AND hour = ?", k.bucket, k.hour).Limit(1).Pluck("amount", &amounts).Error; err != nil {
		return nil, fmt.Errorf("spend counter: %w", err)
	}
	if len(amounts) == 0 {
		return new(big.Int), nil
	}
	cur, ok := new(big.Int).SetString(amounts[0], 10)
	if !ok {
		return nil, fmt.Errorf("corrupt counter %q of bucket %s", amounts[0], k.bucket)
	}
	return cur, nil
}

// window is a bucket's live spends at or after since.
type window struct {
	bucket string
	since  time.Time
}

// sumWindows sums the live spends of each window, in one statement: the
// counters of the whole hours after the one a window's start falls in,
// and that hour's spend rows from the start on. It adds with math/big: a
// SUM in SQL could overflow SQLite's integers or round through a float.
// The counters it read come back too (see known).
func sumWindows(db *gorm.DB, ws []window) ([]*big.Int, known, error) {
	kn := known{after: map[string]int64{}, rows: map[bucketHour]*big.Int{}}
	sums := make([]*big.Int, len(ws))
	if len(ws) == 0 {
		return sums, kn, nil
	}
	for i := range sums {
		sums[i] = new(big.Int)
	}
	q, args := windowQuery(ws, kn.after)
	rows, err := db.Raw(q, args...).Rows()
	if err != nil {
		return nil, known{}, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			i, counter int
			hour       int64
			amount     string
		)
		if err := rows.Scan(&i, &counter, &hour, &amount); err != nil {
			return nil, known{}, err
		}
		if i < 0 || i >= len(ws) {
			return nil, known{}, fmt.Errorf("spend sums: window %d of %d", i, len(ws))
		}
		a, ok := new(big.Int).SetString(amount, 10)
		if !ok {
			return nil, known{}, fmt.Errorf("corrupt amount %q in bucket %s", amount, ws[i].bucket)
		}
		sums[i].Add(sums[i], a)
		if counter == 1 {
			kn.rows[bucketHour{ws[i].bucket, hour}] = a
		}
	}
	if err := rows.Err(); err != nil {
		return nil, known{}, err
	}
	return sums, kn, nil
}

// voidSpends voids the live spends of a decision at now and takes them off
// their counters, under their buckets' locks.
func (s *Store) voidSpends(tx *gorm.DB, decisionID, now int64) error {
	var live []spendRow
	if err := tx.Where("decision_id = ? AND voided_at_ns IS NULL", decisionID).Order("id").Find(&live).Error; err != nil {
		return err
	}
	if len(live) == 0 {
		return nil
	}
	if s.backend == backendPostgres {
		keys := make([]int64, 0, len(live))
		for _, sp := range live {
			keys = append(keys, lockKey("bucket", sp.Bucket))
		}
		slices.Sort(keys)
		if err := lockPostgres(tx, slices.Compact(keys)); err != nil {
			return err
		}
	}
	if err := tx.Model(&spendRow{}).Where("decision_id = ? AND voided_at_ns IS NULL", decisionID).
		Update("voided_at_ns", now).Error; err != nil {
		return err
	}
	return addCounters(tx, live, -1, known{})
}

// backfillCounters counts the live spends a database held before the
// counters existed.
func backfillCounters(tx *gorm.DB) error {
	var live []spendRow
	if err := tx.Where("voided_at_ns IS NULL").Order("id").Find(&live).Error; err != nil {
		return err
	}
	return addCounters(tx, live, 1, known{})
}
