// Command pop3-fetch logs in to a POP3 mailbox with an OAuth 2.0 token
// (SASL XOAUTH2 or OAUTHBEARER) and lists, prints or saves its messages.
//
//	pop3-fetch -mailbox alice@contoso.com -tenant contoso.com -client-id ID -device-code
//	MAILAUTH_CLIENT_SECRET=... pop3-fetch -mailbox shared@contoso.com -tenant T -client-id ID
//	pop3-fetch -mailbox alice@example.com -access-token-file tok.txt -addr 127.0.0.1:995 -ca-file ca.pem -retr 1
//
// Tokens come from the common flags (see -h): -access-token-file F for a token
// obtained elsewhere (for example with Get-IMAPAccessToken.ps1); -tenant and
// -client-id with -client-secret-env or -cert for an app-only token (the app
// needs POP.AccessAsApp and its service principal FullAccess on the mailbox);
// or -tenant, -client-id and -user for a delegated token (POP.AccessAsUser.All)
// kept in the -cache file store, signing in with -device-code or -browser the
// first time.
//
// By default it connects to the cloud's POP host on port 995 with implicit
// TLS; -stls uses STLS on a plaintext port instead. Without -retr it lists
// the messages with their size, unique id and subject. A failure is printed
// with its cause in plain words, never with the token.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/textproto"
	"os"
	"time"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/internal/tool/cli"
	"github.com/modernauth/mailauth/popauth"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pop3-fetch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := cli.Register(fs)
	mailbox := &f.Mailbox
	addr := fs.String("addr", "", "server `HOST:PORT` (default: the cloud's POP host, port 995, or 110 with -stls)")
	stls := fs.Bool("stls", false, "connect in plaintext and upgrade with STLS instead of implicit TLS")
	mech := fs.String("mechanism", "XOAUTH2", "XOAUTH2 or OAUTHBEARER (only where the server advertises it)")
	retr := fs.Int("retr", 0, "print message `N` (RFC 5322, CRLF) instead of the list")
	save := fs.String("save", "", "with -retr: write the message to this `FILE` instead of stdout")
	insecure := fs.Bool("insecure-plaintext", false, "allow sending the token without TLS (test servers on loopback only)")
	fs.Usage = func() {
		cli.Usage(fs, stderr, "pop3-fetch -mailbox ADDRESS [token flags] [-addr host:port] [-stls] [-retr N]: list or fetch POP3 mail with an OAuth token.")
	}
	if err := cli.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	var env *cli.Env
	fail := func(err error) int {
		msg := err.Error()
		if env != nil {
			msg = env.Redactor.String(msg)
		}
		fmt.Fprintln(stderr, "FAIL:", msg)
		var ae *mailauth.AuthError
		var pr *mailauth.MailboxAccessError
		switch {
		case errors.As(err, &ae) && ae.Hint != "":
			fmt.Fprintln(stderr, "hint:", ae.Hint)
		case errors.As(err, &pr):
			fmt.Fprintln(stderr, "hint:", pr.Hint())
		case errors.Is(err, mailauth.ErrInsecure):
			fmt.Fprintln(stderr, "hint: the connection is not TLS; use the implicit-TLS port (995) or -stls, or -insecure-plaintext for a loopback test server only")
		}
		return 1
	}
	if *mailbox == "" {
		fmt.Fprintln(stderr, "usage: pop3-fetch -mailbox ADDRESS [token flags] [-addr host:port] [-retr N]; see -h")
		return 2
	}
	timeout, err := time.ParseDuration(f.Timeout)
	if err != nil {
		return fail(fmt.Errorf("-timeout: %w", err))
	}
	env, err = cli.Setup(f, stderr)
	if err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := env.EnsureSignedIn(ctx); err != nil {
		return fail(err)
	}
	cl := env.Cloud
	o := &popauth.Options{Mailbox: *mailbox, Token: env.Source(cloud.POP), Mechanism: *mech,
		InsecureAllowPlaintext: *insecure, TLSConfig: env.TLS, Logger: env.Logger}
	if *addr == "" {
		*addr = cl.POPAddr()
		if *stls {
			*addr = cl.POPHost + ":110"
		}
	}
	var c *popauth.Client
	if *stls {
		c, err = popauth.DialStartTLS(ctx, *addr, o)
	} else {
		c, err = popauth.DialTLS(ctx, *addr, o)
	}
	if err != nil {
		return fail(err)
	}
	defer c.Quit(ctx)

	if *retr > 0 {
		r, err := c.Retr(ctx, *retr)
		if err != nil {
			return fail(err)
		}
		defer r.Close()
		var w io.Writer = stdout
		if *save != "" {
			f, err := os.OpenFile(*save, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
			if err != nil {
				return fail(err)
			}
			defer f.Close()
			w = f
		}
		if _, err := io.Copy(w, r); err != nil {
			return fail(err)
		}
		return 0
	}

	list, err := c.List(ctx)
	if err != nil {
		return fail(err)
	}
	uids := map[int]string{}
	if c.HasCapability("UIDL") {
		if ul, err := c.UIDL(ctx); err == nil {
			for _, u := range ul {
				uids[u.Number] = u.UID
			}
		}
	}
	fmt.Fprintf(stdout, "%s: %d message(s)\n", *mailbox, len(list))
	for _, m := range list {
		subject := ""
		if r, err := c.Top(ctx, m.Number, 0); err == nil {
			if h, err := textproto.NewReader(bufio.NewReader(r)).ReadMIMEHeader(); err == nil || len(h) > 0 {
				subject = h.Get("Subject")
			}
			r.Close()
		}
		fmt.Fprintf(stdout, "%4d %8d %-20s %s\n", m.Number, m.Size, uids[m.Number], subject)
	}
	return 0
}
