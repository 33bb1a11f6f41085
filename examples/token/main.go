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
// With -client-secret-env or -cert it prints app-only tokens the same way (no login). The
// command (login, logout or print, the default) may come first or after the flags; an
// unknown command or a stray argument is a usage error. The exit status is 0 on success,
// 1 when no token could be had (not signed in: it says to run token login; a wrong
// secret: Entra ID's refusal) and 2 for bad usage, each with its own message.
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
	"strings"
	"time"

	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/internal/tool/cli"
	"github.com/modernauth/mailauth/tokencache"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// examples end token's -h.
var examples = []string{
	"token login -tenant contoso.com -client-id ID -user alice@contoso.com   # once; device code",
	"token -tenant contoso.com -client-id ID -user alice@contoso.com -protocol smtp",
	"token -tenant contoso.com -client-id ID -client-secret-env MY_SECRET -json   # app-only",
}

// commands are token's subcommands; print is the default.
var commands = map[string]bool{"login": true, "logout": true, "print": true, "status": true}

// newFlagSet defines every flag of token.
func newFlagSet(stderr io.Writer) (*flag.FlagSet, *cli.Flags, *tokenFlags) {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := cli.RegisterWith(fs, cli.RegisterOptions{NoAccessTokenFile: true})
	var t tokenFlags
	t.protocol = fs.String("protocol", "imap", "protocol whose scope to ask for: imap, pop, smtp, ews or eas")
	t.scope = fs.String("scope", "", "ask for this `SCOPE` instead (space-separated), e.g. for another resource")
	t.xoauth2 = fs.Bool("xoauth2", false, "print the base64 SASL XOAUTH2 string (user=-mailbox or -user) instead of the bare token")
	t.asJSON = fs.Bool("json", false, "print the token with its type and expiry as JSON")
	t.minValidity = fs.Duration("min-validity", 5*time.Minute, "refresh a stored token that is valid for less than this")
	fs.Usage = func() {
		cli.Usage(fs, stderr, "token [login|logout|print|status] [flags]: sign in once, then print a fresh access token on each run.", examples...)
	}
	return fs, f, &t
}

type tokenFlags struct {
	protocol, scope *string
	xoauth2, asJSON *bool
	minValidity     *time.Duration
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "token: "+format+"\n", a...)
		return 2
	}
	cmd := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		if !commands[args[0]] {
			return usage("unknown command %q: want login, logout, status or print (the default), then flags; see token -h", args[0])
		}
		cmd, args = args[0], args[1:]
	}
	fs, f, tf := newFlagSet(stderr)
	protocol, scope, xoauth2, asJSON, minValidity := tf.protocol, tf.scope, tf.xoauth2, tf.asJSON, tf.minValidity
	if err := cli.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return usage("%v", err)
	}
	// A command after the flags ("token -tenant t login") is accepted once.
	if fs.NArg() > 0 && cmd == "" && commands[fs.Arg(0)] {
		cmd = fs.Arg(0)
		if err := cli.Parse(fs, fs.Args()[1:]); err != nil {
			return usage("%v", err)
		}
	}
	if fs.NArg() > 0 {
		if commands[fs.Arg(0)] {
			return usage("more than one command (%s and %s)", cmd, fs.Arg(0))
		}
		if strings.HasPrefix(fs.Arg(0), "-") {
			return usage("flag %s comes after an argument; put every flag after the command", fs.Arg(0))
		}
		return usage("unexpected argument %q: token takes one command (login, logout, status or print) and flags", fs.Arg(0))
	}
	if cmd == "" {
		cmd = "print"
	}
	warnings, err := f.Check()
	if err != nil {
		return usage("%v", err)
	}
	for _, w := range warnings {
		fmt.Fprintln(stderr, "token:", w)
	}
	f.RefreshMargin = *minValidity
	timeout, err := time.ParseDuration(f.Timeout)
	if err != nil {
		return usage("-timeout %q is not a duration such as 30s or 2m", f.Timeout)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	env, err := cli.Setup(f, stderr)
	if err != nil {
		return usage("%v", err)
	}
	fail := func(err error) int {
		if errors.Is(err, tokencache.ErrNotSignedIn) {
			err = &cli.NotSignedInError{Account: env.Account(), Program: "token"}
		}
		fmt.Fprintln(stderr, "token:", env.Redactor.String(err.Error()))
		return 1
	}
	switch cmd {
	case "login":
		if env.User == nil {
			return usage("login is for delegated access (-user); app-only credentials (-client-secret-env, -cert) need no sign-in")
		}
		if !f.Browser {
			f.DeviceCode = true
		}
		if err := env.SignIn(ctx); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stderr, "signed in as %s; the refresh token is in the cache\n", env.Account())
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
		fmt.Fprintf(stderr, "signed out %s\n", env.Account())
		return 0
	}

	p := cloud.Protocol(*protocol)
	if cloud.DelegatedPermission(p) == "" {
		return usage("unknown -protocol %q: want imap, pop, smtp, ews or eas (or -scope for another resource)", *protocol)
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
			return usage("-xoauth2 needs -mailbox or -user (the user= of the XOAUTH2 string)")
		}
		fmt.Fprintln(stdout, base64.StdEncoding.EncodeToString([]byte("user="+user+"\x01auth=Bearer "+tok.AccessToken+"\x01\x01")))
	default:
		fmt.Fprintln(stdout, tok.AccessToken)
	}
	return 0
}
