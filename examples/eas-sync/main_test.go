package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modernauth/mailauth/eas"
	"github.com/modernauth/mailauth/internal/fake/eastest"
	"github.com/modernauth/mailauth/internal/fake/fakeidp"
)

// TestRunAgainstInProcessServer runs the program end to end against
// eastest with a token file and a CA file, as a user would against a test
// server.
func TestRunAgainstInProcessServer(t *testing.T) {
	idp, err := fakeidp.New(fakeidp.Options{})
	require.NoError(t, err)
	t.Cleanup(idp.Close)
	srv, err := eastest.New(eastest.Options{Verify: idp.Verify, Messages: 30})
	require.NoError(t, err)
	t.Cleanup(srv.Close)

	const user = "bob@contoso.test"
	tok, err := idp.Mint(fakeidp.Claims{Audience: "https://outlook.office365.com", UPN: user, Scp: []string{"EAS.AccessAsUser.All"},
		IssuedAt: time.Now(), NotBefore: time.Now(), ExpiresAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	dir := t.TempDir()
	tokFile, caFile, stateFile := filepath.Join(dir, "tok"), filepath.Join(dir, "ca.pem"), filepath.Join(dir, "state.json")
	require.NoError(t, os.WriteFile(tokFile, []byte(tok+"\n"), 0o600))
	require.NoError(t, os.WriteFile(caFile, srv.CA().CertPEM(), 0o600))

	args := []string{"-eas-url", srv.URL(), "-mailbox", user, "-access-token-file", tokFile, "-ca-file", caFile,
		"-device-id", "ExampleTest1", "-json", "-max", "5", "-state", stateFile}
	var stdout, stderr bytes.Buffer
	require.NoError(t, run(t.Context(), args, &stdout, &stderr), "stderr: %s", stderr.String())
	var out output
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &out))
	assert.Len(t, out.Folders, 7)
	require.Len(t, out.Messages, 5)
	assert.Equal(t, "Message 30", out.Messages[0].Subject, "newest first")
	assert.NotContains(t, stdout.String()+stderr.String(), tok)

	var st eas.State
	b, err := os.ReadFile(stateFile)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &st))
	assert.NotEmpty(t, st.PolicyKey)
	assert.NotEmpty(t, st.SyncKeys[out.Folder])

	// Second run: only what arrived since.
	srv.Deliver(user, eastest.Message{Subject: "Since last time", From: "carol@contoso.test", To: user, Body: "x"})
	stdout.Reset()
	stderr.Reset()
	require.NoError(t, run(t.Context(), args, &stdout, &stderr), "stderr: %s", stderr.String())
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &out))
	require.Len(t, out.Messages, 1)
	assert.Equal(t, "Since last time", out.Messages[0].Subject)
	assert.Equal(t, 2, srv.Requests("Provision"), "the stored policy key is reused")

	// Text output and an unknown folder.
	stdout.Reset()
	require.NoError(t, run(t.Context(), args[:len(args)-5], &stdout, &stderr))
	assert.Contains(t, stdout.String(), "inbox")
	err = run(t.Context(), append(args[:len(args)-5:len(args)-5], "-folder", "Nope"), &stdout, &stderr)
	assert.ErrorContains(t, err, `no folder "Nope"`)
}
