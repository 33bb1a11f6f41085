package main

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/internal/fake/graphtest"
)

// The program against the in-process Graph server and fake Entra ID: a token file (/me),
// then app-only client credentials through -authority-host for a shared mailbox.
func TestRunAgainstTestServers(t *testing.T) {
	idp, err := fakeidp.New(fakeidp.Options{})
	require.NoError(t, err)
	defer idp.Close()
	idp.AddApp(fakeidp.App{TenantID: "contoso", ClientID: "app1", Secret: "s3cret", Roles: []string{"Mail.ReadWrite"}})
	srv, err := graphtest.New(graphtest.Options{Verify: idp.Verify, Mailboxes: []string{"alice@contoso.test", "shared@contoso.test"}, Items: 5})
	require.NoError(t, err)
	defer srv.Close()

	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	caPEM := append(srv.CA().CertPEM(), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: idp.Certificate().Raw})...)
	require.NoError(t, os.WriteFile(caFile, caPEM, 0o600))
	tok, err := idp.Mint(fakeidp.Claims{Audience: "https://graph.microsoft.com", UPN: "alice@contoso.test",
		Scp: []string{"Mail.Read"}, ExpiresAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	tokFile := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(tokFile, []byte(tok+"\n"), 0o600))

	var out, errOut bytes.Buffer
	code := run(t.Context(), []string{"-graph-url", srv.URL(), "-max", "3", "-json", "-access-token-file", tokFile, "-ca-file", caFile}, &out, &errOut)
	require.Equal(t, 0, code, errOut.String())
	var rows []struct {
		ID, Subject, From string
		Received          time.Time
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &rows))
	require.Len(t, rows, 3)
	assert.Equal(t, "Message 1", rows[0].Subject)
	assert.Equal(t, "Sender 1 <sender1@fabrikam.test>", rows[0].From)
	assert.NotEmpty(t, rows[0].ID)
	assert.Equal(t, graphtest.BaseTime(), rows[0].Received)
	assert.NotContains(t, out.String()+errOut.String(), tok)
	// The same keys as ews-inbox -json.
	var raw []map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &raw))
	assert.Len(t, raw[0], 4)
	for _, k := range []string{"id", "subject", "from", "received"} {
		assert.Contains(t, raw[0], k)
	}
	assert.Equal(t, "/v1.0/me/mailFolders/inbox/messages", srv.Requests()[0].Path)

	t.Setenv("MAILAUTH_CLIENT_SECRET", "s3cret")
	out.Reset()
	errOut.Reset()
	code = run(t.Context(), []string{"-graph-url", srv.URL(), "-mailbox", "shared@contoso.test", "-app-only", "-max", "0",
		"-ca-file", caFile, "-authority-host", idp.URL(), "-tenant", "contoso", "-client-id", "app1",
		"-cache", filepath.Join(dir, "cache"), "-v"}, &out, &errOut)
	require.Equal(t, 0, code, errOut.String())
	assert.NotContains(t, errOut.String(), "s3cret")
	assert.Contains(t, errOut.String(), "Authorization: [REDACTED]")
	assert.Equal(t, 5, bytes.Count(out.Bytes(), []byte("\n")))
	assert.Contains(t, out.String(), "Message 5")
	last := srv.Requests()[len(srv.Requests())-1]
	assert.Equal(t, "/v1.0/users/shared@contoso.test/mailFolders/inbox/messages", last.Path)

	// App-only without -mailbox: there is no /me.
	code = run(t.Context(), []string{"-graph-url", srv.URL(), "-ca-file", caFile, "-authority-host", idp.URL(), "-tenant", "contoso", "-client-id", "app1",
		"-cache", filepath.Join(dir, "cache")}, &out, &errOut)
	assert.Equal(t, 2, code)

	// An Exchange token is refused with the Graph scope as the fix, before anything is sent.
	exo, err := idp.Mint(fakeidp.Claims{Audience: "https://outlook.office365.com", UPN: "alice@contoso.test", Scp: []string{"EWS.AccessAsUser.All"}, ExpiresAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(tokFile, []byte(exo), 0o600))
	n := len(srv.Requests())
	errOut.Reset()
	code = run(t.Context(), []string{"-graph-url", srv.URL(), "-access-token-file", tokFile, "-ca-file", caFile}, &out, &errOut)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut.String(), "https://graph.microsoft.com/.default")
	assert.Len(t, srv.Requests(), n)
}
