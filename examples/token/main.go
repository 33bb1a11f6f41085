// Command token is a credential helper: it signs in once, keeps the refresh token in a file
// store, and prints a fresh access token each time it is run, for mail programs and scripts
// that take a token from a command (mutt/neomutt, msmtp, isync/mbsync, getmail6, shell).
//
//	token login -tenant contoso.com -client-id ID -user alice@contoso.com   # once; device code
//	token -tenant contoso.com -client-id ID -user alice@contoso.com         # prints an access token
//	token -xoauth2 ... -protocol smtp                                       # the base64 XOAUTH2 string
//	token -json ...                                                         # token, type and expiry as JSON
//	token logout ...
//	token status ...                                                        # sign-in age and what will end it
//
// With -client-secret-env or -cert it prints app-only tokens the same way (no login).
//
// Access tokens are kept in the file store too, so a call while the stored token is still
// valid for -min-validity makes no request to Entra ID. Several copies may run at once: a
// lock per account makes one of them redeem the refresh token and the others use the
// result. Throttling (429 with Retry-After) and server errors are waited out and retried.
//
// # Recipes
//
// mutt/neomutt (IMAP and SMTP):
//
//	set imap_authenticators = "xoauth2"
//	set imap_oauth_refresh_command = "token -tenant contoso.com -client-id ID -user alice@contoso.com -protocol imap"
//	set smtp_authenticators = "xoauth2"
//	set smtp_oauth_refresh_command = "token -tenant contoso.com -client-id ID -user alice@contoso.com -protocol smtp"
//
// msmtp (~/.msmtprc):
//
//	account office365
//	host smtp.office365.com
//	port 587
//	tls on
//	auth xoauth2
//	user alice@contoso.com
//	passwordeval "token -tenant contoso.com -client-id ID -user alice@contoso.com -protocol smtp"
//
// isync/mbsync (~/.mbsyncrc, with the cyrus-sasl-xoauth2 plugin installed):
//
//	IMAPAccount office365
//	Host outlook.office365.com
//	User alice@contoso.com
//	PassCmd "token -tenant contoso.com -client-id ID -user alice@contoso.com -protocol imap"
//	AuthMechs XOAUTH2
//	TLSType IMAPS
//
// getmail6 (getmailrc):
//
//	[retriever]
//	type = SimpleIMAPSSLRetriever
//	server = outlook.office365.com
//	username = alice@contoso.com
//	use_xoauth2 = True
//	password_command = ("token", "-tenant", "contoso.com", "-client-id", "ID", "-user", "alice@contoso.com", "-protocol", "imap")
//
// A shell script (curl to EWS):
//
//	tok=$(token -tenant contoso.com -client-id ID -user alice@contoso.com -protocol ews) || exit 1
//	curl -H "Authorization: Bearer $tok" -H "Content-Type: text/xml" --data @request.xml \
//	    https://outlook.office365.com/EWS/Exchange.asmx
//
// Every flag can also be set in the environment (MAILAUTH_TENANT, MAILAUTH_CLIENT_ID,
// MAILAUTH_USER, ...), which keeps these lines short.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/internal/tool/cli"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := "print"
	if len(args) > 0 {
		switch args[0] {
		case "login", "logout", "print", "status":
			cmd, args = args[0], args[1:]
		}
	}
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := cli.Register(fs)
	protocol := fs.String("protocol", "imap", "protocol whose scope to ask for: imap, pop, smtp, ews or eas")
	scope := fs.String("scope", "", "ask for this `SCOPE` instead (space-separated), e.g. for another resource")
	xoauth2 := fs.Bool("xoauth2", false, "print the base64 SASL XOAUTH2 string (user=-mailbox or -user) instead of the bare token")
	asJSON := fs.Bool("json", false, "print the token with its type and expiry as JSON")
	minValidity := fs.Duration("min-validity", 5*time.Minute, "refresh a stored token that is valid for less than this")
	fs.Usage = func() {
		cli.Usage(fs, stderr, "token [login|logout|status] [flags]: sign in once, then print a fresh access token on each run.")
	}
	if err := cli.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "token:", err)
		return 2
	}
	f.RefreshMargin = *minValidity
	if f.AccessTokenFile != "" {
		fmt.Fprintln(stderr, "token: -access-token-file makes no sense here")
		return 2
	}
	timeout, err := time.ParseDuration(f.Timeout)
	if err != nil {
		fmt.Fprintln(stderr, "token: -timeout:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	env, err := cli.Setup(f, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "token:", err)
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "token:", env.Redactor.String(err.Error()))
		return 1
	}
	switch cmd {
	case "login":
		if env.User == nil {
			fmt.Fprintln(stderr, "token: login is for delegated access; app-only credentials need no sign-in")
			return 2
		}
		if !f.Browser {
			f.DeviceCode = true
		}
		if err := env.SignIn(ctx); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stderr, "signed in as %s; the refresh token is in the cache\n", env.User)
		return 0
	case "status":
		if env.User == nil {
			fmt.Fprintln(stdout, "app-only credentials: no sign-in to age")
			return 0
		}
		h, err := env.User.Health(ctx)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintln(stdout, h)
		if !h.SignedIn || h.Warning != "" {
			return 1
		}
		return 0
	case "logout":
		if env.User == nil {
			return 0
		}
		if err := env.User.SignOut(ctx); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stderr, "signed out %s\n", env.User)
		return 0
	}

	p := cloud.Protocol(*protocol)
	if cloud.DelegatedPermission(p) == "" {
		fmt.Fprintf(stderr, "token: unknown -protocol %q\n", *protocol)
		return 2
	}
	src := env.Source(p)
	if *scope != "" {
		src = env.ScopedSource(splitScopes(*scope)...)
	}
	tok, err := fetch(ctx, src)
	if err != nil {
		return fail(err)
	}
	switch {
	case *asJSON:
		out := map[string]any{"access_token": tok.AccessToken, "token_type": "Bearer"}
		if !tok.Expiry.IsZero() {
			out["expires_at"] = tok.Expiry.UTC().Format(time.RFC3339)
			out["expires_in"] = int(time.Until(tok.Expiry).Seconds())
		}
		b, _ := json.Marshal(out)
		fmt.Fprintln(stdout, string(b))
	case *xoauth2:
		user := f.Mailbox
		if user == "" {
			user = f.User
		}
		if user == "" {
			fmt.Fprintln(stderr, "token: -xoauth2 needs -mailbox or -user")
			return 2
		}
		fmt.Fprintln(stdout, base64.StdEncoding.EncodeToString([]byte("user="+user+"\x01auth=Bearer "+tok.AccessToken+"\x01\x01")))
	default:
		fmt.Fprintln(stdout, tok.AccessToken)
	}
	return 0
}
