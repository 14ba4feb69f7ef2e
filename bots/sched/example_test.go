package sched_test

import (
	"context"
	"fmt"
	"time"

	"github.com/mandatehq/mandate/bots/sched"
)

func ExampleScheduler_Do() {
	s := sched.New(sched.TelegramLimits)
	defer s.Close(context.Background())

	// An adapter maps the platform's 429 to a RetryAfter error; the scheduler waits and
	// sends again.
	tries := 0
	err := s.Do(context.Background(), "chat:42", false, func(ctx context.Context) error {
		tries++
		if tries == 1 {
			return &sched.RateLimitError{Wait: time.Millisecond}
		}
		return nil // sent
	})
	fmt.Println(err, tries)
	// Output:
	// <nil> 2
}
