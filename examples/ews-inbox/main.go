// Command ews-inbox lists the newest messages of a mailbox's inbox over
// Exchange Web Services with an OAuth token; run it with -h for the token
// choices and examples.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/ews"
	"github.com/modernauth/mailauth/tokencache"
)

func main() {
	var (
		ewsURL    = flag.String("ews-url", "", "EWS endpoint (default: the cloud's, e.g. https://outlook.office365.com/EWS/Exchange.asmx)")
		mailbox   = flag.String("mailbox", "", "SMTP address of the mailbox to list (required)")
		appOnly   = flag.Bool("app-only", false, "use an app-only token (client secret in $MAILAUTH_CLIENT_SECRET) and impersonate -mailbox")
		maxItems  = flag.Int("max", 20, "list at most N messages (0: all)")
		asJSON    = flag.Bool("json", false, "print a JSON array of {id, subject, from, received}")
		tokenFile = flag.String("access-token-file", "", "read the access token from FILE (\"-\": standard input) instead of signing in")
		caFile    = flag.String("ca-file", "", "also trust the PEM CA certificates in FILE (test servers)")
		cloudName = flag.String("cloud", "global", "Microsoft cloud: global, usgov, usgovdod or china")
		authority = flag.String("authority-host", "", "override the cloud's Entra ID host (https://host), e.g. for a test IdP")
		resource  = flag.String("resource", "", "token resource (default: the cloud's, https://outlook.office365.com); for Exchange Server with hybrid modern auth, its external URL such as https://mail.contoso.com")
		tenant    = flag.String("tenant", "", "Entra ID tenant id or domain")
		clientID  = flag.String("client-id", "", "application (client) id")
	)
	flag.Usage = func() {
		fmt.Fprint(flag.CommandLine.Output(), `Usage: ews-inbox -mailbox ADDRESS [flags]

Lists the newest messages of a mailbox's inbox over Exchange Web Services
with an OAuth token (Exchange Online, or Exchange Server with OAuth).

Token, in order of preference:
  -access-token-file FILE   a ready access token ("-": standard input)
  -app-only                 client credentials for -tenant/-client-id, secret in
                            $MAILAUTH_CLIENT_SECRET; the app needs full_access_as_app
                            and the mailbox is impersonated
  (default)                 device-code sign-in for -tenant/-client-id as -mailbox
                            (delegated permission EWS.AccessAsUser.All)

Examples:
  ews-inbox -mailbox alice@contoso.com -tenant contoso.onmicrosoft.com -client-id ID
  MAILAUTH_CLIENT_SECRET=... ews-inbox -app-only -mailbox shared@contoso.com -tenant T -client-id ID -json
  ews-inbox -ews-url https://mail.contoso.com/EWS/Exchange.asmx -mailbox alice@contoso.com -access-token-file tok.txt

Flags:
`)
		flag.PrintDefaults()
	}
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout, os.Stderr, *ewsURL, *mailbox, *appOnly, *maxItems, *asJSON, *tokenFile, *caFile, *cloudName, *authority, *resource, *tenant, *clientID); err != nil {
		fmt.Fprintln(os.Stderr, "ews-inbox:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, stdout, stderr io.Writer, ewsURL, mailbox string, appOnly bool, maxItems int, asJSON bool,
	tokenFile, caFile, cloudName, authority, resource, tenant, clientID string) error {
	if mailbox == "" {
		return errors.New("-mailbox is required")
	}
	cl, err := cloud.ByName(cloudName)
	if err != nil {
		return err
	}
	if authority != "" {
		cl.AuthorityHost = strings.TrimRight(authority, "/")
	}
	if resource != "" {
		cl.Resource = strings.TrimRight(resource, "/")
	}
	if ewsURL == "" {
		ewsURL = cl.EWSURL
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return err
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%s: no PEM certificate found", caFile)
		}
		transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}

	var src oauth2.TokenSource
	switch {
	case tokenFile != "":
		tok, err := readToken(tokenFile)
		if err != nil {
			return err
		}
		src = oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok, TokenType: "Bearer"})
	case tenant == "" || clientID == "":
		return errors.New("give -access-token-file, or -tenant and -client-id to get a token")
	default:
		cache := tokencache.New(&tokencache.Options{HTTPClient: &http.Client{Transport: transport}})
		if appOnly {
			app, err := cache.AppOnly(tokencache.AppOnlyConfig{Cloud: cl, TenantID: tenant, ClientID: clientID,
				Credential: tokencache.ClientSecret(os.Getenv("MAILAUTH_CLIENT_SECRET"))})
			if err != nil {
				return err
			}
			src = app.Source(cl.AppOnlyScope())
		} else {
			user, err := cache.Delegated(tokencache.DelegatedConfig{Cloud: cl, TenantID: tenant, ClientID: clientID, Account: mailbox,
				Scopes: cl.DelegatedScopes(cloud.EWS)})
			if err != nil {
				return err
			}
			err = user.SignInDeviceCode(ctx, func(dc tokencache.DeviceCode) { fmt.Fprintln(stderr, dc.Message) })
			if err != nil {
				return err
			}
			src = user.Source(cl.DelegatedScope(cloud.EWS))
		}
	}

	c, err := ews.New(ews.Options{URL: ewsURL, Token: src, Mailbox: mailbox, AppOnly: appOnly, Base: transport})
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
	fmt.Fprintf(stderr, "%d message(s) in the inbox of %s\n", len(rows), mailbox)
	return nil
}

func readToken(name string) (string, error) {
	var b []byte
	var err error
	if name == "-" {
		b, err = io.ReadAll(io.LimitReader(os.Stdin, 1<<20))
	} else {
		b, err = os.ReadFile(name)
	}
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("%s: empty token", name)
	}
	return tok, nil
}
