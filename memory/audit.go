package memory

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sync"
	"time"

	"gorm.io/gorm"
)

// The decisions audit is a hash chain per wallet (or Safe): every event —
// a decision, and each later change of its release or supersession — is a
// link in audit_chain carrying its content and the hash of the link before
// it. A link is written in the same transaction as what it records, so a
// crash leaves neither (never a gap), and anyone who deletes, edits or
// inserts a decision or a link by hand breaks the chain where they did it.
// Someone with write access can still rewrite a whole chain from the edit
// onward; VerifyAudit returns each chain's head hash so an operator can
// keep it elsewhere and check it later (`mandate audit verify --head`).

// auditRow is a link of the chain.
type auditRow struct {
	ID         int64  `gorm:"column:id;primaryKey;autoIncrement"`
	WalletKey  string `gorm:"column:wallet_key"`
	Seq        int64  `gorm:"column:seq"`
	Event      string `gorm:"column:event"` // auditDecision or auditUpdate
	DecisionID int64  `gorm:"column:decision_id"`
	Content    string `gorm:"column:content"`
	PrevHash   string `gorm:"column:prev_hash"`
	Hash       string `gorm:"column:hash"`
	AtNs       int64  `gorm:"column:at_ns"`
}

func (auditRow) TableName() string { return "audit_chain" }

const (
	auditDecision = "decision" // a decision was recorded
	auditUpdate   = "update"   // its release or supersession changed
)

// decisionContent is what a decision link records: every field of the
// decision that does not change afterwards, and the spends it charged, as
// stored (the reasons and prices in their stored JSON text).
type decisionContent struct {
	DecisionID int64          `json:"decision_id"`
	ApprovalID string         `json:"approval_id"`
	Wallet     string         `json:"wallet"`
	Chain      string         `json:"chain"`
	Key        string         `json:"key"`
	Kind       string         `json:"kind"`
	Digest     string         `json:"digest"`
	Intent     string         `json:"intent"`
	Decision   string         `json:"decision"`
	Reasons    string         `json:"reasons"`
	Prices     string         `json:"prices"`
	AtNs       int64          `json:"at_ns"`
	Spends     []spendContent `json:"spends"`
}

type spendContent struct {
	Bucket string `json:"bucket"`
	Amount string `json:"amount"`
}

// updateContent is what an update link records: the decision's mutable
// fields after the change.
type updateContent struct {
	DecisionID    int64  `json:"decision_id"`
	ReleasedAtNs  *int64 `json:"released_at_ns"`
	ReleaseReason string `json:"release_reason"`
	SupersededBy  string `json:"superseded_by"`
}

func contentOfDecision(r decisionRow, spends []spendRow) ([]byte, error) {
	c := decisionContent{
		DecisionID: r.ID, ApprovalID: r.ApprovalID, Wallet: r.Wallet, Chain: r.Chain, Key: r.IdemKey,
		Kind: r.Kind, Digest: r.Digest, Intent: r.Intent, Decision: r.Decision, Reasons: r.Reasons,
		Prices: r.Prices, AtNs: r.AtNs, Spends: []spendContent{},
	}
	for _, sp := range spends {
		c.Spends = append(c.Spends, spendContent{Bucket: sp.Bucket, Amount: sp.Amount})
	}
	return json.Marshal(c)
}

func contentOfUpdate(r decisionRow) ([]byte, error) {
	return json.Marshal(updateContent{DecisionID: r.ID, ReleasedAtNs: r.ReleasedAtNs, ReleaseReason: r.ReleaseReason, SupersededBy: r.SupersededBy})
}

// linkHash chains content to the link before it.
func linkHash(prev string, content []byte) string {
	h := sha256.New()
	h.Write([]byte(prev))
	h.Write([]byte{'\n'})
	h.Write(content)
	return hex.EncodeToString(h.Sum(nil))
}

// chain appends a link for an event of decision r inside tx. On
// PostgreSQL it first takes the wallet's chain lock, so concurrent
// writers of one wallet append one after the other; on SQLite the write
// transaction already excludes them. Callers take it after any other lock
// (bucket, key, nonce), so the lock order stays acyclic.
//
// The link names the head this store wrote last, and is inserted only if
// that is still the chain's head in tx: one statement where reading the
// head first took two. When it is not (another process appended, or the
// transaction that wrote it rolled back) the head is read and the link
// made again.
func (s *Store) chain(tx *gorm.DB, event string, r decisionRow, spends []spendRow) error {
	if s.backend == backendPostgres {
		if err := pgAdvisoryLock(tx, lockKey("audit", r.WalletKey)); err != nil {
			return fmt.Errorf("lock the audit chain: %w", err)
		}
	}
	content, err := linkContent(event, r, spends)
	if err != nil {
		return err
	}
	if head, ok := s.heads.get(r.WalletKey); ok {
		link := newLink(event, r, content, head)
		res := tx.Exec(insertAfterHead, link.WalletKey, link.Seq, link.Event, link.DecisionID, link.Content,
			link.PrevHash, link.Hash, link.AtNs, link.WalletKey, head.Seq, head.Hash, link.WalletKey, head.Seq)
		if res.Error != nil {
			return fmt.Errorf("audit chain: %w", res.Error)
		}
		if res.RowsAffected == 1 {
			s.heads.put(link)
			return nil
		}
	}
	link, err := appendLink(tx, event, r, content)
	if err == nil {
		s.heads.put(link)
	}
	return err
}

// insertAfterHead inserts a link if the one it follows is its chain's
// head. The casts type the parameters for PostgreSQL, which cannot infer
// them from an INSERT's SELECT list.
const insertAfterHead = `INSERT INTO audit_chain (wallet_key, seq, event, decision_id, content, prev_hash, hash, at_ns)
	SELECT CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS BIGINT)
	WHERE EXISTS (SELECT 1 FROM audit_chain WHERE wallet_key = ? AND seq = ? AND hash = ?)
	AND NOT EXISTS (SELECT 1 FROM audit_chain WHERE wallet_key = ? AND seq > ?)`

// appendLink appends a link after the head it reads.
func appendLink(tx *gorm.DB, event string, r decisionRow, content []byte) (auditRow, error) {
	var last []auditRow
	if err := tx.Where("wallet_key = ?", r.WalletKey).Order("seq DESC").Limit(1).Find(&last).Error; err != nil {
		return auditRow{}, fmt.Errorf("audit chain head: %w", err)
	}
	var head auditRow // Seq 0, no hash: the chain is empty
	if len(last) == 1 {
		head = last[0]
	}
	link := newLink(event, r, content, head)
	if err := tx.Create(&link).Error; err != nil {
		return auditRow{}, fmt.Errorf("audit chain: %w", err)
	}
	return link, nil
}

func linkContent(event string, r decisionRow, spends []spendRow) ([]byte, error) {
	if event == auditDecision {
		return contentOfDecision(r, spends)
	}
	return contentOfUpdate(r)
}

// newLink is the link of an event of r after head.
func newLink(event string, r decisionRow, content []byte, head auditRow) auditRow {
	link := auditRow{WalletKey: r.WalletKey, Seq: head.Seq + 1, Event: event, DecisionID: r.ID,
		Content: string(content), PrevHash: head.Hash, AtNs: r.AtNs}
	if event == auditUpdate {
		link.AtNs = time.Now().UnixNano()
	}
	link.Hash = linkHash(link.PrevHash, content)
	return link
}

// heads remembers the last link this store wrote to each chain. It is a
// guess, checked by the insert that relies on it, so a link written by a
// transaction that then rolled back does no harm.
type heads struct {
	mu sync.Mutex
	m  map[string]auditRow // by wallet key; only Seq and Hash are kept
}

// maxHeads bounds the memory: past it the guesses start over.
const maxHeads = 4096

func (h *heads) get(wallet string) (auditRow, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	head, ok := h.m[wallet]
	return head, ok
}

func (h *heads) put(link auditRow) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil || len(h.m) >= maxHeads {
		h.m = map[string]auditRow{}
	}
	h.m[link.WalletKey] = auditRow{Seq: link.Seq, Hash: link.Hash}
}

// chainUpdate links the current mutable fields of decision id.
func (s *Store) chainUpdate(tx *gorm.DB, id int64) error {
	var r decisionRow
	if err := tx.Where("id = ?", id).Take(&r).Error; err != nil {
		return fmt.Errorf("audit chain: decision %d: %w", id, err)
	}
	return s.chain(tx, auditUpdate, r, nil)
}

// backfillAudit links the decisions a database held before the chain
// existed, in the order they were written, so the chain covers them from
// then on (what was edited before it cannot be told).
func backfillAudit(tx *gorm.DB) error {
	var ids []int64
	if err := tx.Model(&decisionRow{}).Order("id").Pluck("id", &ids).Error; err != nil {
		return err
	}
	for _, id := range ids {
		var r decisionRow
		if err := tx.Where("id = ?", id).Take(&r).Error; err != nil {
			return err
		}
		var spends []spendRow
		if err := tx.Where("decision_id = ?", id).Order("id").Find(&spends).Error; err != nil {
			return err
		}
		events := []string{auditDecision}
		if r.ReleasedAtNs != nil || r.SupersededBy != "" {
			events = append(events, auditUpdate)
		}
		for _, event := range events {
			content, err := linkContent(event, r, spends)
			if err != nil {
				return err
			}
			if _, err := appendLink(tx, event, r, content); err != nil {
				return err
			}
		}
	}
	return nil
}

// AuditBreak is where a chain is broken: the first link (by wallet, then
// sequence) that does not hold, or a decision no link covers.
type AuditBreak struct {
	Wallet     string // the wallet or Safe whose chain it is
	Seq        int64  // the link's place in that chain; 0 for a decision outside every chain
	DecisionID int64
	ApprovalID string
	Problem    string // what does not hold, in words
}

func (b *AuditBreak) Error() string {
	if b.Wallet == "" {
		return "audit chain broken: " + b.Problem
	}
	where := fmt.Sprintf("record %d of %s", b.Seq, b.Wallet)
	if b.Seq == 0 {
		where = "a decision of " + b.Wallet
	}
	if b.DecisionID != 0 {
		where += fmt.Sprintf(" (decision %d", b.DecisionID)
		if b.ApprovalID != "" {
			where += ", approval " + b.ApprovalID
		}
		where += ")"
	}
	return "audit chain broken at " + where + ": " + b.Problem
}

// AuditReport is what VerifyAudit found.
type AuditReport struct {
	Links     int               // links checked
	Decisions int               // decisions checked
	Heads     map[string]string // each chain's head hash, by wallet
	Broken    *AuditBreak       // the first break; nil when every chain is whole
	hashes    map[string]bool   // every checked link's hash
}

// Holds reports whether a link with hash was checked and held: a head an
// earlier verify printed must stay in the chain however it grew since.
func (r AuditReport) Holds(hash string) bool { return r.hashes[hash] }

// ErrAuditBroken is wrapped by the *AuditBreak VerifyAudit's report carries.
var ErrAuditBroken = errors.New("the audit chain is broken")

// VerifyAudit walks every chain and checks each link's hash, its place
// (no gap: a crash never leaves one, so a gap is a deletion), its content
// against the decision and spends it records as they are now, and that no
// decision is outside the chain. It stops at the first break. A database
// error is returned as an error; a break is in the report.
func (s *Store) VerifyAudit(ctx context.Context) (AuditReport, error) {
	rep := AuditReport{Heads: map[string]string{}, hashes: map[string]bool{}}
	db := s.read(ctx)
	var links []auditRow
	if err := db.Order("wallet_key, seq").Find(&links).Error; err != nil {
		return rep, fmt.Errorf("memory: audit: %w", err)
	}
	var decisions []decisionRow
	if err := db.Order("id").Find(&decisions).Error; err != nil {
		return rep, fmt.Errorf("memory: audit: %w", err)
	}
	var spends []spendRow
	if err := db.Order("id").Find(&spends).Error; err != nil {
		return rep, fmt.Errorf("memory: audit: %w", err)
	}
	v := &verifier{byID: map[int64]decisionRow{}, spends: map[int64][]spendRow{}, linked: map[int64]bool{}, last: map[int64]string{}}
	for _, d := range decisions {
		v.byID[d.ID] = d
	}
	for _, sp := range spends {
		v.spends[sp.DecisionID] = append(v.spends[sp.DecisionID], sp)
	}
	rep.Decisions = len(decisions)
	prev := auditRow{}
	for _, l := range links {
		if l.WalletKey != prev.WalletKey {
			prev = auditRow{WalletKey: l.WalletKey}
		}
		if b := v.link(prev, l); b != nil {
			rep.Broken = b
			return rep, nil
		}
		rep.Links++
		rep.Heads[v.walletOf(l)] = l.Hash
		rep.hashes[l.Hash] = true
		prev = l
	}
	if rep.Broken = v.unlinked(decisions); rep.Broken != nil {
		return rep, nil
	}
	var counters []counterRow
	if err := db.Find(&counters).Error; err != nil {
		return rep, fmt.Errorf("memory: audit: %w", err)
	}
	rep.Broken = countersAgree(spends, counters)
	return rep, nil
}

// countersAgree checks the spend counters against the live spends they
// count: a counter edited by hand would loosen a limit without touching a
// decision.
func countersAgree(spends []spendRow, counters []counterRow) *AuditBreak {
	type key struct {
		bucket string
		hour   int64
	}
	want := map[key]*big.Int{}
	for _, sp := range spends {
		if sp.VoidedAtNs != nil {
			continue
		}
		k := key{sp.Bucket, hourOf(sp.AtNs)}
		if want[k] == nil {
			want[k] = new(big.Int)
		}
		a, ok := new(big.Int).SetString(sp.Amount, 10)
		if !ok {
			return &AuditBreak{Problem: fmt.Sprintf("spend %d has a corrupt amount %q: edited", sp.ID, sp.Amount)}
		}
		want[k].Add(want[k], a)
	}
	for _, c := range counters {
		k := key{c.Bucket, c.Hour}
		got, ok := new(big.Int).SetString(c.Amount, 10)
		w := want[k]
		if w == nil {
			w = new(big.Int)
		}
		if !ok || got.Cmp(w) != 0 {
			return &AuditBreak{Problem: fmt.Sprintf("the spend counter of %s for the hour from %s says %s where its spends add up to %s: edited",
				c.Bucket, time.Unix(0, c.Hour*hourNs).UTC().Format(time.RFC3339), c.Amount, w)}
		}
		delete(want, k)
	}
	for k, w := range want {
		if w.Sign() != 0 {
			return &AuditBreak{Problem: fmt.Sprintf("the spend counter of %s for the hour from %s is missing (its spends add up to %s): deleted",
				k.bucket, time.Unix(0, k.hour*hourNs).UTC().Format(time.RFC3339), w)}
		}
	}
	return nil
}

// verifier holds what VerifyAudit compares the chain with.
type verifier struct {
	byID   map[int64]decisionRow
	spends map[int64][]spendRow
	linked map[int64]bool   // decisions with a decision link
	last   map[int64]string // each decision's latest update content
}

func (v *verifier) walletOf(l auditRow) string {
	if d, ok := v.byID[l.DecisionID]; ok {
		return d.Wallet
	}
	return l.WalletKey
}

// link checks l, which follows prev in its chain (prev.Seq 0: the first).
func (v *verifier) link(prev, l auditRow) *AuditBreak {
	brk := func(problem string, a ...any) *AuditBreak {
		d := v.byID[l.DecisionID]
		return &AuditBreak{Wallet: v.walletOf(l), Seq: l.Seq, DecisionID: l.DecisionID, ApprovalID: d.ApprovalID, Problem: fmt.Sprintf(problem, a...)}
	}
	switch {
	case l.Seq != prev.Seq+1 && prev.Seq == 0:
		return brk("the chain starts at record %d: records 1 to %d were deleted (a crash never leaves a gap)", l.Seq, l.Seq-1)
	case l.Seq != prev.Seq+1:
		return brk("records %d to %d are missing: deleted (a crash never leaves a gap)", prev.Seq+1, l.Seq-1)
	case l.PrevHash != prev.Hash:
		return brk("it does not point at record %d's hash: a record before it was replaced", prev.Seq)
	case linkHash(l.PrevHash, []byte(l.Content)) != l.Hash:
		return brk("its hash does not match its content: the record was edited")
	}
	d, ok := v.byID[l.DecisionID]
	if !ok {
		return brk("decision %d it records was deleted", l.DecisionID)
	}
	if d.WalletKey != l.WalletKey {
		return brk("the decision now names wallet %s: edited", d.Wallet)
	}
	switch l.Event {
	case auditDecision:
		want, err := contentOfDecision(d, v.spends[d.ID])
		if err != nil {
			return brk("%v", err)
		}
		if string(want) != l.Content {
			return brk("the decision or its spends differ from what was recorded: edited (%s)", diffContent(l.Content, want))
		}
		v.linked[d.ID] = true
	case auditUpdate:
		v.last[d.ID] = l.Content
	default:
		return brk("unknown event %q: inserted by hand", l.Event)
	}
	return nil
}

// unlinked checks what only the decisions show: a decision no link
// records, and release fields or voided spends that no update link says.
func (v *verifier) unlinked(decisions []decisionRow) *AuditBreak {
	for _, d := range decisions {
		brk := func(problem string) *AuditBreak {
			return &AuditBreak{Wallet: d.Wallet, DecisionID: d.ID, ApprovalID: d.ApprovalID, Problem: problem}
		}
		if !v.linked[d.ID] {
			return brk("no record of the chain covers it: inserted by hand")
		}
		now, err := contentOfUpdate(d)
		if err != nil {
			return brk(err.Error())
		}
		last, updated := v.last[d.ID]
		if updated && last != string(now) || !updated && (d.ReleasedAtNs != nil || d.SupersededBy != "" || d.ReleaseReason != "") {
			return brk("its release or supersession differs from what was recorded: edited")
		}
		for _, sp := range v.spends[d.ID] {
			if (sp.VoidedAtNs != nil) != (d.ReleasedAtNs != nil) {
				return brk("a spend's voiding does not match the decision's release: edited")
			}
		}
	}
	return nil
}

// diffContent names the fields of a decision link that differ.
func diffContent(recorded string, now []byte) string {
	var a, b map[string]any
	if json.Unmarshal([]byte(recorded), &a) != nil || json.Unmarshal(now, &b) != nil {
		return "unreadable content"
	}
	var fields []string
	for k, va := range a {
		if fmt.Sprint(va) != fmt.Sprint(b[k]) {
			fields = append(fields, k)
		}
	}
	if len(fields) == 0 {
		return "same fields, other encoding"
	}
	slices.Sort(fields)
	return fmt.Sprintf("fields %v", fields)
}
