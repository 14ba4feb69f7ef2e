package llm_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tmc/langchaingo/llms"

	"github.com/mandatehq/mandate/llm"
	"github.com/mandatehq/mandate/llm/llmtest"
)

func transferReply(args string) llmtest.Reply {
	return llmtest.Reply{ToolCalls: []llmtest.ToolCall{{Name: "wallet_transfer", Arguments: args}}}
}

func quorumRouter(t *testing.T, replies ...llmtest.Reply) (*llm.Router, []*llmtest.Server) {
	t.Helper()
	names := []string{"ionet", "akash", "chutes", "hyperbolic"}
	var (
		named   []llm.Named
		servers []*llmtest.Server
	)
	for i, rep := range replies {
		s, n := backend(t, names[i], llmtest.WithReplies(rep))
		named = append(named, n)
		servers = append(servers, s)
	}
	return llm.NewRouter(named, llm.WithRouterLogger(quietLogger())), servers
}

func TestQuorumMajorityAgreesDespiteKeyOrder(t *testing.T) {
	r, _ := quorumRouter(t,
		transferReply(`{"to":"0xabc","token":"USDC","amount":"1.5"}`),
		transferReply(`{ "amount": "1.5", "token": "USDC", "to": "0xabc" }`),
		transferReply(`{"to":"0xEVIL","token":"USDC","amount":"1.5"}`),
	)
	resp, res, err := r.Quorum(t.Context(), 3, ask("send 1.5 USDC to 0xabc"), llms.WithTools(transferTool))
	if err != nil {
		t.Fatal(err)
	}
	if res.N != 3 || res.Needed != 2 || strings.Join(res.Agreed, ",") != "ionet,akash" {
		t.Fatalf("result %+v", res)
	}
	tc := resp.Choices[0].ToolCalls
	if len(tc) != 1 || !strings.Contains(tc[0].FunctionCall.Arguments, "0xabc") {
		t.Fatalf("taken call %+v", tc)
	}
}

func TestQuorumDisagreementAsksAPerson(t *testing.T) {
	r, _ := quorumRouter(t,
		transferReply(`{"to":"0xabc","token":"USDC","amount":"1.5"}`),
		transferReply(`{"to":"0xabc","token":"USDC","amount":1.5}`), // a number is not the string "1.5"
		transferReply(`{"to":"0xabc","token":"USDC","amount":"15"}`),
	)
	_, res, err := r.Quorum(t.Context(), 3, ask("send 1.5 USDC to 0xabc"), llms.WithTools(transferTool))
	var nq *llm.NoQuorumError
	if !errors.As(err, &nq) {
		t.Fatalf("err = %v, want *NoQuorumError", err)
	}
	if len(nq.Result.Proposals) != 3 || len(res.Agreed) != 0 {
		t.Fatalf("result %+v", nq.Result)
	}
	msg := err.Error()
	for _, want := range []string{"ionet proposed wallet_transfer", `"amount":1.5`, `"amount":"15"`, "2 of 3"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
}

func TestQuorumReplacesFailedBackend(t *testing.T) {
	r, servers := quorumRouter(t,
		transferReply(`{"to":"0xabc","amount":"1"}`),
		llmtest.Reply{Status: 503},
		transferReply(`{"to":"0xdef","amount":"1"}`),
		transferReply(`{"amount":"1","to":"0xabc"}`),
	)
	_, res, err := r.Quorum(t.Context(), 3, ask("send"), llms.WithTools(transferTool))
	if err != nil {
		t.Fatal(err)
	}
	if servers[3].Count() != 1 || strings.Join(res.Agreed, ",") != "ionet,hyperbolic" {
		t.Fatalf("result %+v, hyperbolic asked %d times", res, servers[3].Count())
	}
}

func TestQuorumInvalidArgumentsNeverVote(t *testing.T) {
	r, _ := quorumRouter(t,
		transferReply(`{"to":`),
		transferReply(`{"to":`),
		transferReply(`{"to":"0xabc"}`),
	)
	_, _, err := r.Quorum(t.Context(), 3, ask("send"), llms.WithTools(transferTool))
	var nq *llm.NoQuorumError
	if !errors.As(err, &nq) {
		t.Fatalf("err = %v: unparsable arguments must not form a majority", err)
	}
}

func TestQuorumCallerCancellation(t *testing.T) {
	arrived := make(chan struct{}, 3)
	stall := func(llmtest.Request) llmtest.Reply {
		arrived <- struct{}{}
		return llmtest.Reply{Stall: true}
	}
	var named []llm.Named
	for _, n := range []string{"ionet", "akash", "chutes"} {
		_, nb := backend(t, n, llmtest.WithHandler(stall))
		named = append(named, nb)
	}
	r := llm.NewRouter(named, llm.WithRouterLogger(quietLogger()))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, _, err := r.Quorum(ctx, 3, ask("send"))
		done <- err
	}()
	for range 3 {
		<-arrived
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if n := routerGoroutines(); n != 0 {
		t.Fatalf("%d quorum goroutines left behind", n)
	}
	for _, h := range r.Health() {
		if h.Failures != 0 {
			t.Fatalf("cancellation counted as a failure: %+v", h)
		}
	}
}
