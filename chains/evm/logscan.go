package evm

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/rpc"
)

// DefaultLogPage is the block range ScanLogs asks for at once when given
// page 0. Public endpoints cap eth_getLogs at anything from a few hundred
// to 10,000 blocks; ScanLogs halves the page until the node accepts it.
const DefaultLogPage = 2_000

// ScanLogs returns the logs matching q from q.FromBlock to q.ToBlock
// (inclusive; nil FromBlock is block 0, nil ToBlock the latest block, read
// once at the start), asking the node for page blocks at a time, in block
// order. Nodes refuse ranges or results they find too large, each in its own
// words ("exceed maximum block range 5000", "query returned more than 10000
// results", "Log response size exceeded"); ScanLogs then halves the page and
// asks again for the same blocks, and keeps the smaller page for the rest of
// the scan (growing it back would only be refused again). A node that refuses
// even one block is an error.
//
// progress, when not nil, is called after each page with the blocks scanned
// so far and the blocks in the range. A cancelled ctx stops the scan between
// or during pages with an error wrapping ctx.Err(); the logs of the pages
// already read are not returned.
func (c *Client) ScanLogs(ctx context.Context, q ethereum.FilterQuery, page uint64, progress func(done, total uint64)) ([]types.Log, error) {
	if q.BlockHash != nil {
		return nil, errors.New("evm: ScanLogs scans a block range; use FromBlock and ToBlock, not BlockHash")
	}
	from, to := uint64(0), uint64(0)
	if q.FromBlock != nil {
		if q.FromBlock.Sign() < 0 || !q.FromBlock.IsUint64() {
			return nil, fmt.Errorf("evm: ScanLogs: from block %s is not a block number", q.FromBlock)
		}
		from = q.FromBlock.Uint64()
	}
	if q.ToBlock != nil {
		if q.ToBlock.Sign() < 0 || !q.ToBlock.IsUint64() {
			return nil, fmt.Errorf("evm: ScanLogs: to block %s is not a block number (block tags such as latest are not taken; leave ToBlock nil)", q.ToBlock)
		}
		to = q.ToBlock.Uint64()
	} else {
		head, err := c.BlockNumber(ctx)
		if err != nil {
			return nil, err
		}
		to = head
	}
	if from > to {
		return nil, fmt.Errorf("evm: ScanLogs: from block %d is after to block %d", from, to)
	}
	if page == 0 {
		page = DefaultLogPage
	}
	total := to - from + 1 // cannot overflow unless from = 0 and to = MaxUint64
	if total == 0 {
		return nil, fmt.Errorf("evm: ScanLogs: range %d..%d is too large", from, to)
	}
	var out []types.Log
	for start := from; ; {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("evm: eth_getLogs: scan stopped at block %d of %d..%d: %w", start, from, to, err)
		}
		end := to
		if to-start >= page {
			end = start + page - 1
		}
		pq := q
		pq.FromBlock, pq.ToBlock = new(big.Int).SetUint64(start), new(big.Int).SetUint64(end)
		logs, raw, err := c.getLogs(ctx, pq)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("evm: eth_getLogs: scan stopped at block %d of %d..%d: %w", start, from, to, ctx.Err())
			}
			if tooMuch(raw) && end > start {
				page = max((end-start+1)/2, 1)
				continue
			}
			return nil, fmt.Errorf("evm: eth_getLogs blocks %d..%d: %w", start, end, err)
		}
		out = append(out, logs...)
		if progress != nil {
			progress(end-from+1, total)
		}
		if end == to {
			return out, nil
		}
		start = end + 1
	}
}

// getLogs is one eth_getLogs request. It returns the error both as the
// node or transport gave it (raw, for tooMuch) and classified by wrap.
func (c *Client) getLogs(ctx context.Context, q ethereum.FilterQuery) (logs []types.Log, raw, err error) {
	rctx, cancel := c.reqCtx(ctx)
	defer cancel()
	logs, raw = c.eth.FilterLogs(rctx, q)
	if raw != nil {
		var rerr rpc.Error
		if errors.As(raw, &rerr) {
			return nil, raw, raw // the node's own words, as wrap would keep them
		}
		return nil, raw, c.wrap(rctx, "eth_getLogs", raw)
	}
	return logs, nil, nil
}

// tooMuchPhrases are what nodes and providers say when a log query covers
// too many blocks or matches too many logs (geth, Erigon, Nethermind,
// Infura, Alchemy, QuickNode, Ankr, Cloudflare, BSC and Polygon nodes).
var tooMuchPhrases = []string{
	"exceed maximum block range", "block range", "range too large", "range is too", "too large", "too wide",
	"too many", "more than", "limit exceeded", "exceeds the limit", "response size", "query timeout",
	"max results", "maximum results",
}

// tooMuch reports whether err is a node refusing a log query for its size:
// JSON-RPC code -32005 (limit exceeded) or one of tooMuchPhrases. Anything
// else (an unreachable node, a malformed filter) is not fixed by asking for
// fewer blocks.
func tooMuch(err error) bool {
	var rerr rpc.Error
	if !errors.As(err, &rerr) {
		var herr rpc.HTTPError
		return errors.As(err, &herr) && herr.StatusCode == 413 // request or response entity too large
	}
	if rerr.ErrorCode() == -32005 {
		return true
	}
	msg := strings.ToLower(rerr.Error())
	for _, p := range tooMuchPhrases {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}
