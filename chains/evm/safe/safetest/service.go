// Package safetest is a local stand-in of the Safe Transaction Service:
// the same REST shape (v1 multisig-transactions and confirmations) over
// an in-memory store, for tests and the devnet, where the real service
// cannot be reached. Like the real one it recomputes the safeTxHash of a
// proposal and accepts only signatures that recover to an owner.
package safetest

import (
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"

	"github.com/mandatehq/mandate/chains/evm/safe"
)

// Service is the stand-in. Register each Safe with AddSafe before use.
type Service struct {
	URL string

	mu    sync.Mutex
	safes map[common.Address]*safeInfo
	txs   map[common.Hash]*entry
}

type safeInfo struct {
	chainID   *big.Int
	version   safe.Version
	owners    map[common.Address]bool
	threshold int
}

type entry struct {
	tx       safe.Tx
	confirms []safe.Confirmation
	executed bool
}

// New starts the stand-in for the test's duration.
func New(t testing.TB) *Service {
	s := &Service{safes: map[common.Address]*safeInfo{}, txs: map[common.Hash]*entry{}}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// AddSafe registers a Safe with its owners and threshold.
func (s *Service) AddSafe(addr common.Address, chainID *big.Int, v safe.Version, threshold int, owners ...common.Address) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[common.Address]bool{}
	for _, o := range owners {
		m[o] = true
	}
	s.safes[addr] = &safeInfo{chainID: chainID, version: v, owners: m, threshold: threshold}
}

// Confirmations returns the owners who confirmed a transaction.
func (s *Service) Confirmations(h common.Hash) []safe.Confirmation {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.txs[h]; ok {
		return append([]safe.Confirmation(nil), e.confirms...)
	}
	return nil
}

// MarkExecuted takes a transaction off the pending list.
func (s *Service) MarkExecuted(h common.Hash) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.txs[h]; ok {
		e.executed = true
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, f string, a ...any) {
	writeJSON(w, status, map[string]any{"detail": fmt.Sprintf(f, a...)})
}

func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case len(parts) == 5 && parts[0] == "api" && parts[1] == "v1" && parts[2] == "safes" && parts[4] == "multisig-transactions":
		addr := common.HexToAddress(parts[3])
		if r.Method == http.MethodPost {
			s.propose(w, r, addr)
		} else {
			s.list(w, r, addr)
		}
	case len(parts) == 5 && parts[0] == "api" && parts[1] == "v1" && parts[2] == "multisig-transactions" && parts[4] == "confirmations" && r.Method == http.MethodPost:
		s.confirm(w, r, common.HexToHash(parts[3]))
	case len(parts) == 4 && parts[0] == "api" && parts[1] == "v1" && parts[2] == "multisig-transactions" && r.Method == http.MethodGet:
		s.get(w, common.HexToHash(parts[3]))
	default:
		fail(w, http.StatusNotFound, "no route %s %s", r.Method, r.URL.Path)
	}
}

func (s *Service) view(e *entry, info *safeInfo) map[string]any {
	h, _ := e.tx.Hash(info.version)
	confirms := e.confirms
	if confirms == nil {
		confirms = []safe.Confirmation{}
	}
	return map[string]any{
		"safe": e.tx.Safe.Hex(), "to": e.tx.To.Hex(), "value": e.tx.Value.String(), "data": dataOrNil(e.tx.Data),
		"operation": int(e.tx.Operation), "safeTxGas": e.tx.SafeTxGas.Uint64(), "baseGas": e.tx.BaseGas.Uint64(),
		"gasPrice": e.tx.GasPrice.String(), "gasToken": e.tx.GasToken.Hex(), "refundReceiver": e.tx.RefundReceiver.Hex(),
		"nonce": e.tx.Nonce.Uint64(), "safeTxHash": h.Hex(), "confirmations": confirms,
		"confirmationsRequired": info.threshold, "isExecuted": e.executed,
	}
}

func dataOrNil(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return hexutil.Encode(b)
}

func (s *Service) propose(w http.ResponseWriter, r *http.Request, addr common.Address) {
	var body struct {
		safe.ServiceTx
		ContractTransactionHash string `json:"contractTransactionHash"`
		Sender                  string `json:"sender"`
		Signature               string `json:"signature"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err != nil {
		fail(w, http.StatusBadRequest, "bad JSON: %v", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	info, ok := s.safes[addr]
	if !ok {
		fail(w, http.StatusNotFound, "Safe %s is not indexed", addr.Hex())
		return
	}
	body.ServiceTx.SafeTxHash = body.ContractTransactionHash
	tx, err := body.ServiceTx.Tx(info.chainID, addr, info.version)
	if err != nil {
		fail(w, http.StatusUnprocessableEntity, "%v", err)
		return
	}
	h, _ := tx.Hash(info.version)
	sig, err := hexutil.Decode(body.Signature)
	if err != nil {
		fail(w, http.StatusUnprocessableEntity, "signature: %v", err)
		return
	}
	owner, _, err := safe.Recover(h, sig)
	if err != nil || owner != common.HexToAddress(body.Sender) || !info.owners[owner] {
		fail(w, http.StatusUnprocessableEntity, "the signature is not the sender's, or the sender is not an owner")
		return
	}
	if _, dup := s.txs[h]; dup {
		fail(w, http.StatusUnprocessableEntity, "transaction %s already proposed", h.Hex())
		return
	}
	s.txs[h] = &entry{tx: tx, confirms: []safe.Confirmation{{Owner: owner.Hex(), Signature: body.Signature, SignatureType: "EOA"}}}
	writeJSON(w, http.StatusCreated, map[string]any{})
}

func (s *Service) confirm(w http.ResponseWriter, r *http.Request, h common.Hash) {
	var body struct {
		Signature string `json:"signature"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&body); err != nil {
		fail(w, http.StatusBadRequest, "bad JSON: %v", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.txs[h]
	if !ok {
		fail(w, http.StatusNotFound, "no transaction %s", h.Hex())
		return
	}
	info := s.safes[e.tx.Safe]
	sig, err := hexutil.Decode(body.Signature)
	if err != nil {
		fail(w, http.StatusBadRequest, "signature: %v", err)
		return
	}
	owner, _, err := safe.Recover(h, sig)
	if err != nil || !info.owners[owner] {
		fail(w, http.StatusBadRequest, "the signature does not recover to an owner")
		return
	}
	for _, c := range e.confirms {
		if common.HexToAddress(c.Owner) == owner {
			fail(w, http.StatusBadRequest, "owner %s already confirmed", owner.Hex())
			return
		}
	}
	e.confirms = append(e.confirms, safe.Confirmation{Owner: owner.Hex(), Signature: body.Signature, SignatureType: "EOA"})
	writeJSON(w, http.StatusCreated, map[string]any{"signature": body.Signature})
}

func (s *Service) get(w http.ResponseWriter, h common.Hash) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.txs[h]
	if !ok {
		fail(w, http.StatusNotFound, "no transaction %s", h.Hex())
		return
	}
	writeJSON(w, http.StatusOK, s.view(e, s.safes[e.tx.Safe]))
}

// list pages like the real service: limit and offset, with next a full URL.
func (s *Service) list(w http.ResponseWriter, r *http.Request, addr common.Address) {
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 || limit > 100 {
		limit = 20
	}
	offset, _ := strconv.Atoi(q.Get("offset"))
	minNonce, _ := strconv.ParseUint(q.Get("nonce__gte"), 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	info, ok := s.safes[addr]
	if !ok {
		fail(w, http.StatusNotFound, "Safe %s is not indexed", addr.Hex())
		return
	}
	var es []*entry
	for _, e := range s.txs {
		if e.tx.Safe == addr && (q.Get("executed") != "false" || !e.executed) && e.tx.Nonce.Uint64() >= minNonce {
			es = append(es, e)
		}
	}
	sort.Slice(es, func(i, j int) bool { return es[i].tx.Nonce.Cmp(es[j].tx.Nonce) < 0 })
	results := []any{}
	for i := offset; i < len(es) && i < offset+limit; i++ {
		results = append(results, s.view(es[i], info))
	}
	var next any
	if offset+limit < len(es) {
		q.Set("offset", strconv.Itoa(offset+limit))
		next = s.URL + r.URL.Path + "?" + q.Encode()
	}
	writeJSON(w, http.StatusOK, map[string]any{"count": len(es), "next": next, "previous": nil, "results": results})
}
