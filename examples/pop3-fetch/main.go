// Command pop3-fetch logs in to a POP3 mailbox with an OAuth 2.0 token
// (SASL XOAUTH2 or OAUTHBEARER) and lists, prints or saves its messages.
//
//	pop3-fetch -mailbox alice@contoso.com -tenant contoso.com -client-id ID -device-code
//	MAILAUTH_CLIENT_SECRET=... pop3-fetch -mailbox shared@contoso.com -tenant T -client-id ID
//	pop3-fetch -mailbox alice@example.com -access-token-file tok.txt -addr 127.0.0.1:995 -ca-file ca.pem -retr 1
//
// Tokens come from one of:
//   - -access-token-file F: a token obtained elsewhere (for example with
//     Get-IMAPAccessToken.ps1); it is used as is.
//   - -tenant and -client-id with the secret in MAILAUTH_CLIENT_SECRET: an
//     app-only token (client credentials, scope {resource}/.default). The
//     app needs the POP.AccessAsApp role and its service principal
//     FullAccess on the mailbox.
//   - -tenant, -client-id and -user without a secret: a delegated token for
//     -user (POP.AccessAsUser.All), kept in -cache-dir; -device-code signs in
//     the first time.
//
// By default it connects to the cloud's POP host on port 995 with implicit
// TLS; -stls uses STLS on a plaintext port instead. Without -retr it lists
// the messages with their size, unique id and subject. A failure is printed
// with its cause in plain words, never with the token.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/textproto"
	"os"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/popauth"
	"github.com/modernauth/mailauth/tokencache"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pop3-fetch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mailbox := fs.String("mailbox", os.Getenv("MAILAUTH_MAILBOX"), "mailbox to open: your own, a shared mailbox, or the target of an app-only token (env MAILAUTH_MAILBOX)")
	addr := fs.String("addr", "", "server host:port (default: the cloud's POP host, port 995, or 110 with -stls)")
	stls := fs.Bool("stls", false, "connect in plaintext and upgrade with STLS instead of implicit TLS")
	mech := fs.String("mechanism", "XOAUTH2", "XOAUTH2 or OAUTHBEARER (only where the server advertises it)")
	cloudName := fs.String("cloud", "global", "global, usgov, usgovdod or china")
	caFile := fs.String("ca-file", "", "PEM file of extra CA certificates to trust (test servers)")
	tokenFile := fs.String("access-token-file", "", "file holding an access token to use as is")
	tenant := fs.String("tenant", os.Getenv("MAILAUTH_TENANT"), "tenant id or domain (env MAILAUTH_TENANT)")
	clientID := fs.String("client-id", os.Getenv("MAILAUTH_CLIENT_ID"), "application (client) id (env MAILAUTH_CLIENT_ID); app-only when MAILAUTH_CLIENT_SECRET is set")
	user := fs.String("user", "", "account for a delegated token (default: -mailbox)")
	cacheDir := fs.String("cache-dir", "", "directory that keeps the delegated sign-in between runs (default: memory only)")
	deviceCode := fs.Bool("device-code", false, "sign in with the device-code flow if the account has no stored sign-in")
	retr := fs.Int("retr", 0, "print message N (RFC 5322, CRLF) instead of the list")
	save := fs.String("save", "", "with -retr: write the message to this file instead of stdout")
	insecure := fs.Bool("insecure-plaintext", false, "allow sending the token without TLS (test servers on loopback only)")
	timeout := fs.Duration("timeout", 2*time.Minute, "overall time limit")
	verbose := fs.Bool("v", false, "log commands (verbs only, never tokens) to stderr")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `usage: pop3-fetch -mailbox ADDRESS [token flags] [-addr host:port] [-stls] [-retr N]

Logs in to a POP3 mailbox with an OAuth 2.0 token (SASL XOAUTH2 or OAUTHBEARER)
and lists its messages, or prints message N. Token from -access-token-file, or
-tenant/-client-id with MAILAUTH_CLIENT_SECRET (app-only), or -tenant/-client-id
with -user and -device-code (delegated, kept in -cache-dir).

flags:`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "FAIL:", err)
		var ae *popauth.AuthError
		var pr *popauth.ProbeError
		switch {
		case errors.As(err, &ae) && ae.Hint != "":
			fmt.Fprintln(stderr, "hint:", ae.Hint)
		case errors.As(err, &pr):
			fmt.Fprintln(stderr, "hint:", pr.Hint())
		case errors.Is(err, popauth.ErrInsecure):
			fmt.Fprintln(stderr, "hint: the connection is not TLS; use the implicit-TLS port (995) or -stls, or -insecure-plaintext for a loopback test server only")
		}
		return 1
	}
	if *mailbox == "" {
		fmt.Fprintln(stderr, "usage: pop3-fetch -mailbox ADDRESS [token flags] [-addr host:port] [-retr N]; see -h")
		return 2
	}
	cl, err := cloud.ByName(*cloudName)
	if err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	src, err := tokenSource(ctx, stderr, cl, *tokenFile, *tenant, *clientID, *user, *mailbox, *cacheDir, *deviceCode)
	if err != nil {
		return fail(err)
	}
	o := &popauth.Options{Username: *mailbox, TokenSource: src, Mechanism: *mech, InsecureAllowPlaintext: *insecure}
	if *caFile != "" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			return fail(err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return fail(fmt.Errorf("no certificate found in %s", *caFile))
		}
		o.TLSConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	if *verbose {
		o.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if *addr == "" {
		*addr = cl.POPAddr()
		if *stls {
			*addr = cl.POPHost + ":110"
		}
	}
	var c *popauth.Client
	if *stls {
		c, err = popauth.DialSTLS(ctx, *addr, o)
	} else {
		c, err = popauth.Dial(ctx, *addr, o)
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

func tokenSource(ctx context.Context, stderr io.Writer, cl cloud.Cloud, tokenFile, tenant, clientID, user, mailbox, cacheDir string, deviceCode bool) (oauth2.TokenSource, error) {
	if tokenFile != "" {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return nil, err
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return nil, fmt.Errorf("%s is empty", tokenFile)
		}
		return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok, TokenType: "Bearer"}), nil
	}
	if tenant == "" || clientID == "" {
		return nil, errors.New("no token: give -access-token-file, or -tenant and -client-id (see -h)")
	}
	opts := &tokencache.Options{}
	if cacheDir != "" {
		st, err := tokencache.NewFileStore(cacheDir)
		if err != nil {
			return nil, err
		}
		opts.Store = st
	}
	cache := tokencache.New(opts)
	if secret := os.Getenv("MAILAUTH_CLIENT_SECRET"); secret != "" {
		app, err := cache.AppOnly(tokencache.AppOnlyConfig{Cloud: cl, TenantID: tenant, ClientID: clientID,
			Credential: tokencache.ClientSecret(secret)})
		if err != nil {
			return nil, err
		}
		return app.Source(cl.AppOnlyScope()), nil
	}
	if user == "" {
		user = mailbox
	}
	u, err := cache.Delegated(tokencache.DelegatedConfig{Cloud: cl, TenantID: tenant, ClientID: clientID, Account: user})
	if err != nil {
		return nil, err
	}
	if ok, err := u.SignedIn(ctx); err != nil || !ok {
		if !deviceCode {
			return nil, fmt.Errorf("%s has no stored sign-in; run once with -device-code (and -cache-dir to keep it)", user)
		}
		err := u.SignInDeviceCode(ctx, func(dc tokencache.DeviceCode) { fmt.Fprintln(stderr, dc.Message) })
		if err != nil {
			return nil, err
		}
	}
	return u.Source(cl.DelegatedScopes(cloud.POP)...), nil
}
