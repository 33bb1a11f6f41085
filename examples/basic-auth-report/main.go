// Command basic-auth-report lists who still signs in to Exchange Online with basic
// authentication (a password instead of an OAuth token): one row per user and protocol,
// with the client app, the app name, sign-ins, failures, when last seen and the source,
// newest first, then a summary line per protocol ("SMTP: 12 users, 3 still succeeding
// with basic auth"). SMTP AUTH with basic authentication is disabled by default at the end
// of December 2026: the SMTP rows with successful sign-ins are what breaks.
//
//	MAILAUTH_CLIENT_SECRET=... basic-auth-report -tenant contoso.onmicrosoft.com -client-id ID
//	basic-auth-report -tenant T -client-id ID -device-code -user admin@contoso.com -csv > basic-auth.csv
//	basic-auth-report -access-token-file tok.txt -source usage -json
//
// Sources (-source signins|usage|both, default both):
//   - signins: the Microsoft Entra sign-in log of the last -days days (default 30), filtered
//     on the legacy client apps. Needs AuditLog.Read.All and a tenant with Microsoft Entra
//     ID P1 or P2; without them the program says so and still prints the usage rows.
//   - usage: the email app usage report (getEmailAppUsageUserDetail, the shortest of D7,
//     D30, D90 and D180 covering -days): users of POP3, IMAP4 and SMTP apps, whatever their
//     authentication. Needs Reports.Read.All and no P1.
//
// The token comes from the common flags (-h lists them): app-only (-client-secret-env or
// -cert) with the application permissions AuditLog.Read.All and Reports.Read.All, or a
// delegated sign-in (asking for those scopes) by a user in a role such as Reports Reader.
//
// Output: an aligned table with the summary (default), -csv (RFC 4180) or -json
// ({"rows":[{"user","protocol","client_app","app","sign_ins","failures","last_seen",
// "source"}]}) on stdout, the summary on stderr for those two. Progress goes to stderr. The
// exit status is 0 when every source was read, 1 when one failed (the other's rows are
// still printed) and 2 for bad flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	"github.com/modernauth/mailauth/graph"
	"github.com/modernauth/mailauth/graph/report"
	"github.com/modernauth/mailauth/internal/tool/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("basic-auth-report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := cli.Register(fs)
	// A month of sign-in logs of a large tenant takes longer than the common default.
	f.Timeout = "30m"
	fs.Lookup("timeout").DefValue = "30m"
	days := fs.Int("days", 30, "the period: the last `N` days (the sign-in log keeps 30 days; the usage report up to 180)")
	graphURL := fs.String("graph-url", "", "Microsoft Graph endpoint `URL` without version (default: the cloud's, e.g. https://graph.microsoft.com)")
	source := fs.String("source", "both", "what to read: signins (the sign-in log, needs Entra ID P1), usage (the email app usage report) or both")
	asCSV := fs.Bool("csv", false, "print CSV (RFC 4180) instead of the table")
	asJSON := fs.Bool("json", false, `print JSON {"rows":[...]} instead of the table`)
	fs.Usage = func() {
		cli.Usage(fs, stderr, "basic-auth-report [flags]: who still signs in to Exchange Online with basic auth, per user and protocol, from the Entra sign-in log and the email app usage report.")
	}
	if err := cli.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	sources, err := parseSource(*source)
	if err != nil {
		fmt.Fprintln(stderr, "basic-auth-report:", err)
		return 2
	}
	if *asCSV && *asJSON {
		fmt.Fprintln(stderr, "basic-auth-report: -csv and -json exclude each other")
		return 2
	}
	if *days < 1 || *days > 180 {
		fmt.Fprintln(stderr, "basic-auth-report: -days must be between 1 and 180")
		return 2
	}
	timeout, err := time.ParseDuration(f.Timeout)
	if err != nil {
		fmt.Fprintln(stderr, "basic-auth-report: -timeout:", err)
		return 2
	}
	env, err := cli.Setup(f, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "basic-auth-report:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := env.EnsureSignedIn(ctx); err != nil {
		fmt.Fprintln(stderr, "basic-auth-report:", env.Redactor.String(err.Error()))
		return 1
	}
	c, err := graph.New(&graph.Options{URL: *graphURL, Cloud: env.Cloud, Token: env.GraphSource("AuditLog.Read.All", "Reports.Read.All"),
		Transport: env.HTTP.Transport, Logger: env.Logger})
	if err != nil {
		fmt.Fprintln(stderr, "basic-auth-report:", err)
		return 2
	}
	format := "table"
	switch {
	case *asCSV:
		format = "csv"
	case *asJSON:
		format = "json"
	}
	return printReport(ctx, c, &report.Options{Days: *days, Sources: sources}, format, stdout, stderr, env.Redactor.String)
}

func parseSource(s string) ([]report.Source, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "both", "":
		return []report.Source{report.SignIns, report.Usage}, nil
	case "signins", "sign-ins":
		return []report.Source{report.SignIns}, nil
	case "usage":
		return []report.Source{report.Usage}, nil
	}
	return nil, fmt.Errorf("-source %q: want signins, usage or both", s)
}

// printReport runs the report through c and prints it in format (table, csv or json); it
// returns the exit status. redact cleans error text (nil: as is).
func printReport(ctx context.Context, c *graph.Client, opts *report.Options, format string, stdout, stderr io.Writer, redact func(string) string) int {
	if redact == nil {
		redact = func(s string) string { return s }
	}
	o := *opts
	prog := newProgress(stderr)
	o.Progress = prog.page
	rep, err := report.Run(ctx, c, &o)
	prog.done()
	var perr error
	switch format {
	case "csv":
		perr = report.WriteCSV(stdout, rep.Rows)
	case "json":
		perr = report.WriteJSON(stdout, rep.Rows)
	default:
		perr = report.WriteTable(stdout, rep.Rows)
		if perr == nil && len(rep.Rows) > 0 {
			fmt.Fprintln(stdout)
		}
	}
	if perr != nil {
		fmt.Fprintln(stderr, "basic-auth-report:", perr)
		return 1
	}
	sum := stdout
	if format != "table" {
		sum = stderr
	}
	if len(rep.Rows) == 0 && len(rep.Read) > 0 {
		fmt.Fprintf(sum, "no basic-auth client found since %s\n", rep.Since.Format("2006-01-02"))
	}
	report.WriteSummary(sum, rep.Rows)
	code := 0
	if err != nil {
		code = 1
		for _, e := range unjoin(err) {
			fmt.Fprintln(stderr, "basic-auth-report:", redact(e.Error()))
		}
	}
	if !slices.Contains(rep.Read, report.SignIns) && len(rep.Read) > 0 {
		fmt.Fprintln(stderr, "note: without the sign-in log the report cannot tell basic from OAuth: the usage rows show who uses POP3, IMAP4 and SMTP apps at all, and \"still succeeding\" counts only sign-in rows")
	}
	return code
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// progress shows the pages of the sign-in log as they arrive: one line rewritten in place
// on a terminal, a line per page otherwise.
type progress struct {
	w     io.Writer
	tty   bool
	shown bool
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progress) page(pages, signIns int) {
	line := fmt.Sprintf("sign-in log: page %d, %d legacy sign-ins", pages, signIns)
	if p.tty {
		fmt.Fprintf(p.w, "\r%s", line)
	} else {
		fmt.Fprintln(p.w, line)
	}
	p.shown = true
}

func (p *progress) done() {
	if p.tty && p.shown {
		fmt.Fprintln(p.w)
	}
}
