// Command transfer moves tokens through a policy with Mandate as a library:
// a runtime on the in-process devnet under the devnet's built-in policy
// (1,000 USDC a transfer, 5,000 a day), one transfer the policy allows and
// one it refuses with reasons. Config.Policy (a file) or
// Config.PolicySource (YAML) gives your own.
//
//	go run ./examples/transfer
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/policies"
)

func main() {
	if err := run(context.Background()); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context) error {
	rt, err := mandate.Open(ctx, mandate.Config{Devnet: true, Progress: os.Stderr})
	if err != nil {
		return err
	}
	defer rt.Close()
	to := rt.Deployment().Accounts[1].Address.Hex()
	for _, amount := range []string{"250", "5000"} {
		args, _ := json.Marshal(map[string]string{"to": to, "token": "USDC", "amount": amount})
		res, err := rt.Tools().Call(ctx, "wallet_transfer", args)
		var denied *policies.Denied
		switch {
		case errors.As(err, &denied):
			fmt.Println("denied:")
			for _, r := range denied.Reasons {
				fmt.Println("  -", r)
			}
		case err != nil:
			return err
		default:
			fmt.Println(res.Text)
		}
	}
	return nil
}
