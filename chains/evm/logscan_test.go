package evm_test

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/eth/filters"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/evm/devnet"
	"github.com/mandatehq/mandate/chains/evm/devnet/devnettest"
)

// historyQuery asks for the Swap logs of the devnet's trader history (V2
// and V3 Swap events whose recipient, the second indexed topic, is Trader)
// over every block.
func historyQuery(d *devnet.Devnet) ethereum.FilterQuery {
	var pools []common.Address
	for _, p := range d.Deployment().Pools {
		pools = append(pools, p.Address)
	}
	v2 := crypto.Keccak256Hash([]byte("Swap(address,uint256,uint256,uint256,uint256,address)"))
	v3 := crypto.Keccak256Hash([]byte("Swap(address,address,int256,int256,uint160,uint128,int24)"))
	return ethereum.FilterQuery{
		Addresses: pools,
		Topics:    [][]common.Hash{{v2, v3}, nil, {common.BytesToHash(devnet.Trader().Bytes())}},
	}
}

func logKeys(logs []types.Log) []string {
	out := make([]string, len(logs))
	for i, l := range logs {
		out[i] = fmt.Sprintf("%d/%d/%s", l.BlockNumber, l.Index, l.TxHash.Hex())
	}
	return out
}

// limitedNode is an eth_getLogs endpoint in front of a devnet that refuses
// what real providers refuse: ranges over maxRange blocks (geth's own
// words and code for its RangeLimit) or results over maxResults (Infura's),
// or, with other set, everything with that error.
type limitedNode struct {
	up         *devnet.Devnet
	maxRange   uint64
	maxResults int
	other      error

	mu     sync.Mutex
	ranges [][2]uint64 // every eth_getLogs range asked for
}

type codedError struct {
	code int
	msg  string
}

func (e codedError) Error() string  { return e.msg }
func (e codedError) ErrorCode() int { return e.code }

func (n *limitedNode) ChainId(ctx context.Context) (*hexutil.Big, error) {
	id, err := n.up.Client().ChainID(ctx)
	return (*hexutil.Big)(id), err
}

func (n *limitedNode) BlockNumber(ctx context.Context) (hexutil.Uint64, error) {
	b, err := n.up.Client().BlockNumber(ctx)
	return hexutil.Uint64(b), err
}

// GetBlockByNumber answers the genesis block, which a client reads when
// it is made.
func (n *limitedNode) GetBlockByNumber(ctx context.Context, number rpc.BlockNumber, _ bool) (map[string]any, error) {
	h, err := n.up.Client().HeaderByNumber(ctx, big.NewInt(number.Int64()))
	if err != nil {
		return nil, err
	}
	return map[string]any{"number": hexutil.Uint64(h.Number.Uint64()), "hash": h.Hash()}, nil
}

func (n *limitedNode) GetLogs(ctx context.Context, crit filters.FilterCriteria) ([]types.Log, error) {
	from, to := crit.FromBlock.Uint64(), crit.ToBlock.Uint64()
	n.mu.Lock()
	n.ranges = append(n.ranges, [2]uint64{from, to})
	n.mu.Unlock()
	if n.other != nil {
		return nil, n.other
	}
	if n.maxRange > 0 && to-from+1 > n.maxRange {
		return nil, codedError{-32602, fmt.Sprintf("exceed maximum block range %d", n.maxRange)}
	}
	logs, err := n.up.Client().FilterLogs(ctx, ethereum.FilterQuery(crit))
	if err != nil {
		return nil, err
	}
	if n.maxResults > 0 && len(logs) > n.maxResults {
		return nil, codedError{-32005, fmt.Sprintf("query returned more than %d results", n.maxResults)}
	}
	return logs, nil
}

func (n *limitedNode) client(t *testing.T) *evm.Client {
	t.Helper()
	srv := rpc.NewServer()
	if err := srv.RegisterName("eth", n); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	c, err := evm.NewClient(t.Context(), rpc.DialInProc(srv))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Every page size returns exactly the logs one eth_getLogs over the whole
// range returns, in the same order, and progress counts up to the range.
func TestScanLogsPages(t *testing.T) {
	d := devnettest.Shared(t)
	c, err := evm.NewClient(t.Context(), d.RPC())
	if err != nil {
		t.Fatal(err)
	}
	head, err := c.BlockNumber(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	q := historyQuery(d)
	q.FromBlock, q.ToBlock = big.NewInt(0), new(big.Int).SetUint64(head)
	all, err := d.Client().FilterLogs(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != devnet.HistorySwaps {
		t.Fatalf("the devnet has %d history Swap logs, want %d", len(all), devnet.HistorySwaps)
	}
	want := strings.Join(logKeys(all), " ")
	for _, page := range []uint64{1, 2, 3, 7, head, 0} {
		t.Run(fmt.Sprint("page ", page), func(t *testing.T) {
			var calls, last uint64
			got, err := c.ScanLogs(t.Context(), q, page, func(done, total uint64) {
				calls++
				if done <= last || total != head+1 || done > total {
					t.Errorf("progress %d/%d after %d/%d", done, total, last, head+1)
				}
				last = done
			})
			if err != nil {
				t.Fatal(err)
			}
			if g := strings.Join(logKeys(got), " "); g != want {
				t.Errorf("page %d: got logs\n%s\nwant\n%s", page, g, want)
			}
			p := page
			if p == 0 {
				p = evm.DefaultLogPage
			}
			if wantCalls := (head + p) / p; calls != wantCalls || last != head+1 {
				t.Errorf("progress called %d times ending at %d, want %d times ending at %d", calls, last, wantCalls, head+1)
			}
		})
	}
	// A nil ToBlock is the head, read once.
	q.ToBlock = nil
	got, err := c.ScanLogs(t.Context(), q, 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) < len(all) || strings.Join(logKeys(got[:len(all)]), " ") != want {
		t.Errorf("to the head: %d logs, want the %d history logs first", len(got), len(all))
	}
}

// A node that refuses large ranges or large results gets smaller pages
// until it answers; the logs are the same.
func TestScanLogsHalvesPage(t *testing.T) {
	d := devnettest.Shared(t)
	q := historyQuery(d)
	head, err := d.Client().BlockNumber(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	q.FromBlock, q.ToBlock = big.NewInt(0), new(big.Int).SetUint64(head)
	all, err := d.Client().FilterLogs(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []*limitedNode{
		{up: d, maxRange: 3},
		{up: d, maxResults: 5}, // the history has 5 swaps per block
	} {
		t.Run(fmt.Sprintf("range %d results %d", n.maxRange, n.maxResults), func(t *testing.T) {
			got, err := n.client(t).ScanLogs(t.Context(), q, 1000, nil)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(logKeys(got), " ") != strings.Join(logKeys(all), " ") {
				t.Errorf("%d logs through the limited node, %d directly", len(got), len(all))
			}
			n.mu.Lock()
			defer n.mu.Unlock()
			first, last := n.ranges[0], n.ranges[len(n.ranges)-1]
			if first != [2]uint64{0, head} {
				t.Errorf("first request %v, want the whole range 0..%d", first, head)
			}
			if n.maxRange > 0 && last[1]-last[0]+1 > n.maxRange {
				t.Errorf("last request %v is still wider than %d blocks", last, n.maxRange)
			}
			if last[1] != head {
				t.Errorf("last request %v does not end at the head %d", last, head)
			}
		})
	}

	// Refusing even one block (a block with 5 history swaps, at most 4
	// results), or an error that is not about size: one request, no retry
	// with smaller pages that could not help.
	one := q
	one.FromBlock = new(big.Int).SetUint64(all[0].BlockNumber)
	one.ToBlock = one.FromBlock
	for _, tc := range []struct {
		n *limitedNode
		q ethereum.FilterQuery
	}{
		{&limitedNode{up: d, maxResults: 4}, one},
		{&limitedNode{up: d, other: codedError{-32602, "invalid argument 0: hex string without 0x prefix"}}, q},
	} {
		_, err := tc.n.client(t).ScanLogs(t.Context(), tc.q, 1000, nil)
		if err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("ScanLogs through a refusing node: err %v, want one line", err)
		}
		if len(tc.n.ranges) != 1 {
			t.Errorf("%v: %d requests, want 1", err, len(tc.n.ranges))
		}
	}
}

func TestScanLogsCancel(t *testing.T) {
	d := devnettest.Shared(t)
	c, err := evm.NewClient(t.Context(), d.RPC())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	pages := 0
	logs, err := c.ScanLogs(ctx, historyQuery(d), 1, func(done, total uint64) {
		pages++
		cancel()
	})
	if !errors.Is(err, context.Canceled) || logs != nil || pages != 1 {
		t.Errorf("cancelled after the first page: %d logs, %d pages, err %v; want nil, 1, context.Canceled", len(logs), pages, err)
	}
}

func TestScanLogsBadQuery(t *testing.T) {
	d := devnettest.Shared(t)
	c, err := evm.NewClient(t.Context(), d.RPC())
	if err != nil {
		t.Fatal(err)
	}
	h := common.HexToHash("0x01")
	for name, q := range map[string]ethereum.FilterQuery{
		"from after to": {FromBlock: big.NewInt(5), ToBlock: big.NewInt(4)},
		"block hash":    {BlockHash: &h},
		"latest tag":    {ToBlock: big.NewInt(int64(rpc.LatestBlockNumber))},
	} {
		if _, err := c.ScanLogs(t.Context(), q, 0, nil); err == nil {
			t.Errorf("%s: no error", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

// BenchmarkScanLogs reads the devnet's trader history (every block, 30
// Swap logs) page by page over in-process JSON-RPC: the cost of a scan per
// log, without network latency.
func BenchmarkScanLogs(b *testing.B) {
	d := devnettest.Shared(b)
	c, err := evm.NewClient(b.Context(), d.RPC())
	if err != nil {
		b.Fatal(err)
	}
	head, err := c.BlockNumber(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	q := historyQuery(d)
	q.FromBlock, q.ToBlock = big.NewInt(0), new(big.Int).SetUint64(head)
	for _, page := range []uint64{1, 4, evm.DefaultLogPage} {
		b.Run(fmt.Sprint("page=", page), func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				logs, err := c.ScanLogs(b.Context(), q, page, nil)
				if err != nil {
					b.Fatal(err)
				}
				n += len(logs)
			}
			b.ReportMetric(float64(n)/float64(b.N), "logs/op")
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "logs/s")
		})
	}
}
