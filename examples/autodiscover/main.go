// Command autodiscover finds the EWS or ActiveSync URL of a mailbox with
// the autodiscover package, and says in plain words why when it cannot.
//
//	autodiscover -email alice@contoso.com
//	autodiscover -email alice@contoso.com -protocol activesync -json
//	autodiscover -email bob@contoso.test -ca-file ca.pem \
//	    -connect-to outlook.office365.com:443:127.0.0.1:8443
//
// Requests are anonymous; a token is used only where a POX or SOAP endpoint
// asks for one. Give it with -access-token-file, or with -tenant and
// -client-id plus the MAILAUTH_CLIENT_SECRET environment variable
// (app-only, scope {resource}/.default).
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth/autodiscover"
	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/tokencache"
)

func main() {
	var connectTo, allow listFlag
	email := flag.String("email", os.Getenv("MAILAUTH_EMAIL"), "mailbox address to look up (env MAILAUTH_EMAIL)")
	proto := flag.String("protocol", "ews", "ews or activesync")
	asJSON := flag.Bool("json", false, "print the result (or the failed attempts) as JSON")
	cloudName := flag.String("cloud", "global", "global, usgov, usgovdod or china")
	caFile := flag.String("ca-file", "", "PEM file of extra CA certificates to trust")
	tokenFile := flag.String("access-token-file", "", "file holding an access token to use where a server asks for one")
	tenant := flag.String("tenant", os.Getenv("MAILAUTH_TENANT"), "tenant for an app-only token (env MAILAUTH_TENANT; secret in MAILAUTH_CLIENT_SECRET)")
	clientID := flag.String("client-id", os.Getenv("MAILAUTH_CLIENT_ID"), "application (client) id for an app-only token (env MAILAUTH_CLIENT_ID)")
	timeout := flag.Duration("timeout", time.Minute, "overall time limit")
	verbose := flag.Bool("v", false, "log every attempt to stderr (never tokens)")
	flag.Var(&connectTo, "connect-to", "HOST1:PORT1:HOST2:PORT2: connect to HOST2:PORT2 instead of HOST1:PORT1, as curl does (repeatable; empty HOST1 or PORT1 matches any)")
	flag.Var(&allow, "allow-domain", "a further domain whose hosts may be asked and receive the token (repeatable)")
	flag.Parse()

	p, err := autodiscover.ParseProtocol(*proto)
	if err != nil || *email == "" {
		fmt.Fprintln(os.Stderr, "usage: autodiscover -email user@domain [-protocol ews|activesync] [flags]; see -h")
		os.Exit(2)
	}
	cl, err := cloud.ByName(*cloudName)
	check(err)
	opts := &autodiscover.Options{Cloud: cl, AllowedDomains: allow, DialContext: dialer(connectTo)}
	if *caFile != "" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		pem, err := os.ReadFile(*caFile)
		check(err)
		if !pool.AppendCertsFromPEM(pem) {
			check(fmt.Errorf("no certificate found in %s", *caFile))
		}
		opts.TLSConfig = &tls.Config{RootCAs: pool}
	}
	if *verbose {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	switch {
	case *tokenFile != "":
		b, err := os.ReadFile(*tokenFile)
		check(err)
		opts.Token = oauth2.StaticTokenSource(&oauth2.Token{AccessToken: strings.TrimSpace(string(b)), TokenType: "Bearer"})
	case *tenant != "" && *clientID != "":
		app, err := tokencache.New(nil).AppOnly(tokencache.AppOnlyConfig{Cloud: cl, TenantID: *tenant, ClientID: *clientID,
			Credential: tokencache.ClientSecret(os.Getenv("MAILAUTH_CLIENT_SECRET"))})
		check(err)
		opts.Token = app.Source(cl.AppOnlyScope())
	}
	c, err := autodiscover.New(opts)
	check(err)
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	res, err := c.Lookup(ctx, *email, p)
	report(res, err, *asJSON)
	if err != nil {
		os.Exit(1)
	}
}

func report(res *autodiscover.Result, err error, asJSON bool) {
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
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		check(enc.Encode(out))
		return
	}
	if err == nil {
		fmt.Printf("%s URL for %s: %s\n(found by %s at %s after %d redirect(s))\n", res.Protocol, res.Email, res.URL, res.Method, res.Endpoint, res.Redirects)
		return
	}
	fmt.Println("FAIL:", err)
	if errors.As(err, &le) {
		for _, a := range le.Attempts {
			status := "ok"
			if a.Err != nil {
				status = a.Err.Error()
			}
			fmt.Printf("  %-13s %s\n                %s\n", a.Method, a.URL, status)
		}
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "autodiscover:", err)
		os.Exit(1)
	}
}
