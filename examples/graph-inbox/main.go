// Command graph-inbox lists the newest messages of a mailbox's inbox over Microsoft Graph
// with an OAuth token: the way on when EWS is switched off.
//
//	graph-inbox -tenant contoso.onmicrosoft.com -client-id ID -device-code -mailbox alice@contoso.com
//	MAILAUTH_CLIENT_SECRET=... graph-inbox -app-only -mailbox shared@contoso.com -tenant T -client-id ID -json
//	graph-inbox -access-token-file tok.txt -max 5
//
// The token comes from the common flags (-h lists them): a token file, app-only credentials
// (-client-secret-env, -cert; the app needs the Microsoft Graph application permission
// Mail.Read or Mail.ReadWrite, which Exchange can scope with RBAC for Applications), or a
// delegated sign-in (Mail.ReadWrite). -json prints the same array of {id, subject, from,
// received} as ews-inbox.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/graph"
	"github.com/modernauth/mailauth/internal/tool/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("graph-inbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := cli.Register(fs)
	graphURL := fs.String("graph-url", "", "Microsoft Graph endpoint `URL` without version (default: the cloud's, e.g. https://graph.microsoft.com; the client adds /v1.0)")
	appOnly := fs.Bool("app-only", false, "the token is app-only: open -mailbox as /users/ADDR (implied by -client-secret-env or -cert)")
	maxItems := fs.Int("max", 20, "list at most `N` messages (0: all)")
	asJSON := fs.Bool("json", false, "print a JSON array of {id, subject, from, received}")
	fs.Usage = func() {
		cli.Usage(fs, stderr, "graph-inbox [-mailbox ADDRESS] [flags]: list the newest messages of a mailbox's inbox over Microsoft Graph (without -mailbox: the signed-in user's, /me).")
	}
	if err := cli.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	env, err := cli.Setup(f, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "graph-inbox:", err)
		return 2
	}
	if (*appOnly || env.AppOnly()) && f.Mailbox == "" {
		fmt.Fprintln(stderr, "graph-inbox: -mailbox is required with an app-only token (there is no /me)")
		return 2
	}
	if err := list(ctx, env, stdout, stderr, *graphURL, *maxItems, *asJSON); err != nil {
		fmt.Fprintln(stderr, "graph-inbox:", env.Redactor.String(err.Error()))
		return 1
	}
	return 0
}

func list(ctx context.Context, env *cli.Env, stdout, stderr io.Writer, graphURL string, maxItems int, asJSON bool) error {
	timeout, err := time.ParseDuration(env.Flags.Timeout)
	if err != nil {
		return fmt.Errorf("-timeout: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := env.EnsureSignedIn(ctx); err != nil {
		return err
	}
	c, err := graph.New(&graph.Options{URL: graphURL, Cloud: env.Cloud, Token: env.Source(cloud.Graph), Mailbox: env.Flags.Mailbox,
		Transport: env.HTTP.Transport, Logger: env.Logger})
	if err != nil {
		return err
	}
	type row struct {
		ID       string    `json:"id"`
		Subject  string    `json:"subject"`
		From     string    `json:"from"`
		Received time.Time `json:"received"`
	}
	rows := []row{}
	opts := &graph.ListOptions{Max: maxItems, Select: []string{"id", "subject", "from", "receivedDateTime"}}
	for m, err := range c.Messages(ctx, graph.Inbox, opts) {
		if err != nil {
			return err
		}
		rows = append(rows, row{ID: m.ID, Subject: m.Subject, From: m.From.String(), Received: m.ReceivedDateTime})
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	for _, r := range rows {
		fmt.Fprintf(stdout, "%s  %-30.30s  %s\n", r.Received.Local().Format("2006-01-02 15:04"), r.From, r.Subject)
	}
	who := env.Flags.Mailbox
	if who == "" {
		who = "the signed-in user"
	}
	fmt.Fprintf(stderr, "%d message(s) in the inbox of %s\n", len(rows), who)
	return nil
}
