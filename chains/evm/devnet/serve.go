package devnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/eth/tracers"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/ethereum/go-ethereum/version"
)

// mandateAPI is the "mandate" JSON-RPC namespace.
type mandateAPI struct{ d *Devnet }

// Deployment answers mandate_deployment.
func (api *mandateAPI) Deployment() (*Deployment, error) {
	dep := api.d.Deployment()
	if dep == nil {
		return nil, errors.New("devnet is still deploying")
	}
	return dep, nil
}

// web3API is web3_clientVersion and web3_sha3 (go-ethereum keeps its own
// unexported).
type web3API struct{}

func (web3API) ClientVersion() string {
	return fmt.Sprintf("mandate-devnet/go-ethereum-v%d.%d.%d", version.Major, version.Minor, version.Patch)
}

func (web3API) Sha3(input hexutil.Bytes) hexutil.Bytes { return crypto.Keccak256(input) }

// publicNamespaces are served over HTTP and WebSocket: the ones `geth --http`
// serves by default plus txpool, tracing and mandate. admin, miner, dev and
// the rest of debug (setHead, profiling to files) stay in process.
var publicNamespaces = map[string]bool{"eth": true, "net": true, "txpool": true}

// publicServer builds (once) the JSON-RPC server that Serve exposes.
func (d *Devnet) publicServer() (*rpc.Server, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.public != nil {
		return d.public, nil
	}
	srv := rpc.NewServer()
	srv.SetBatchLimits(1000, 25*1000*1000)
	srv.SetHTTPBodyLimit(5 * 1024 * 1024)
	apis := append(d.eth.APIs(), rpc.API{Namespace: "eth", Service: d.filters})
	for _, api := range apis {
		if !publicNamespaces[api.Namespace] {
			continue
		}
		if err := srv.RegisterName(api.Namespace, api.Service); err != nil {
			return nil, fmt.Errorf("devnet: register %s API: %w", api.Namespace, err)
		}
	}
	for _, api := range tracers.APIs(d.eth.APIBackend) { // debug_trace*
		if err := srv.RegisterName(api.Namespace, api.Service); err != nil {
			return nil, fmt.Errorf("devnet: register tracing API: %w", err)
		}
	}
	if err := srv.RegisterName("web3", web3API{}); err != nil {
		return nil, err
	}
	if err := srv.RegisterName("mandate", &mandateAPI{d}); err != nil {
		return nil, err
	}
	d.public = srv
	return srv, nil
}

// Serve listens on addr (e.g. "127.0.0.1:8545", or "127.0.0.1:0" for any
// free port) and serves JSON-RPC over HTTP, and WebSocket on the same port,
// until ctx is done or the devnet is closed. It returns once listening, with
// the URL ("http://127.0.0.1:PORT"); the first URL becomes Deployment().RPC.
//
// Served namespaces: eth, net, web3, txpool, debug_trace* and mandate
// (mandate_deployment). Browsers get no CORS headers, and WebSocket accepts
// only localhost origins.
func (d *Devnet) Serve(ctx context.Context, addr string) (string, error) {
	select {
	case <-d.quit:
		return "", errors.New("devnet: closed")
	default:
	}
	srv, err := d.publicServer()
	if err != nil {
		return "", err
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return "", fmt.Errorf("devnet: listen: %w", err)
	}
	ws := srv.WebsocketHandler(nil)
	hs := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
				ws.ServeHTTP(w, r)
				return
			}
			srv.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	url := "http://" + ln.Addr().String()
	d.mu.Lock()
	d.servers = append(d.servers, hs)
	if d.dep != nil && d.dep.RPC == "" {
		d.dep.RPC = url
	}
	d.mu.Unlock()
	go hs.Serve(ln)
	go func() {
		select {
		case <-ctx.Done():
		case <-d.quit:
			return // Close shuts it down
		}
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if hs.Shutdown(sctx) != nil {
			hs.Close()
		}
	}()
	return url, nil
}
