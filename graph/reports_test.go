package graph_test

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/graph"
	"github.com/modernauth/mailauth/internal/fake/graphtest"
)

func seedSignIns(srv *graphtest.Server, now time.Time) {
	apps := []string{"Authenticated SMTP", "IMAP4", "POP3", "Browser", "Mobile Apps and Desktop clients"}
	for i := range 40 {
		srv.AddSignIns(graphtest.SignIn{Time: now.Add(-time.Duration(i) * time.Hour), User: "u" + string(rune('a'+i%5)) + "@contoso.test",
			App: "Office 365 Exchange Online", ClientApp: apps[i%len(apps)]})
	}
	// Older than the window.
	srv.AddSignIns(graphtest.SignIn{Time: now.Add(-60 * 24 * time.Hour), User: "old@contoso.test", ClientApp: "IMAP4"})
}

// Three pages with a 429 before the second: every matching entry once, the wait honoured,
// the filter sent as Graph takes it, progress per page.
func TestSignInsPagesFilterAndThrottling(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphtest.Options{})
	now := time.Now().UTC().Truncate(time.Second)
	seedSignIns(e.srv, now)
	e.srv.ThrottleSignInPage(2, time.Second)
	c := e.client(t, e.token(t, graphA, "", nil, []string{"AuditLog.Read.All"}), "", nil)
	var progress []int
	opts := &graph.SignInOptions{Since: now.Add(-30 * 24 * time.Hour), ClientApps: []string{"Authenticated SMTP", "IMAP4", "POP3"}, Top: 10,
		Progress: func(pages, n int) { progress = append(progress, pages, n) }}
	start := time.Now()
	var got []*graph.SignIn
	for s, err := range c.SignIns(t.Context(), opts) {
		require.NoError(t, err)
		got = append(got, s)
	}
	assert.GreaterOrEqual(t, time.Since(start), time.Second, "Retry-After not waited out")
	assert.Len(t, got, 24) // 3 of every 5 of 40
	assert.Equal(t, []int{1, 10, 2, 20, 3, 24}, progress)
	assert.Equal(t, []int{200, 429, 200, 200}, e.statuses())
	for _, s := range got {
		assert.Contains(t, []string{"Authenticated SMTP", "IMAP4", "POP3"}, s.ClientAppUsed)
		assert.True(t, s.Succeeded())
		assert.NotEmpty(t, s.ID)
	}
	assert.True(t, got[0].CreatedDateTime.Equal(now), "newest first")
	first := e.srv.Requests()[0]
	assert.Equal(t, "/v1.0/auditLogs/signIns", first.Path)
	assert.Contains(t, first.Query, "$filter=createdDateTime%20ge%20")
	assert.Contains(t, first.Query, "clientAppUsed%20eq%20%27Authenticated%20SMTP%27%20or%20")
	assert.Equal(t, "createdDateTime ge 2026-11-06T00:00:00Z and (clientAppUsed eq 'IMAP4' or clientAppUsed eq 'O''Brien')",
		graph.SignInFilter(time.Date(2026, 11, 6, 1, 0, 0, 0, time.FixedZone("x", 3600)), []string{"IMAP4", "O'Brien"}))
}

// A tenant without Entra ID P1, and a token without AuditLog.Read.All: 403 with a hint that
// names what is missing.
func TestSignInsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphtest.Options{})
	c := e.client(t, e.token(t, graphA, "", nil, []string{"Reports.Read.All"}), "", nil)
	err := firstErr(c.SignIns(t.Context(), nil))
	require.ErrorIs(t, err, graph.ErrAccessDenied)
	assert.Contains(t, err.Error(), "AuditLog.Read.All")

	e.srv.SetEntraP1(false)
	c = e.client(t, e.token(t, graphA, "", nil, []string{"AuditLog.Read.All"}), "", nil)
	err = firstErr(c.SignIns(t.Context(), nil))
	require.ErrorIs(t, err, graph.ErrAccessDenied)
	var ge *graph.Error
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, graph.CodeNonPremiumTenant, ge.Code)
	assert.Contains(t, ge.Hint(), "P1 or P2")
}

func firstErr(seq func(func(*graph.SignIn, error) bool)) error {
	for _, err := range seq {
		if err != nil {
			return err
		}
	}
	return nil
}

// The report's 302 is followed to the download host with no Authorization header, and the
// download URL (its path is the credential) appears in no log line.
func TestUsageReportRedirectWithoutToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphtest.Options{})
	e.srv.SetEmailAppUsage(graphtest.EmailAppUsage{User: "a@contoso.test", SMTP: true, LastActivity: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)})
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := e.client(t, e.token(t, graphA, "", nil, []string{"Reports.Read.All"}), "", func(o *graph.Options) { o.Logger = log })
	rc, err := c.UsageReport(t.Context(), "getEmailAppUsageUserDetail", "D30")
	require.NoError(t, err)
	data, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	assert.Contains(t, string(data), "User Principal Name")
	assert.Contains(t, string(data), "a@contoso.test")
	n, withAuth := e.srv.Downloads()
	assert.Equal(t, 1, n)
	assert.Equal(t, 0, withAuth, "the bearer token went to the download host")
	reqs := e.srv.Requests()
	require.Len(t, reqs, 2)
	assert.True(t, reqs[0].Authorization)
	assert.Equal(t, 302, reqs[0].Status)
	assert.Equal(t, "/v1.0/reports/getEmailAppUsageUserDetail(period='D30')", reqs[0].Path)
	assert.NotEqual(t, reqs[0].Host, reqs[1].Host)
	assert.False(t, reqs[1].Authorization)
	assert.NotContains(t, logs.String(), "/data/download/")

	_, err = c.UsageReport(t.Context(), "getEmailAppUsageUserDetail", "D31")
	assert.ErrorContains(t, err, "D7, D30, D90 or D180")
	_, err = c.UsageReport(t.Context(), "../me", "D30")
	assert.Error(t, err)

	c = e.client(t, e.token(t, graphA, "", nil, []string{"AuditLog.Read.All"}), "", nil)
	_, err = c.UsageReport(t.Context(), "getEmailAppUsageUserDetail", "D7")
	require.ErrorIs(t, err, graph.ErrAccessDenied)
	assert.True(t, strings.Contains(err.Error(), "Reports.Read.All"), err.Error())
}

// A redirect to plain http is not followed (its path is a credential), a nextLink off the
// Graph host is not followed (it would carry the token), and a filter Graph refuses is a
// 400 *Error.
func TestReportLinksRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, graphtest.Options{})
	c := e.client(t, e.token(t, graphA, "", nil, []string{"Reports.Read.All", "AuditLog.Read.All"}), "", nil)
	e.srv.SetDownloadBase("http://reports.example.test")
	_, err := c.UsageReport(t.Context(), "getEmailAppUsageUserDetail", "D30")
	require.ErrorIs(t, err, mailauth.ErrInsecure)
	assert.NotContains(t, err.Error(), "/data/download/")
	n, _ := e.srv.Downloads()
	assert.Zero(t, n)

	now := time.Now().UTC()
	seedSignIns(e.srv, now)
	e.srv.SetLinkBase("https://graph.example.test")
	var got int
	var last error
	for _, err := range c.SignIns(t.Context(), &graph.SignInOptions{Top: 10}) {
		if err != nil {
			last = err
			break
		}
		got++
	}
	assert.Equal(t, 10, got)
	assert.ErrorIs(t, last, graph.ErrUntrustedLink)

	err = firstErr(c.SignIns(t.Context(), &graph.SignInOptions{Filter: "createdDateTime startswith 'x'"}))
	var ge *graph.Error
	require.ErrorAs(t, err, &ge)
	assert.Equal(t, 400, ge.StatusCode)
}
