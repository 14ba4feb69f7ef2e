package memory

import (
	"fmt"
	"math"
	"math/big"
	"slices"
	"time"

	"gorm.io/gorm"
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

// addCounters adds each spend's amount (negated with sign -1) to its
// bucket's counter for its hour. The caller holds the buckets' locks.
func addCounters(tx *gorm.DB, spends []spendRow, sign int) error {
	type key struct {
		bucket string
		hour   int64
	}
	delta := map[key]*big.Int{}
	var keys []key
	for _, sp := range spends {
		a, ok := new(big.Int).SetString(sp.Amount, 10)
		if !ok {
			return fmt.Errorf("corrupt amount %q in bucket %s", sp.Amount, sp.Bucket)
		}
		k := key{sp.Bucket, hourOf(sp.AtNs)}
		if delta[k] == nil {
			delta[k] = new(big.Int)
			keys = append(keys, k)
		}
		if sign < 0 {
			a.Neg(a)
		}
		delta[k].Add(delta[k], a)
	}
	slices.SortFunc(keys, func(a, b key) int {
		if a.bucket != b.bucket {
			if a.bucket < b.bucket {
				return -1
			}
			return 1
		}
		return int(max(-1, min(1, a.hour-b.hour)))
	})
	for _, k := range keys {
		if err := addCounter(tx, k.bucket, k.hour, delta[k]); err != nil {
			return err
		}
	}
	return nil
}

func addCounter(tx *gorm.DB, bucket string, hour int64, delta *big.Int) error {
	var rows []counterRow
	if err := tx.Where("bucket = ? AND hour = ?", bucket, hour).Limit(1).Find(&rows).Error; err != nil {
		return fmt.Errorf("spend counter: %w", err)
	}
	if len(rows) == 0 {
		return tx.Create(&counterRow{Bucket: bucket, Hour: hour, Amount: delta.String()}).Error
	}
	cur, ok := new(big.Int).SetString(rows[0].Amount, 10)
	if !ok {
		return fmt.Errorf("corrupt counter %q of bucket %s", rows[0].Amount, bucket)
	}
	cur.Add(cur, delta)
	if cur.Sign() < 0 {
		return fmt.Errorf("spend counter of bucket %s would go below zero: the counters disagree with the spends", bucket)
	}
	return tx.Model(&counterRow{}).Where("bucket = ? AND hour = ?", bucket, hour).Update("amount", cur.String()).Error
}

// sumLive is the live spends of a bucket at or after since: the counters
// of the whole hours after the one since falls in, and that hour's spend
// rows from since on. It adds with math/big: a SUM in SQL could overflow
// SQLite's integers or round through a float.
func sumLive(db *gorm.DB, bucket string, since time.Time) (*big.Int, error) {
	from := nanos(since)
	first := hourOf(from)
	sum := new(big.Int)
	var counters []string
	if err := db.Model(&counterRow{}).Where("bucket = ? AND hour > ?", bucket, first).Pluck("amount", &counters).Error; err != nil {
		return nil, err
	}
	if err := addAll(sum, counters, bucket); err != nil {
		return nil, err
	}
	end := int64(math.MaxInt64)
	if first < math.MaxInt64/hourNs {
		end = (first + 1) * hourNs
	}
	var partial []string
	if err := db.Model(&spendRow{}).Where(whereLiveSpends+" AND at_ns < ?", bucket, from, end).
		Pluck("amount", &partial).Error; err != nil {
		return nil, err
	}
	if err := addAll(sum, partial, bucket); err != nil {
		return nil, err
	}
	return sum, nil
}

func addAll(sum *big.Int, amounts []string, bucket string) error {
	var a big.Int
	for _, s := range amounts {
		if _, ok := a.SetString(s, 10); !ok {
			return fmt.Errorf("corrupt amount %q in bucket %s", s, bucket)
		}
		sum.Add(sum, &a)
	}
	return nil
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
	return addCounters(tx, live, -1)
}

// backfillCounters counts the live spends a database held before the
// counters existed.
func backfillCounters(tx *gorm.DB) error {
	var live []spendRow
	if err := tx.Where("voided_at_ns IS NULL").Order("id").Find(&live).Error; err != nil {
		return err
	}
	return addCounters(tx, live, 1)
}
