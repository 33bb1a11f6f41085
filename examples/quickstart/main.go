// Command quickstart runs the whole SDK end to end.
//
// With no flags it needs no account and no network: it boots an in-process Entra ID and
// IMAP, POP3, SMTP, EWS, ActiveSync, Autodiscover and Microsoft Graph servers on loopback, gets app-only and
// delegated tokens through one token cache from many goroutines, then uses every protocol
// package through that cache and prints a short report: what was done, and how many token
// requests served how many sessions.
//
//	go run ./examples/quickstart
//
// With -tenant and -client-id (and the usual token flags, see -h) it runs the same checks
// against Exchange Online for -mailbox.
//
// With -serve it starts the same servers (package mailauthtest) and keeps them running
// until interrupted, printing the settings another process needs, as flags and as the
// MAILAUTH_* environment variables the example programs read, for instance to run
// mailcheck or your own program against the lab:
//
//	go run ./examples/quickstart -serve
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/graph"
	"github.com/modernauth/mailauth/graph/report"
	"github.com/modernauth/mailauth/internal/core/redact"
	"github.com/modernauth/mailauth/internal/fake/lab"
	"github.com/modernauth/mailauth/internal/tool/cli"
	"github.com/modernauth/mailauth/internal/tool/doctor"
	"github.com/modernauth/mailauth/tokencache"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("quickstart", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := cli.Register(fs)
	goroutines := fs.Int("goroutines", 1000, "goroutines asking for tokens at once in the cache demo")
	serveLab := fs.Bool("serve", false, "keep the in-process servers running until interrupted and print their settings for other programs (-timeout does not apply)")
	fs.Usage = func() {
		cli.Usage(fs, stderr, "quickstart runs every mailauth package end to end: against in-process servers with no flags, or against Exchange Online with -tenant, -client-id and -mailbox.\nWith -serve it keeps the servers running for other programs and prints their settings.")
	}
	if err := cli.Parse(fs, args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if *serveLab {
		if fs.NArg() > 0 || f.Tenant != "" || f.ClientID != "" || f.AccessTokenFile != "" {
			fmt.Fprintln(stderr, "quickstart: -serve takes no -tenant, -client-id, -access-token-file or arguments: the lab has its own")
			return 2
		}
		if err := serve(ctx, stdout); err != nil {
			fmt.Fprintln(stderr, "quickstart:", err)
			return 1
		}
		return 0
	}
	timeout, err := time.ParseDuration(f.Timeout)
	if err != nil {
		fmt.Fprintln(stderr, "quickstart: -timeout:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if f.Tenant != "" || f.ClientID != "" || f.AccessTokenFile != "" {
		return runReal(ctx, f, stdout, stderr)
	}
	if err := runLab(ctx, f, *goroutines, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "quickstart:", err)
		return 1
	}
	return 0
}

// runLab is the default: everything in process.
func runLab(ctx context.Context, f *cli.Flags, goroutines int, stdout, stderr io.Writer) error {
	start := time.Now()
	l, err := lab.Start(lab.Options{IdPLatency: 20 * time.Millisecond})
	if err != nil {
		return err
	}
	defer l.Close()
	fmt.Fprintf(stdout, "mailauth quickstart: in-process Entra ID and IMAP, POP3, SMTP, EWS, EAS, Autodiscover and Microsoft Graph servers on loopback\n\n")

	var transcript io.Writer
	red := &redact.Redactor{}
	httpTransport := l.HTTPClient().Transport
	if f.Verbose {
		w := red.Writer(stderr)
		defer w.Flush()
		transcript = w
		httpTransport = cli.TranscriptTransport(httpTransport, w)
	}
	cache := tokencache.New(&tokencache.Options{HTTPClient: l.HTTPClient()})
	app, err := cache.AppOnly(tokencache.AppOnlyConfig{Cloud: l.Cloud, TenantID: lab.Tenant, ClientID: lab.AppClientID,
		Credential: tokencache.ClientSecret(l.AppSecret)})
	if err != nil {
		return err
	}
	user, err := cache.Delegated(tokencache.DelegatedConfig{Cloud: l.Cloud, TenantID: lab.Tenant, ClientID: lab.PublicClientID, Account: lab.User})
	if err != nil {
		return err
	}
	red.Add(l.AppSecret)
	if err := user.SignInDeviceCode(ctx, func(dc tokencache.DeviceCode) {
		fmt.Fprintf(stdout, "1. Delegated sign-in (device code): %s signs in with code %s (approved by the fake IdP)\n", lab.User, dc.UserCode)
	}); err != nil {
		return fmt.Errorf("device code sign-in: %w", err)
	}
	signInRequests := l.IdP.TotalRequests()

	// Many goroutines, one cache: the herd.
	appSrc := app.Source(l.Cloud.AppOnlyScope())
	userSrcs := map[cloud.Protocol]*tokencache.Source{}
	for _, p := range cloud.Protocols() {
		userSrcs[p] = user.Source(l.Cloud.DelegatedScopes(p)...)
	}
	// Graph tokens are for another resource: their own sources, from the same cache.
	userSrcs[cloud.Graph] = user.Source(l.Cloud.GraphDelegatedScopes()...)
	appGraph := app.Source(l.Cloud.GraphAppOnlyScope())
	before := l.IdP.TotalRequests()
	var wg sync.WaitGroup
	var mu sync.Mutex
	served, failed := 0, 0
	for i := 0; i < goroutines; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			src := appSrc
			if i%2 == 1 {
				src = userSrcs[cloud.Protocols()[i/2%len(cloud.Protocols())]]
			}
			_, err := src.TokenContext(ctx)
			mu.Lock()
			if err != nil {
				failed++
			} else {
				served++
			}
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	herdRequests := l.IdP.TotalRequests() - before
	fmt.Fprintf(stdout, "2. Token cache: %d goroutines asked at once for app-only and delegated tokens (6 keys): %d tokens served, %d token requests to Entra ID, %d failures\n",
		goroutines, served, herdRequests, failed)
	if failed > 0 {
		return fmt.Errorf("%d token requests failed", failed)
	}

	fmt.Fprintf(stdout, "3. Every protocol through the same cache:\n")
	delegated := doctor.Target{
		Mailbox:              lab.User,
		Cloud:                l.Cloud,
		IMAPAddr:             l.IMAP.Addr(),
		POPAddr:              l.POP.PlainAddr(),
		SMTPAddr:             l.SMTP.Addr(),
		EWSURL:               l.EWS.URL(),
		EASURL:               l.EAS.URL(),
		GraphURL:             l.Graph.URL(),
		DeviceID:             "quickstart0001",
		SendTestTo:           lab.User,
		Source:               func(p cloud.Protocol) oauth2.TokenSource { return userSrcs[p] },
		TLS:                  l.TLSConfig(),
		HTTP:                 httpTransport,
		AutodiscoverDial:     l.DialContext,
		AutodiscoverResolver: l.Autod,
		AllowedDomains:       []string{"127.0.0.1"},
		Transcript:           transcript,
	}
	results := doctor.Run(ctx, delegated, doctor.AllProtocols)
	shared := delegated
	shared.Mailbox = lab.Shared
	results = append(results, relabel(doctor.Run(ctx, shared, []string{doctor.IMAP}), "imap (shared mailbox "+lab.Shared+" with "+lab.User+"'s token)")...)
	appOnly := delegated
	appOnly.Mailbox = lab.Shared
	appOnly.AppOnly = true
	appOnly.Source = func(p cloud.Protocol) oauth2.TokenSource {
		if p == cloud.Graph {
			return appGraph
		}
		return appSrc
	}
	results = append(results, relabel(doctor.Run(ctx, appOnly, []string{doctor.EWS}), "ews (app-only, impersonating "+lab.Shared+")")...)
	results = append(results, relabel(doctor.Run(ctx, appOnly, []string{doctor.Graph}), "graph (app-only, /users/"+lab.Shared+")")...)

	ok := true
	for _, r := range results {
		status := "PASS"
		if !r.OK {
			status, ok = "FAIL", false
		}
		fmt.Fprintf(stdout, "   %-4s %-14s %s\n", status, r.Protocol, r.Detail)
		if !r.OK {
			fmt.Fprintf(stdout, "        cause: %s\n        fix:   %s\n", r.Cause, r.Fix)
		}
	}
	st := cache.Stats()
	sessions := len(results)
	total := l.IdP.TotalRequests()
	fmt.Fprintf(stdout, "\n4. Summary: %d protocol sessions and %d cache callers served with %d token requests in all (%d for the sign-in, %d for the herd); cache flights %d, background refreshes %d, failures %d; %s\n",
		sessions, goroutines, total, signInRequests, herdRequests, st.Flights, st.BackgroundRefreshes, st.Failures, time.Since(start).Round(time.Millisecond))
	names := make([]string, 0, len(results))
	for _, r := range results {
		names = append(names, strings.Fields(r.Protocol)[0])
	}
	fmt.Fprintf(stdout, "   protocols exercised: %s\n", strings.Join(unique(names), ", "))
	if err := basicAuthReport(ctx, l, appGraph, httpTransport, stdout); err != nil {
		fmt.Fprintf(stdout, "   FAIL basic-auth report: %v\n", err)
		ok = false
	}
	if !ok {
		return fmt.Errorf("some checks failed")
	}
	return nil
}

// basicAuthReport runs graph/report (what examples/basic-auth-report prints) against the
// lab's Graph sign-in log and usage report with the app-only Graph token.
func basicAuthReport(ctx context.Context, l *lab.Lab, src oauth2.TokenSource, tr http.RoundTripper, stdout io.Writer) error {
	c, err := graph.New(&graph.Options{Token: src, URL: l.Graph.URL(), Transport: tr})
	if err != nil {
		return err
	}
	rep, err := report.Run(ctx, c, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\n5. Who is still on basic auth (graph/report, as examples/basic-auth-report prints it): %d rows from the sign-in log and the usage report\n", len(rep.Rows))
	for _, s := range report.Summarize(rep.Rows) {
		fmt.Fprintf(stdout, "   %s\n", s)
	}
	return nil
}

func relabel(rs []doctor.Result, name string) []doctor.Result {
	for i := range rs {
		rs[i].Protocol = name
	}
	return rs
}

func unique(s []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// runReal runs the checks against Exchange Online (or the cloud chosen by -cloud).
func runReal(ctx context.Context, f *cli.Flags, stdout, stderr io.Writer) int {
	env, err := cli.Setup(f, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "quickstart:", err)
		return 2
	}
	if f.Mailbox == "" {
		fmt.Fprintln(stderr, "quickstart: -mailbox is required with -tenant/-client-id")
		return 2
	}
	if err := env.EnsureSignedIn(ctx); err != nil {
		fmt.Fprintln(stderr, "quickstart:", err)
		return 1
	}
	t := doctor.Target{Mailbox: f.Mailbox, AppOnly: env.AppOnly(), Cloud: env.Cloud, Source: env.Source,
		TLS: env.TLS, HTTP: env.HTTP.Transport, Logger: env.Logger,
		Progress: func(p string) { fmt.Fprintf(stderr, "checking %s...\n", p) }}
	if env.Transcript != nil {
		t.Transcript = env.Transcript
	}
	results := doctor.Run(ctx, t, doctor.AllProtocols)
	code := 0
	for _, r := range results {
		status := "PASS"
		if !r.OK {
			status, code = "FAIL", 1
		}
		fmt.Fprintln(stdout, env.Redactor.String(fmt.Sprintf("%-4s %-12s %s", status, r.Protocol, r.Detail)))
		if !r.OK {
			fmt.Fprintln(stdout, env.Redactor.String("     cause: "+r.Cause+"\n     fix:   "+r.Fix))
		}
	}
	return code
}
