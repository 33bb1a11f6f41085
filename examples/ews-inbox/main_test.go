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

	"github.com/modernauth/mailauth/internal/fake/ewstest"
	"github.com/modernauth/mailauth/internal/fake/fakeidp"
)

// The program against the in-process EWS server and fake Entra ID: a token
// file, then app-only client credentials through -authority-host.
func TestRunAgainstTestServers(t *testing.T) {
	idp, err := fakeidp.New(fakeidp.Options{})
	require.NoError(t, err)
	defer idp.Close()
	idp.AddApp(fakeidp.App{TenantID: "contoso", ClientID: "app1", Secret: "s3cret", Roles: []string{"full_access_as_app"}})
	srv, err := ewstest.New(ewstest.Options{Verify: idp.Verify, Mailboxes: []string{"alice@contoso.test", "shared@contoso.test"}, Items: 5})
	require.NoError(t, err)
	defer srv.Close()

	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	caPEM := append(srv.CA().CertPEM(), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: idp.Certificate().Raw})...)
	require.NoError(t, os.WriteFile(caFile, caPEM, 0o600))
	tok, err := idp.Mint(fakeidp.Claims{Audience: "https://outlook.office365.com", UPN: "alice@contoso.test",
		Scp: []string{"EWS.AccessAsUser.All"}, ExpiresAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	tokFile := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(tokFile, []byte(tok+"\n"), 0o600))

	var out, errOut bytes.Buffer
	code := run(t.Context(), []string{"-ews-url", srv.URL(), "-mailbox", "alice@contoso.test", "-max", "3", "-json",
		"-access-token-file", tokFile, "-ca-file", caFile}, &out, &errOut)
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
	assert.Equal(t, ewstest.BaseTime(), rows[0].Received)
	assert.NotContains(t, out.String()+errOut.String(), tok)

	t.Setenv("MAILAUTH_CLIENT_SECRET", "s3cret")
	out.Reset()
	errOut.Reset()
	code = run(t.Context(), []string{"-ews-url", srv.URL(), "-mailbox", "shared@contoso.test", "-app-only", "-max", "0",
		"-ca-file", caFile, "-authority-host", idp.URL(), "-tenant", "contoso", "-client-id", "app1",
		"-cache", filepath.Join(dir, "cache"), "-v"}, &out, &errOut)
	require.Equal(t, 0, code, errOut.String())
	assert.NotContains(t, errOut.String(), "s3cret")
	assert.Equal(t, 5, bytes.Count(out.Bytes(), []byte("\n")))
	assert.Contains(t, out.String(), "Message 5")
	last := srv.Requests()[len(srv.Requests())-1]
	assert.Equal(t, "shared@contoso.test", last.Impersonated)
	assert.EqualValues(t, 1, idp.Requests(fakeidp.GrantClientCredentials))

	// Without -ca-file the test server's certificate is not trusted.
	code = run(t.Context(), []string{"-ews-url", srv.URL(), "-mailbox", "alice@contoso.test", "-access-token-file", tokFile}, &out, &errOut)
	assert.Equal(t, 1, code)
}
