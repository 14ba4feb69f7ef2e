package main

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// interrupts decides what SIGINT does: by default it ends the process's
// context, as SIGTERM does; a command that claims it (the chat, which
// cancels one turn with it) gets it instead.
var interrupts struct {
	mu      sync.Mutex
	handler func()
}

// processContext is the context main runs the command in: cancelled by
// SIGTERM, and by SIGINT unless a command claimed it.
func processContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 8) // a second Ctrl-C close behind the first is not lost
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case s := <-sigs:
				if s == os.Interrupt {
					interrupts.mu.Lock()
					h := interrupts.handler
					interrupts.mu.Unlock()
					if h != nil {
						h()
						continue
					}
				}
				cancel()
			}
		}
	}()
	return ctx, func() { signal.Stop(sigs); cancel() }
}

// claimInterrupts routes SIGINT to h until release is called. h runs on
// the signal goroutine and must not block.
func claimInterrupts(h func()) (release func()) {
	interrupts.mu.Lock()
	prev := interrupts.handler
	interrupts.handler = h
	interrupts.mu.Unlock()
	return func() {
		interrupts.mu.Lock()
		interrupts.handler = prev
		interrupts.mu.Unlock()
	}
}
