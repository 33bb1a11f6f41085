// Command imap-shared-mailbox opens a mailbox over IMAP with an OAuth 2.0 token: your own,
// a shared mailbox you have FullAccess on (the token is yours, -mailbox is the shared
// address), or any mailbox for an app-only token. It prints the newest messages of INBOX,
// or with -idle keeps an IDLE session open across token expiry, printing new mail.
//
//	imap-shared-mailbox -tenant contoso.com -client-id ID -user alice@contoso.com -mailbox shared@contoso.com -device-code
//	MAILAUTH_CLIENT_SECRET=... imap-shared-mailbox -tenant T -client-id ID -mailbox shared@contoso.com
//	imap-shared-mailbox -access-token-file tok.txt -mailbox shared@contoso.com -addr 127.0.0.1:9993 -ca-file ca.pem
//
// Every flag can also come from MAILAUTH_<FLAG> (see -h). Failures are explained in plain
// words; tokens never appear in the output.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/imapauth"
	"github.com/modernauth/mailauth/internal/tool/cli"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("imap-shared-mailbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := cli.Register(fs)
	addr := fs.String("addr", "", "IMAP `HOST:PORT` (default the cloud's host, port 993, or 143 with -starttls)")
	startTLS := fs.Bool("starttls", false, "connect in plaintext and upgrade with STARTTLS instead of implicit TLS")
	mech := fs.String("mechanism", "XOAUTH2", "XOAUTH2 or OAUTHBEARER (used only where advertised)")
	count := fs.Int("n", 10, "how many of the newest messages to list")
	idle := fs.Duration("idle", 0, "stay in IDLE this long (e.g. 3h), reconnecting with a fresh token before each expiry")
	fs.Usage = func() {
		cli.Usage(fs, stderr, "imap-shared-mailbox opens a (shared) mailbox over IMAP with OAuth and lists INBOX.")
	}
	if err := cli.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if f.Mailbox == "" {
		fmt.Fprintln(stderr, "imap-shared-mailbox: -mailbox is required")
		return 2
	}
	timeout, err := time.ParseDuration(f.Timeout)
	if err != nil {
		fmt.Fprintln(stderr, "imap-shared-mailbox: -timeout:", err)
		return 2
	}
	env, err := cli.Setup(f, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "imap-shared-mailbox:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout+*idle)
	defer cancel()
	if err := env.EnsureSignedIn(ctx); err != nil {
		return fail(stderr, err)
	}
	if *addr == "" {
		*addr = env.Cloud.IMAPAddr()
		if *startTLS {
			*addr = env.Cloud.IMAPHost + ":143"
		}
	}
	opts := &imapauth.Options{Token: env.Source(cloud.IMAP), Mailbox: f.Mailbox, Mechanism: *mech, TLSConfig: env.TLS, Logger: env.Logger,
		Client: &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					fmt.Fprintf(stdout, "%s INBOX now has %d message(s)\n", time.Now().Format(time.TimeOnly), *d.NumMessages)
				}
			}}}}
	if env.Transcript != nil {
		opts.DebugWriter = env.Transcript
		defer env.Transcript.Flush()
	}
	s := &imapauth.Session{Addr: *addr, Options: opts, StartTLS: *startTLS}
	err = s.Run(ctx, func(ctx context.Context, c *imapauth.Conn) error {
		if s.Connects() > 1 {
			fmt.Fprintf(stdout, "reconnected with a fresh token (connection %d)\n", s.Connects())
			_, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
			if err != nil {
				return err
			}
			return imapauth.Idle(ctx, c)
		}
		fmt.Fprintf(stdout, "PASS: opened %s as %s with %s; token expires %s\n", f.Mailbox, c.Identity().Principal(), c.Mechanism(), c.TokenExpiry().Format(time.RFC3339))
		if err := list(c, *count, stdout); err != nil || *idle == 0 {
			return err
		}
		fmt.Fprintf(stdout, "idling for %s (Ctrl-C to stop)\n", *idle)
		return imapauth.Idle(ctx, c)
	})
	if err != nil && !(*idle > 0 && errors.Is(err, context.DeadlineExceeded)) {
		return fail(stderr, err)
	}
	return 0
}

// list prints the newest n messages of INBOX, newest last.
func list(c *imapauth.Conn, n int, w io.Writer) error {
	sel, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return c.Err(err)
	}
	fmt.Fprintf(w, "INBOX: %d message(s)\n", sel.NumMessages)
	if sel.NumMessages == 0 || n <= 0 {
		return nil
	}
	first := uint32(1)
	if sel.NumMessages > uint32(n) {
		first = sel.NumMessages - uint32(n) + 1
	}
	var set imap.SeqSet
	set.AddRange(first, sel.NumMessages)
	msgs, err := c.Fetch(set, &imap.FetchOptions{Envelope: true}).Collect()
	if err != nil {
		return c.Err(err)
	}
	for _, m := range msgs {
		if e := m.Envelope; e != nil {
			from := ""
			if len(e.From) > 0 {
				from = e.From[0].Addr()
			}
			fmt.Fprintf(w, "%4d  %-30s  %s\n", m.SeqNum, from, e.Subject)
		}
	}
	return nil
}

func fail(w io.Writer, err error) int {
	fmt.Fprintln(w, "FAIL:", err)
	var mae *mailauth.MailboxAccessError
	if errors.As(err, &mae) {
		fmt.Fprintln(w, "This is the classic shared-mailbox failure: the token is fine, the permission is not.")
	}
	return 1
}
