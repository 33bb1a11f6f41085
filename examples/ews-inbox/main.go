// Command ews-inbox lists the newest messages of a mailbox's inbox over
// Exchange Web Services with an OAuth token (Exchange Online, or Exchange
// Server with OAuth).
//
//	ews-inbox -mailbox alice@contoso.com -tenant contoso.onmicrosoft.com -client-id ID -device-code
//	MAILAUTH_CLIENT_SECRET=... ews-inbox -app-only -mailbox shared@contoso.com -tenant T -client-id ID -json
//	ews-inbox -ews-url https://mail.contoso.com/EWS/Exchange.asmx -mailbox alice@contoso.com -access-token-file tok.txt
//
// The token comes from the common flags (-h lists them): a token file, app-only
// credentials (-client-secret-env, -cert; the app needs full_access_as_app and
// the mailbox is impersonated), or a delegated sign-in (EWS.AccessAsUser.All).
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
	"strings"
	"time"

	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/ews"
	"github.com/modernauth/mailauth/internal/tool/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ews-inbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := cli.Register(fs)
	ewsURL := fs.String("ews-url", "", "EWS endpoint `URL` (default: the cloud's, e.g. https://outlook.office365.com/EWS/Exchange.asmx)")
	appOnly := fs.Bool("app-only", false, "the token is app-only: impersonate -mailbox (implied by -client-secret-env or -cert)")
	maxItems := fs.Int("max", 20, "list at most `N` messages (0: all)")
	asJSON := fs.Bool("json", false, "print a JSON array of {id, subject, from, received}")
	resource := fs.String("resource", "", "token resource `URL` (default: the cloud's); for Exchange Server with hybrid modern auth, its external URL")
	fs.Usage = func() {
		cli.Usage(fs, stderr, "ews-inbox -mailbox ADDRESS [flags]: list the newest messages of a mailbox's inbox over EWS with an OAuth token.")
	}
	if err := cli.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if f.Mailbox == "" {
		fmt.Fprintln(stderr, "ews-inbox: -mailbox is required")
		return 2
	}
	if f.User == "" {
		f.User = f.Mailbox
	}
	env, err := cli.Setup(f, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "ews-inbox:", err)
		return 2
	}
	if err := list(ctx, env, stdout, stderr, *ewsURL, *resource, *appOnly || env.AppOnly(), *maxItems, *asJSON); err != nil {
		fmt.Fprintln(stderr, "ews-inbox:", env.Redactor.String(err.Error()))
		return 1
	}
	return 0
}

func list(ctx context.Context, env *cli.Env, stdout, stderr io.Writer, ewsURL, resource string, appOnly bool, maxItems int, asJSON bool) error {
	timeout, err := time.ParseDuration(env.Flags.Timeout)
	if err != nil {
		return fmt.Errorf("-timeout: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if resource != "" {
		env.Cloud.Resource = strings.TrimRight(resource, "/")
	}
	if ewsURL == "" {
		ewsURL = env.Cloud.EWSURL
	}
	if err := env.EnsureSignedIn(ctx); err != nil {
		return err
	}
	c, err := ews.New(&ews.Options{URL: ewsURL, Token: env.Source(cloud.EWS), Mailbox: env.Flags.Mailbox, AppOnly: appOnly,
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
	for it, err := range c.FindItems(ctx, ews.Inbox, &ews.FindOptions{Max: maxItems, NewestFirst: true}) {
		if err != nil {
			return err
		}
		rows = append(rows, row{ID: it.ID.ID, Subject: it.Subject, From: it.From.String(), Received: it.DateTimeReceived})
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	for _, r := range rows {
		fmt.Fprintf(stdout, "%s  %-30.30s  %s\n", r.Received.Local().Format("2006-01-02 15:04"), r.From, r.Subject)
	}
	fmt.Fprintf(stderr, "%d message(s) in the inbox of %s\n", len(rows), env.Flags.Mailbox)
	return nil
}
