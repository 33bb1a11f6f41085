package report_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth/graph"
	"github.com/modernauth/mailauth/graph/report"
	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/internal/fake/graphtest"
)

var (
	idpOnce sync.Once
	idpVal  *fakeidp.IdP
)

func sharedIdP() *fakeidp.IdP {
	idpOnce.Do(func() {
		var err error
		if idpVal, err = fakeidp.New(fakeidp.Options{}); err != nil {
			panic(err)
		}
	})
	return idpVal
}

func newServer(t *testing.T) *graphtest.Server {
	t.Helper()
	srv, err := graphtest.New(graphtest.Options{Verify: sharedIdP().Verify})
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	return srv
}

func client(t *testing.T, srv *graphtest.Server, roles ...string) *graph.Client {
	t.Helper()
	tok, err := sharedIdP().Mint(fakeidp.Claims{Audience: "https://graph.microsoft.com", TenantID: "contoso.test", AppID: "app1",
		Roles: roles, ExpiresAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	c, err := graph.New(&graph.Options{Token: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok}), URL: srv.URL(), Transport: srv.Transport()})
	require.NoError(t, err)
	return c
}

var now = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

type key struct{ user, proto string }
type count struct{ signIns, failures int }

// seed puts 3,000 sign-ins of the last 30 days in the log (7 users, 4 legacy client apps
// and the browser, every third a failure) plus older and modern ones to be left out, and
// returns the expected counts per user and protocol.
func seed(srv *graphtest.Server) map[key]count {
	users := []string{"u0@contoso.test", "u1@contoso.test", "u2@contoso.test", "u3@contoso.test", "u4@contoso.test", "u5@contoso.test", "u6@contoso.test"}
	apps := []struct{ client, proto string }{{"Authenticated SMTP", "SMTP"}, {"IMAP4", "IMAP"}, {"POP3", "POP"}, {"Exchange ActiveSync", "EAS"}, {"Browser", ""}}
	want := map[key]count{}
	var entries []graphtest.SignIn
	for i := range 3000 {
		u, a := users[i%len(users)], apps[i%len(apps)]
		e := graphtest.SignIn{Time: now.Add(-time.Duration(i) * 10 * time.Minute), User: u, App: "Office 365 Exchange Online", ClientApp: a.client}
		if i%3 == 0 {
			e.ErrorCode, e.FailureReason = 50126, "Invalid username or password."
		}
		entries = append(entries, e)
		if a.proto == "" {
			continue
		}
		c := want[key{u, a.proto}]
		c.signIns++
		if e.ErrorCode != 0 {
			c.failures++
		}
		want[key{u, a.proto}] = c
	}
	// Outside the 30 days, and a modern client: not in the report.
	entries = append(entries, graphtest.SignIn{Time: now.Add(-31 * 24 * time.Hour), User: "old@contoso.test", ClientApp: "IMAP4"},
		graphtest.SignIn{Time: now.Add(-time.Hour), User: "modern@contoso.test", ClientApp: "Mobile Apps and Desktop clients"})
	srv.AddSignIns(entries...)
	return want
}

func seedUsage(srv *graphtest.Server) {
	srv.SetEmailAppUsage(
		graphtest.EmailAppUsage{User: "printer@contoso.test", SMTP: true, LastActivity: time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)},
		graphtest.EmailAppUsage{User: "u1@contoso.test", IMAP4: true, POP3: true, OutlookForWeb: true, LastActivity: time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)},
		graphtest.EmailAppUsage{User: "web@contoso.test", OutlookForWeb: true, LastActivity: time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)},
		graphtest.EmailAppUsage{User: "gone@contoso.test", SMTP: true, Deleted: true},
	)
}

// Acceptance 1: three pages of sign-ins with a 429 between the first and the second give
// the right counts per user and protocol; the usage CSV comes through its redirect and the
// download host never sees an Authorization header.
func TestRunCountsThroughPagesAndThrottling(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	want := seed(srv)
	seedUsage(srv)
	srv.ThrottleSignInPage(2, time.Second)
	c := client(t, srv, "AuditLog.Read.All", "Reports.Read.All")
	var pages []int
	start := time.Now()
	rep, err := report.Run(t.Context(), c, &report.Options{Now: now, Progress: func(p, n int) { pages = append(pages, p, n) }})
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(start), time.Second, "the 429's Retry-After was not waited out")
	assert.Equal(t, []report.Source{report.SignIns, report.Usage}, rep.Read)
	assert.Equal(t, []int{1, 1000, 2, 2000, 3, 2400}, pages, "progress per page")

	var statuses []string
	for _, r := range srv.Requests() {
		statuses = append(statuses, fmt.Sprintf("%s %d", r.Path, r.Status))
	}
	assert.Equal(t, []string{
		"/v1.0/auditLogs/signIns 200", "/v1.0/auditLogs/signIns 429", "/v1.0/auditLogs/signIns 200", "/v1.0/auditLogs/signIns 200",
		"/v1.0/reports/getEmailAppUsageUserDetail(period='D30') 302", "/data/download/(token) 200",
	}, statuses)
	n, withAuth := srv.Downloads()
	assert.Equal(t, 1, n)
	assert.Zero(t, withAuth, "the download host saw an Authorization header")

	got := map[key]count{}
	for _, r := range rep.Rows {
		if r.Source != report.SignIns {
			continue
		}
		_, dup := got[key{r.User, r.Protocol}]
		assert.False(t, dup, "two rows for %s %s", r.User, r.Protocol)
		got[key{r.User, r.Protocol}] = count{r.SignIns, r.Failures}
		assert.Equal(t, "Office 365 Exchange Online", r.App)
	}
	assert.Equal(t, want, got)
	// One spelled out: u0 signs in at i = 0, 35, 70, ... (i%7 == 0 and i%5 == 0) with
	// Authenticated SMTP: 86 times up to 2975; failures where i%3 == 0 too (i%105 == 0): 29.
	assert.Equal(t, count{86, 29}, got[key{"u0@contoso.test", "SMTP"}])

	var usage []string
	for _, r := range rep.Rows {
		if r.Source == report.Usage {
			usage = append(usage, r.User+" "+r.Protocol+" "+r.ClientApp+" "+r.LastSeen.Format("2006-01-02"))
		}
	}
	assert.ElementsMatch(t, []string{"printer@contoso.test SMTP SMTP App 2026-12-04", "u1@contoso.test IMAP IMAP4 App 2026-12-05",
		"u1@contoso.test POP POP3 App 2026-12-05"}, usage)

	for i := 1; i < len(rep.Rows); i++ {
		assert.False(t, rep.Rows[i].LastSeen.After(rep.Rows[i-1].LastSeen), "rows not sorted by last seen")
	}
	sum := report.Summarize(rep.Rows)
	require.NotEmpty(t, sum)
	// SMTP: the 7 users of the log (every one has successes) and the printer of the usage report.
	assert.Equal(t, "SMTP: 8 users, 7 still succeeding with basic auth", sum[0].String())
}

// Acceptance 1: a tenant without Entra ID P1 (403) gives a clear error and the usage source
// still reports; so does a token without AuditLog.Read.All.
func TestRunSignInsRefusedUsageStillReports(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	seed(srv)
	seedUsage(srv)
	srv.SetEntraP1(false)
	rep, err := report.Run(t.Context(), client(t, srv, "AuditLog.Read.All", "Reports.Read.All"), &report.Options{Now: now})
	require.Error(t, err)
	var se *report.SourceError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, report.SignIns, se.Source)
	assert.ErrorIs(t, err, graph.ErrAccessDenied)
	assert.Contains(t, err.Error(), "sign-in logs: ")
	assert.Contains(t, err.Error(), "Microsoft Entra ID P1 or P2")
	assert.Equal(t, []report.Source{report.Usage}, rep.Read)
	assert.Len(t, rep.Rows, 3)

	srv.SetEntraP1(true)
	rep, err = report.Run(t.Context(), client(t, srv, "Reports.Read.All"), &report.Options{Now: now})
	require.ErrorAs(t, err, &se)
	assert.Contains(t, err.Error(), "AuditLog.Read.All")
	assert.Len(t, rep.Rows, 3)

	// Both refused: both errors, no rows.
	rep, err = report.Run(t.Context(), client(t, srv, "Mail.Read"), &report.Options{Now: now})
	assert.ErrorContains(t, err, "AuditLog.Read.All")
	assert.ErrorContains(t, err, "Reports.Read.All")
	assert.Empty(t, rep.Rows)

	// One source only.
	rep, err = report.Run(t.Context(), client(t, srv, "Reports.Read.All"), &report.Options{Now: now, Sources: []report.Source{report.Usage}})
	require.NoError(t, err)
	assert.Len(t, rep.Rows, 3)
}

// splitTable splits the aligned table on runs of two or more spaces.
func splitTable(t *testing.T, s string) [][]string {
	t.Helper()
	re := regexp.MustCompile(` {2,}`)
	var out [][]string
	for _, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		f := re.Split(strings.TrimRight(line, " "), -1)
		for i := range f {
			if f[i] == "-" {
				f[i] = ""
			}
		}
		out = append(out, f)
	}
	return out
}

// Acceptance 2: the table, the CSV and the JSON carry the same rows.
func TestOutputsCarrySameRows(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	seed(srv)
	seedUsage(srv)
	rep, err := report.Run(t.Context(), client(t, srv, "AuditLog.Read.All", "Reports.Read.All"), &report.Options{Now: now})
	require.NoError(t, err)
	require.Len(t, rep.Rows, 7*4+3)

	var want [][]string
	want = append(want, report.Columns())
	for i := range rep.Rows {
		want = append(want, rep.Rows[i].Fields())
	}

	var tb, cb, jb bytes.Buffer
	require.NoError(t, report.WriteTable(&tb, rep.Rows))
	require.NoError(t, report.WriteCSV(&cb, rep.Rows))
	require.NoError(t, report.WriteJSON(&jb, rep.Rows))

	table := splitTable(t, tb.String())
	for i := range table[0] {
		table[0][i] = strings.ToLower(table[0][i])
	}
	assert.Equal(t, want, table)

	recs, err := csv.NewReader(&cb).ReadAll()
	require.NoError(t, err)
	assert.Equal(t, want, recs)

	var doc struct {
		Rows []map[string]any `json:"rows"`
	}
	require.NoError(t, json.Unmarshal(jb.Bytes(), &doc))
	var fromJSON [][]string
	fromJSON = append(fromJSON, report.Columns())
	for _, r := range doc.Rows {
		assert.Len(t, r, 8)
		var f []string
		for _, k := range report.Columns() {
			switch v := r[k].(type) {
			case string:
				f = append(f, v)
			case float64:
				f = append(f, fmt.Sprint(v))
			default:
				t.Fatalf("key %q has %T", k, v)
			}
		}
		fromJSON = append(fromJSON, f)
	}
	assert.Equal(t, want, fromJSON)

	var empty bytes.Buffer
	require.NoError(t, report.WriteJSON(&empty, nil))
	assert.JSONEq(t, `{"rows":[]}`, empty.String())
}

// Acceptance 2: RFC 4180 quoting that a spreadsheet opens: CRLF records, fields with
// commas, quotes and line breaks quoted with quotes doubled, formulas defused.
func TestCSVQuoting(t *testing.T) {
	t.Parallel()
	rows := []report.Row{
		{User: "a@contoso.test", Protocol: "SMTP", ClientApp: "Authenticated SMTP", App: `Scanner, "3rd floor"`, SignIns: 2, Failures: 1,
			LastSeen: now, Source: report.SignIns},
		{User: "b@contoso.test", Protocol: "IMAP", ClientApp: "IMAP4", App: "line one\nline two", Source: report.SignIns},
		{User: "c@contoso.test", Protocol: "POP", ClientApp: "POP3", App: "=HYPERLINK(\"http://x\")", Source: report.SignIns},
	}
	var b bytes.Buffer
	require.NoError(t, report.WriteCSV(&b, rows))
	s := b.String()
	assert.True(t, strings.HasPrefix(s, "user,protocol,client_app,app,sign_ins,failures,last_seen,source\r\n"), s)
	assert.Contains(t, s, "\r\na@contoso.test,SMTP,Authenticated SMTP,\"Scanner, \"\"3rd floor\"\"\",2,1,2026-12-06T12:00:00Z,signins\r\n")
	assert.Contains(t, s, "\"line one\r\nline two\"")
	assert.Contains(t, s, `,"'=HYPERLINK(""http://x"")",`)
	assert.True(t, strings.HasSuffix(s, "\r\n"))
	recs, err := csv.NewReader(strings.NewReader(s)).ReadAll()
	require.NoError(t, err)
	require.Len(t, recs, 4)
	assert.Equal(t, `Scanner, "3rd floor"`, recs[1][3])
	assert.Equal(t, "line one\nline two", recs[2][3])

	// The table never passes a control character to the terminal.
	var tb bytes.Buffer
	require.NoError(t, report.WriteTable(&tb, []report.Row{{User: "x\x1b[31m@contoso.test", Protocol: "SMTP"}}))
	assert.NotContains(t, tb.String(), "\x1b")
}

func TestParseEmailAppUsage(t *testing.T) {
	t.Parallel()
	in := "\ufeffReport Refresh Date,User Principal Name,Display Name,Is Deleted,Deleted Date,Last Activity Date,Mail For Mac,Outlook For Mac,Outlook For Windows,Outlook For Mobile,Other For Mobile,Outlook For Web,POP3 App,IMAP4 App,SMTP App,Report Period\r\n" +
		"2026-12-05,a@contoso.test,A,False,,2026-12-04,,,Yes,,,,,,Yes,30\r\n" +
		"2026-12-05,b@contoso.test,B,False,,,,,,,,,Yes,Yes,,30\r\n" +
		"2026-12-05,c@contoso.test,C,True,2026-12-01,2026-11-30,,,,,,,,,Yes,30\r\n" +
		"2026-12-05,,,False,,,,,,,,,,,Yes,30\r\n" +
		"2026-12-05,d@contoso.test\r\n"
	rows, err := report.ParseEmailAppUsage(strings.NewReader(in))
	require.NoError(t, err)
	require.Len(t, rows, 3)
	assert.Equal(t, report.Row{User: "a@contoso.test", Protocol: "SMTP", ClientApp: "SMTP App", LastSeen: time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC), Source: report.Usage}, rows[0])
	assert.Equal(t, "IMAP", rows[1].Protocol)
	assert.Equal(t, "POP", rows[2].Protocol)
	assert.True(t, rows[1].LastSeen.IsZero())

	for _, bad := range []string{"", "a,b\r\n1,2\r\n", "User Principal Name\r\n\"unterminated\r\n"} {
		_, err := report.ParseEmailAppUsage(strings.NewReader(bad))
		assert.Error(t, err, "%q", bad)
	}
	assert.True(t, errors.Is(nil, nil))
}

func FuzzParseEmailAppUsage(f *testing.F) {
	f.Add("User Principal Name,SMTP App,Last Activity Date\r\na@b,Yes,2026-12-01\r\n")
	f.Add("\ufeffUser Principal Name,POP3 App\na,\"Yes\"\n")
	f.Fuzz(func(t *testing.T, in string) {
		rows, _ := report.ParseEmailAppUsage(strings.NewReader(in))
		for _, r := range rows {
			if r.User == "" || r.Source != report.Usage {
				t.Fatalf("bad row %+v", r)
			}
		}
	})
}
