package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/internal/fake/graphtest"
)

type world struct {
	srv  *graphtest.Server
	args []string
}

// newWorld starts a fake Entra ID and Graph server with an app holding AuditLog.Read.All and
// Reports.Read.All, 2,500 legacy sign-ins (3 pages of 1,000) and a usage report.
func newWorld(t *testing.T) *world {
	t.Helper()
	idp, err := fakeidp.New(fakeidp.Options{})
	require.NoError(t, err)
	t.Cleanup(idp.Close)
	idp.AddApp(fakeidp.App{TenantID: "contoso", ClientID: "app1", Secret: "s3cret-report", Roles: []string{"AuditLog.Read.All", "Reports.Read.All"}})
	srv, err := graphtest.New(graphtest.Options{Verify: idp.Verify})
	require.NoError(t, err)
	t.Cleanup(srv.Close)

	now := time.Now().UTC().Truncate(time.Second)
	apps := []string{"Authenticated SMTP", "IMAP4", "POP3", "Exchange ActiveSync", "Authenticated SMTP"}
	var entries []graphtest.SignIn
	for i := range 2500 {
		e := graphtest.SignIn{Time: now.Add(-time.Duration(i) * 10 * time.Minute), User: fmt.Sprintf("user%d@contoso.test", i%6),
			App: "Office 365 Exchange Online", ClientApp: apps[i%len(apps)]}
		if i%4 == 0 {
			e.ErrorCode = 50126
		}
		entries = append(entries, e)
	}
	// A device that only fails, with an app name a spreadsheet would take for a formula.
	entries = append(entries, graphtest.SignIn{Time: now.Add(-time.Minute), User: "scanner@contoso.test", App: `=Scanner, "lobby"`,
		ClientApp: "Authenticated SMTP", ErrorCode: 50126})
	srv.AddSignIns(entries...)
	srv.SetEmailAppUsage(
		graphtest.EmailAppUsage{User: "printer@contoso.test", SMTP: true, LastActivity: now.Add(-48 * time.Hour)},
		graphtest.EmailAppUsage{User: "user1@contoso.test", IMAP4: true, OutlookForWindows: true, LastActivity: now.Add(-24 * time.Hour)},
	)

	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	caPEM := append(srv.CA().CertPEM(), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: idp.Certificate().Raw})...)
	require.NoError(t, os.WriteFile(caFile, caPEM, 0o600))
	t.Setenv("MAILAUTH_CLIENT_SECRET", "s3cret-report")
	return &world{srv: srv, args: []string{"-graph-url", srv.URL(), "-ca-file", caFile, "-authority-host", idp.URL(),
		"-tenant", "contoso", "-client-id", "app1", "-cache", filepath.Join(dir, "cache")}}
}

func (w *world) run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(t.Context(), append(append([]string{}, w.args...), args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

// The three formats print the same rows; the table ends with the summary.
func TestFormatsCarrySameRows(t *testing.T) {
	w := newWorld(t)
	w.srv.ThrottleSignInPage(3, time.Second)

	code, table, stderr := w.run(t)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stderr, "sign-in log: page 1, 1000 legacy sign-ins\nsign-in log: page 2, 2000 legacy sign-ins\nsign-in log: page 3, 2501 legacy sign-ins\n")
	assert.NotContains(t, stderr, "s3cret-report")
	n, withAuth := w.srv.Downloads()
	assert.Equal(t, 1, n)
	assert.Zero(t, withAuth)

	code, csvOut, stderr := w.run(t, "-csv")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stderr, "SMTP: 8 users, 6 still succeeding with basic auth\n")
	code, jsonOut, stderr := w.run(t, "-json")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stderr, "SMTP: 8 users")

	recs, err := csv.NewReader(strings.NewReader(csvOut)).ReadAll()
	require.NoError(t, err)
	require.Equal(t, []string{"user", "protocol", "client_app", "app", "sign_ins", "failures", "last_seen", "source"}, recs[0])
	// 6 users x 4 protocols, the scanner, and 2 usage rows.
	require.Len(t, recs, 1+6*4+1+2)
	assert.Equal(t, "user0@contoso.test", recs[1][0], "newest first")
	assert.Equal(t, []string{"scanner@contoso.test", "SMTP", "Authenticated SMTP", `'=Scanner, "lobby"`, "1", "1"}, recs[2][:6])
	assert.Contains(t, csvOut, `,"'=Scanner, ""lobby""",`)
	assert.Contains(t, csvOut, "\r\n")

	var doc struct {
		Rows []struct {
			User      string `json:"user"`
			Protocol  string `json:"protocol"`
			ClientApp string `json:"client_app"`
			App       string `json:"app"`
			SignIns   int    `json:"sign_ins"`
			Failures  int    `json:"failures"`
			LastSeen  string `json:"last_seen"`
			Source    string `json:"source"`
		} `json:"rows"`
	}
	require.NoError(t, json.Unmarshal([]byte(jsonOut), &doc))
	require.Len(t, doc.Rows, len(recs)-1)

	body, summary, ok := strings.Cut(table, "\n\n")
	require.True(t, ok, table)
	assert.Contains(t, summary, "SMTP: 8 users, 6 still succeeding with basic auth\nIMAP: 6 users, 6 still succeeding with basic auth\nPOP: 6 users")
	lines := strings.Split(body, "\n")
	require.Len(t, lines, len(recs))
	sep := regexp.MustCompile(` {2,}`)
	for i, line := range lines {
		f := sep.Split(line, -1)
		want := recs[i]
		if i == 0 {
			assert.Equal(t, strings.ToUpper(strings.Join(want, " ")), strings.Join(f, " "))
			continue
		}
		for j := range want {
			if want[j] == "" {
				want[j] = "-"
			}
		}
		want[3] = strings.TrimPrefix(want[3], "'") // the CSV's formula guard
		assert.Equal(t, want, f, "table line %d", i)
		r := doc.Rows[i-1]
		assert.Equal(t, []string{want[0], want[1], want[2], want[3], want[4], want[5], want[6], want[7]},
			[]string{r.User, r.Protocol, r.ClientApp, dash(r.App), fmt.Sprint(r.SignIns), fmt.Sprint(r.Failures), dash(r.LastSeen), r.Source}, "json row %d", i)
	}

	code, _, stderr = w.run(t, "-csv", "-json")
	assert.Equal(t, 2, code, stderr)
	code, _, stderr = w.run(t, "-source", "mail")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "signins, usage or both")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Without Entra ID P1 the sign-in log is refused: a clear error naming the licence, exit 1,
// and the usage rows still printed.
func TestNoP1StillReportsUsage(t *testing.T) {
	w := newWorld(t)
	w.srv.SetEntraP1(false)
	code, out, stderr := w.run(t, "-json")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "basic-auth-report: sign-in logs: graph: list sign-ins: 403 Authentication_RequestFromNonPremiumTenantOrB2CTenant")
	assert.Contains(t, stderr, "Microsoft Entra ID P1 or P2")
	assert.Contains(t, stderr, "note: without the sign-in log")
	var doc struct {
		Rows []map[string]any `json:"rows"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &doc))
	require.Len(t, doc.Rows, 2)
	assert.Equal(t, "printer@contoso.test", doc.Rows[1]["user"])
	assert.Equal(t, "usage", doc.Rows[0]["source"])

	code, out, stderr = w.run(t, "-source", "usage", "-days", "7")
	assert.Equal(t, 0, code, stderr)
	assert.Contains(t, out, "SMTP: 1 user, 0 still succeeding with basic auth")
	assert.Equal(t, "/v1.0/reports/getEmailAppUsageUserDetail(period='D7')", w.srv.Requests()[len(w.srv.Requests())-2].Path)
}
