package main

import (
	"bytes"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/internal/fake/graphtest"
)

func TestSendAgainstTestServers(t *testing.T) {
	idp, err := fakeidp.New(fakeidp.Options{})
	require.NoError(t, err)
	defer idp.Close()
	idp.AddApp(fakeidp.App{TenantID: "contoso", ClientID: "app1", Secret: "s3cret", Roles: []string{"Mail.Send", "Mail.ReadWrite"}})
	srv, err := graphtest.New(graphtest.Options{Verify: idp.Verify, Mailboxes: []string{"alice@contoso.test", "noreply@contoso.test"}, Items: -1})
	require.NoError(t, err)
	defer srv.Close()
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(caFile, append(srv.CA().CertPEM(), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: idp.Certificate().Raw})...), 0o600))
	tok, err := idp.Mint(fakeidp.Claims{Audience: "https://graph.microsoft.com", UPN: "alice@contoso.test", Scp: []string{"Mail.Send"}, ExpiresAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	tokFile := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(tokFile, []byte(tok), 0o600))
	common := []string{"-graph-url", srv.URL(), "-ca-file", caFile}

	// A plain message from flags, as the signed-in user.
	var out, errOut bytes.Buffer
	code := run(t.Context(), append(common, "-access-token-file", tokFile, "-to", "bob@contoso.test, carol@contoso.test", "-subject", "Hi", "-body", "See you"), nil, &out, &errOut)
	require.Equal(t, 0, code, errOut.String())
	assert.Contains(t, out.String(), "accepted")

	// MIME on stdin, app-only, as noreply.
	t.Setenv("MAILAUTH_CLIENT_SECRET", "s3cret")
	mime := "From: noreply@contoso.test\r\nTo: bob@contoso.test\r\nSubject: Report\r\n\r\nnumbers\r\n"
	errOut.Reset()
	code = run(t.Context(), append(common, "-mailbox", "noreply@contoso.test", "-mime-file", "-", "-authority-host", idp.URL(), "-tenant", "contoso",
		"-client-id", "app1", "-cache", filepath.Join(dir, "cache")), strings.NewReader(mime), &out, &errOut)
	require.Equal(t, 0, code, errOut.String())

	// A MIME file over 4 MB goes through a draft and an upload session.
	big := "From: noreply@contoso.test\r\nTo: bob@contoso.test\r\nSubject: Big\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n" +
		"--zz\r\nContent-Type: text/plain\r\n\r\nattached\r\n--zz\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=data.bin\r\n\r\n" +
		strings.Repeat("0123456789", 500_000) + "\r\n--zz--\r\n"
	mimeFile := filepath.Join(dir, "big.eml")
	require.NoError(t, os.WriteFile(mimeFile, []byte(big), 0o600))
	errOut.Reset()
	code = run(t.Context(), append(common, "-mailbox", "noreply@contoso.test", "-mime-file", mimeFile, "-authority-host", idp.URL(), "-tenant", "contoso",
		"-client-id", "app1", "-cache", filepath.Join(dir, "cache")), nil, &out, &errOut)
	require.Equal(t, 0, code, errOut.String())

	sent := srv.Sent()
	require.Len(t, sent, 3)
	assert.Equal(t, "sendMail", sent[0].Via)
	assert.Equal(t, []string{"bob@contoso.test", "carol@contoso.test"}, sent[0].To)
	assert.Equal(t, "alice@contoso.test", sent[0].From)
	assert.Equal(t, mime, string(sent[1].MIME))
	assert.Equal(t, "noreply@contoso.test", sent[1].From)
	assert.Equal(t, "draft", sent[2].Via)
	assert.Len(t, sent[2].Attachments[0].Data, 5_000_000)

	// Exit 1 when Graph refuses: alice has no right on noreply's mailbox.
	errOut.Reset()
	code = run(t.Context(), append(common, "-access-token-file", tokFile, "-mailbox", "noreply@contoso.test", "-to", "bob@contoso.test", "-subject", "x", "-body", "y"), nil, &out, &errOut)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut.String(), "ErrorAccessDenied")
	assert.NotContains(t, errOut.String(), tok)

	// Usage errors.
	assert.Equal(t, 2, run(t.Context(), append(common, "-access-token-file", tokFile), nil, &out, &errOut))
	assert.Equal(t, 2, run(t.Context(), append(common, "-access-token-file", tokFile, "-to", "b@x", "-mime-file", "f"), nil, &out, &errOut))
}
