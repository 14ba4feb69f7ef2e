package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/bots/access"
	"github.com/mandatehq/mandate/bots/telegram"
)

func newTelegramCmd(g *globals) *cobra.Command {
	var (
		metricsAddr               string
		api, owners, chats, users string
		timeout                   time.Duration
		hook                      telegram.Webhook
	)
	cmd := &cobra.Command{
		Use:   "telegram",
		Short: "Run the Telegram bot (token from TELEGRAM_BOT_TOKEN)",
		Long: `Runs the agent as a Telegram bot, long polling the Bot API until interrupted.
The token comes from TELEGRAM_BOT_TOKEN (or telegram.token in mandate.yaml), the
API base from MANDATE_TELEGRAM_API (default Telegram's), the owners from
MANDATE_TELEGRAM_OWNERS (comma-separated user ids). Owners may use every tool
within the policy and approve what it asks a person to confirm; everyone else
may only use read-only tools (prices, quotes, pools, balances). In groups the
bot answers commands, mentions and replies to it. Standing orders execute
while it runs; their approvals go to the owners' private chats.

With --webhook URL --listen ADDR it receives updates by webhook instead:
several replicas behind one load balancer, sharing one PostgreSQL database
(MANDATE_DB), answer each update once, keep each chat's messages in order
and let one press of a button act once, whichever replica it reaches. The
webhook's secret token is derived from the bot token unless
MANDATE_TELEGRAM_WEBHOOK_SECRET sets one.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			file, err := g.config()
			if err != nil {
				return err
			}
			tc, err := telegramConfig(file.Telegram, api, owners, chats, users)
			if err != nil {
				return err
			}
			tc.ApprovalTimeout = timeout
			hook.Secret = os.Getenv("MANDATE_TELEGRAM_WEBHOOK_SECRET")
			if hook.URL != "" && hook.Listen == "" {
				return usageErr("--webhook needs --listen ADDR (where this process serves it, e.g. :8443)")
			}
			if err := hook.Check(); err != nil {
				return usageErr("%s", strings.TrimPrefix(err.Error(), "telegram: "))
			}
			tc.Webhook = hook
			tc.Approver = telegram.NewApprover()
			rt, err := g.openWithMetrics(ctx, metricsAddr, func(c *mandate.Config) { c.Approver = tc.Approver })
			if err != nil {
				return err
			}
			defer rt.Close()
			bot, err := telegram.New(rt, tc)
			if err != nil {
				return err
			}
			rt.StartOrders()
			how := "long polling"
			if hook.URL != "" {
				how = "webhook on " + hook.Listen
			}
			fmt.Fprintf(g.stderr, "mandate: Telegram bot (%s) on %s, %d owner(s); Ctrl-C stops it\n",
				how, rt.Where(), len(tc.Owners))
			err = bot.Run(ctx)
			if errors.Is(err, telegram.ErrUnauthorized) {
				return fmt.Errorf("%w (check TELEGRAM_BOT_TOKEN)", err)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&api, "api", "", "Bot API base URL (default MANDATE_TELEGRAM_API, else Telegram's)")
	f.StringVar(&owners, "owners", "", "comma-separated user ids who may move value (default MANDATE_TELEGRAM_OWNERS)")
	f.StringVar(&chats, "allow-chats", "", "comma-separated chat ids the bot talks in (default: any)")
	f.StringVar(&users, "allow-users", "", "comma-separated user ids the bot talks to (default: any; owners always)")
	f.StringVar(&hook.URL, "webhook", "", "receive updates by webhook at this public URL instead of long polling")
	f.StringVar(&hook.Listen, "listen", "", "address to serve the webhook on, e.g. :8443 (with --webhook)")
	metricsFlag(cmd, &metricsAddr)
	f.IntVar(&hook.MaxConnections, "webhook-connections", 0, "deliveries the Bot API makes at once, 1-100 (default 40)")
	f.DurationVar(&timeout, "approval-timeout", telegram.DefaultApprovalTimeout, "how long an Approve / Reject button waits for an owner")
	return cmd
}

// telegramConfig is the bot's configuration from mandate.yaml and the
// environment (bc), overridden by flags.
func telegramConfig(bc mandate.BotConfig, api, owners, chats, users string) (telegram.Config, error) {
	tc := telegram.Config{Token: strings.TrimSpace(bc.Token), APIURL: bc.API}
	if tc.Token == "" {
		return tc, usageErr("no Telegram bot token: set TELEGRAM_BOT_TOKEN (from @BotFather)")
	}
	if api != "" {
		tc.APIURL = api
	}
	if owners == "" {
		owners = bc.Owners
	}
	var err error
	if tc.Owners, err = telegramIDs(owners, "MANDATE_TELEGRAM_OWNERS or --owners"); err != nil {
		return tc, err
	}
	if tc.AllowedChats, err = telegramIDs(chats, "--allow-chats"); err != nil {
		return tc, err
	}
	if tc.AllowedUsers, err = telegramIDs(users, "--allow-users"); err != nil {
		return tc, err
	}
	return tc, nil
}

// telegramIDs reads comma-separated Telegram ids; a bad one is a usage
// error.
func telegramIDs(s, where string) ([]int64, error) {
	ids, err := access.TelegramIDs(s, where)
	return ids, asUsage(err)
}
