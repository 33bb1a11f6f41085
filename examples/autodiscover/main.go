// Command autodiscover finds the EWS or ActiveSync URL of a mailbox with
// the autodiscover package, and says in plain words why when it cannot.
//
//	autodiscover -email alice@contoso.com
//	autodiscover -email alice@contoso.com -protocol activesync -json
//	autodiscover -email bob@contoso.test -ca-file ca.pem \
//	    -connect-to outlook.office365.com:443:127.0.0.1:8443
//
// Requests are anonymous; a token is used only where a POX or SOAP endpoint
// asks for one, from the common token flags (-access-token-file, or -tenant
// and -client-id with -client-secret-env, -cert, -device-code or -browser).
// Every flag can also be set as MAILAUTH_<FLAG> in the environment; -h lists them.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/modernauth/mailauth/autodiscover"
	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/internal/tool/cli"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var connectTo, allow listFlag
	fs := flag.NewFlagSet("autodiscover", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := cli.Register(fs)
	email := fs.String("email", "", "mailbox `ADDRESS` to look up (default: -mailbox)")
	proto := fs.String("protocol", "ews", "ews or activesync")
	asJSON := fs.Bool("json", false, "print the result (or the failed attempts) as JSON")
	fs.Var(&connectTo, "connect-to", "HOST1:PORT1:HOST2:PORT2: connect to HOST2:PORT2 instead of HOST1:PORT1, as curl does (repeatable; empty HOST1 or PORT1 matches any)")
	fs.Var(&allow, "allow-domain", "a further `DOMAIN` whose hosts may be asked and receive the token (repeatable)")
	fs.Usage = func() {
		cli.Usage(fs, stderr, "autodiscover -email user@domain [-protocol ews|activesync] [flags]: find the EWS or ActiveSync URL of a mailbox.")
	}
	if err := cli.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *email == "" {
		*email = f.Mailbox
	}
	p, err := autodiscover.ParseProtocol(*proto)
	if err != nil || *email == "" {
		fmt.Fprintln(stderr, "usage: autodiscover -email user@domain [-protocol ews|activesync] [flags]; see -h")
		return 2
	}
	timeout, err := time.ParseDuration(f.Timeout)
	if err != nil {
		fmt.Fprintln(stderr, "autodiscover: -timeout:", err)
		return 2
	}
	f.TokenOptional = true
	env, err := cli.Setup(f, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "autodiscover:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := env.EnsureSignedIn(ctx); err != nil {
		fmt.Fprintln(stderr, "autodiscover:", env.Redactor.String(err.Error()))
		return 1
	}
	opts := &autodiscover.Options{Cloud: env.Cloud, AllowedDomains: allow, DialContext: dialer(connectTo),
		TLSConfig: env.TLS, Logger: env.Logger, Token: env.Source(cloud.EWS)}
	c, err := autodiscover.New(opts)
	if err != nil {
		fmt.Fprintln(stderr, "autodiscover:", err)
		return 1
	}
	res, err := c.Lookup(ctx, *email, p)
	if env.Transcript != nil {
		env.Transcript.Flush()
	}
	if rerr := report(stdout, res, err, *asJSON); rerr != nil {
		fmt.Fprintln(stderr, "autodiscover:", rerr)
		return 1
	}
	if err != nil {
		return 1
	}
	return 0
}

func report(w io.Writer, res *autodiscover.Result, err error, asJSON bool) error {
	var le *autodiscover.LookupError
	if asJSON {
		out := map[string]any{}
		if err == nil {
			out["result"] = res
		} else {
			out["error"] = err.Error()
			if errors.As(err, &le) {
				var att []map[string]string
				for _, a := range le.Attempts {
					m := map[string]string{"method": string(a.Method), "url": a.URL, "email": a.Email}
					if a.Err != nil {
						m["error"] = a.Err.Error()
					}
					att = append(att, m)
				}
				out["attempts"] = att
			}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if err == nil {
		fmt.Fprintf(w, "%s URL for %s: %s\n(found by %s at %s after %d redirect(s))\n", res.Protocol, res.Email, res.URL, res.Method, res.Endpoint, res.Redirects)
		return nil
	}
	fmt.Fprintln(w, "FAIL:", err)
	if errors.As(err, &le) {
		for _, a := range le.Attempts {
			status := "ok"
			if a.Err != nil {
				status = a.Err.Error()
			}
			fmt.Fprintf(w, "  %-13s %s\n                %s\n", a.Method, a.URL, status)
		}
	}
	return nil
}
