// Package report lists who still signs in to Exchange Online with basic authentication
// (a password rather than an OAuth token), per user and protocol, from two Microsoft Graph
// sources:
//
//   - the Microsoft Entra sign-in log (auditLogs/signIns), filtered on the legacy client
//     apps (Authenticated SMTP, IMAP4, POP3, Exchange ActiveSync, ...): who, which app,
//     how many sign-ins and failures, when last. It needs AuditLog.Read.All and a tenant
//     with Microsoft Entra ID P1 or P2.
//   - the email app usage report (reports/getEmailAppUsageUserDetail): who used POP3,
//     IMAP4 or SMTP at all in the period, whatever the authentication. It needs
//     Reports.Read.All and no P1.
//
// [Run] reads both through a [graph.Client] (paging, throttling and the token-free report
// download are the client's), and the [Report] it returns prints as an aligned table, CSV
// (RFC 4180) or JSON, with a summary line per protocol. A source that fails (a tenant
// without P1 answers 403 to the sign-in log) leaves the other's rows in the report and its
// error in the one returned.
//
// End of December 2026 Exchange Online disables SMTP AUTH with basic authentication by
// default: the SMTP rows with successful sign-ins are the senders that break. POP3 and
// IMAP4 already refuse basic authentication; their rows are failing clients (or, from the
// usage report, clients that may already use OAuth).
package report

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/modernauth/mailauth/graph"
)

// Source names where a row comes from.
type Source string

// The sources of a report.
const (
	SignIns Source = "signins" // the Microsoft Entra sign-in log
	Usage   Source = "usage"   // the email app usage report
)

// Row is one user and protocol seen in one source.
type Row struct {
	User      string    // user principal name
	Protocol  string    // SMTP, IMAP, POP, EAS, EWS, MAPI, RPC, ...
	ClientApp string    // clientAppUsed ("Authenticated SMTP"), or the usage column ("SMTP App")
	App       string    // appDisplayName(s), "; "-joined; empty from the usage report
	SignIns   int       // sign-ins in the period; 0 from the usage report
	Failures  int       // of which failed (status.errorCode not 0)
	LastSeen  time.Time // the last sign-in, or the usage report's Last Activity Date (any app)
	Source    Source
}

// Succeeding reports whether the row has successful sign-ins: a client that still gets in
// with basic authentication.
func (r *Row) Succeeding() bool { return r.SignIns > r.Failures }

// Options shape [Run]. A nil *Options reads both sources for the last 30 days.
type Options struct {
	// Days is the period, counted back from Now; zero means 30. The usage report's period
	// is the shortest of D7, D30, D90 and D180 that covers it.
	Days int
	// Sources to read; nil means both.
	Sources []Source
	// ClientApps are the clientAppUsed values kept from the sign-in log; nil means
	// graph.LegacyClientApps().
	ClientApps []string
	// Now is the end of the period; zero means time.Now().
	Now time.Time
	// Progress, when set, is called after each page of the sign-in log.
	Progress func(pages, signIns int)
}

// SourceError is the failure of one source; the report still holds the other's rows.
type SourceError struct {
	Source Source
	Err    error
}

// Error names the source and its error.
func (e *SourceError) Error() string {
	what := "sign-in logs"
	if e.Source == Usage {
		what = "usage report"
	}
	return what + ": " + e.Err.Error()
}

// Unwrap returns the source's error (a *graph.Error for Graph's refusals).
func (e *SourceError) Unwrap() error { return e.Err }

// Report is what [Run] found.
type Report struct {
	Rows  []Row     // sorted by last seen, newest first
	Since time.Time // start of the period
	Read  []Source  // the sources read successfully
}

// Run reads the sources through c (whose Mailbox plays no part) and returns the report.
// When a source fails the report still holds the other's rows and the error is a
// *SourceError (errors.Join of two when both failed).
func Run(ctx context.Context, c *graph.Client, opts *Options) (*Report, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Days <= 0 {
		o.Days = 30
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.Sources == nil {
		o.Sources = []Source{SignIns, Usage}
	}
	if o.ClientApps == nil {
		o.ClientApps = graph.LegacyClientApps()
	}
	rep := &Report{Since: o.Now.Add(-time.Duration(o.Days) * 24 * time.Hour).UTC().Truncate(time.Second)}
	var errs []error
	for _, src := range o.Sources {
		var rows []Row
		var err error
		switch src {
		case SignIns:
			rows, err = readSignIns(ctx, c, rep.Since, &o)
		case Usage:
			rows, err = readUsage(ctx, c, period(o.Days))
		default:
			err = fmt.Errorf("unknown source %q (want %q or %q)", src, SignIns, Usage)
		}
		if err != nil {
			errs = append(errs, &SourceError{Source: src, Err: err})
			continue
		}
		rep.Read = append(rep.Read, src)
		rep.Rows = append(rep.Rows, rows...)
	}
	Sort(rep.Rows)
	return rep, errors.Join(errs...)
}

// period is the usage report period covering days.
func period(days int) string {
	switch {
	case days <= 7:
		return "D7"
	case days <= 30:
		return "D30"
	case days <= 90:
		return "D90"
	}
	return "D180"
}

// Sort orders rows by last seen, newest first, then user, protocol and source.
func Sort(rows []Row) {
	slices.SortStableFunc(rows, func(a, b Row) int {
		if c := b.LastSeen.Compare(a.LastSeen); c != 0 {
			return c
		}
		if c := cmp.Compare(strings.ToLower(a.User), strings.ToLower(b.User)); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Protocol, b.Protocol); c != 0 {
			return c
		}
		return cmp.Compare(a.Source, b.Source)
	})
}

// Protocol returns the short protocol name of a clientAppUsed value of the sign-in log
// ("Authenticated SMTP" is SMTP, "IMAP4" IMAP); an unknown value is returned as is.
func Protocol(clientAppUsed string) string {
	switch strings.ToLower(strings.TrimSpace(clientAppUsed)) {
	case "authenticated smtp", "smtp":
		return "SMTP"
	case "imap4", "imap":
		return "IMAP"
	case "pop3", "pop":
		return "POP"
	case "exchange activesync":
		return "EAS"
	case "exchange web services":
		return "EWS"
	case "autodiscover":
		return "Autodiscover"
	case "mapi over http", "mapi":
		return "MAPI"
	case "offline address book":
		return "OAB"
	case "outlook anywhere (rpc over http)":
		return "RPC"
	case "exchange online powershell":
		return "PowerShell"
	case "reporting web services":
		return "Reporting"
	case "universal outlook", "outlook service":
		return "Outlook Service"
	case "other clients":
		return "Other"
	}
	return strings.TrimSpace(clientAppUsed)
}

// readSignIns aggregates the sign-in log per user and protocol.
func readSignIns(ctx context.Context, c *graph.Client, since time.Time, o *Options) ([]Row, error) {
	type acc struct {
		row        Row
		clientApps []string
		apps       []string
	}
	byKey := map[string]*acc{}
	var order []string
	for s, err := range c.SignIns(ctx, &graph.SignInOptions{Since: since, ClientApps: o.ClientApps, Progress: o.Progress}) {
		if err != nil {
			return nil, err
		}
		user := firstNonEmpty(s.UserPrincipalName, s.UserDisplayName, s.UserID, "(unknown user)")
		proto := Protocol(s.ClientAppUsed)
		k := strings.ToLower(user) + "\x00" + proto
		a := byKey[k]
		if a == nil {
			a = &acc{row: Row{User: user, Protocol: proto, Source: SignIns}}
			byKey[k] = a
			order = append(order, k)
		}
		a.row.SignIns++
		if !s.Succeeded() {
			a.row.Failures++
		}
		if s.CreatedDateTime.After(a.row.LastSeen) {
			a.row.LastSeen = s.CreatedDateTime.UTC()
		}
		if s.ClientAppUsed != "" && !slices.Contains(a.clientApps, s.ClientAppUsed) {
			a.clientApps = append(a.clientApps, s.ClientAppUsed)
		}
		if s.AppDisplayName != "" && !slices.Contains(a.apps, s.AppDisplayName) {
			a.apps = append(a.apps, s.AppDisplayName)
		}
	}
	rows := make([]Row, 0, len(order))
	for _, k := range order {
		a := byKey[k]
		slices.Sort(a.clientApps)
		slices.Sort(a.apps)
		a.row.ClientApp = strings.Join(a.clientApps, "; ")
		a.row.App = strings.Join(a.apps, "; ")
		rows = append(rows, a.row)
	}
	return rows, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// readUsage downloads and parses the email app usage report.
func readUsage(ctx context.Context, c *graph.Client, period string) ([]Row, error) {
	rc, err := c.UsageReport(ctx, "getEmailAppUsageUserDetail", period)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return ParseEmailAppUsage(rc)
}

// Summary is one protocol's line of the summary.
type Summary struct {
	Protocol   string
	Users      int // distinct users with a row of this protocol, in any source
	Succeeding int // of which have successful sign-ins in the sign-in log
}

// String is "SMTP: 12 users, 3 still succeeding with basic auth".
func (s Summary) String() string {
	users := "users"
	if s.Users == 1 {
		users = "user"
	}
	return fmt.Sprintf("%s: %d %s, %d still succeeding with basic auth", s.Protocol, s.Users, users, s.Succeeding)
}

// Summarize returns a line per protocol: SMTP, IMAP and POP first, then the others by name.
func Summarize(rows []Row) []Summary {
	users := map[string]map[string]bool{}
	ok := map[string]map[string]bool{}
	for _, r := range rows {
		u := strings.ToLower(r.User)
		if users[r.Protocol] == nil {
			users[r.Protocol], ok[r.Protocol] = map[string]bool{}, map[string]bool{}
		}
		users[r.Protocol][u] = true
		if r.Source == SignIns && r.Succeeding() {
			ok[r.Protocol][u] = true
		}
	}
	out := make([]Summary, 0, len(users))
	for p, set := range users {
		out = append(out, Summary{Protocol: p, Users: len(set), Succeeding: len(ok[p])})
	}
	rank := func(p string) int {
		if i := slices.Index([]string{"SMTP", "IMAP", "POP"}, p); i >= 0 {
			return i
		}
		return 3
	}
	slices.SortFunc(out, func(a, b Summary) int {
		if c := cmp.Compare(rank(a.Protocol), rank(b.Protocol)); c != 0 {
			return c
		}
		return cmp.Compare(a.Protocol, b.Protocol)
	})
	return out
}
