package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modernauth/mailauth/internal/fake/autodtest"
)

// The program, pointed at an in-process autodiscover service with
// -connect-to and -ca-file, prints what the service answers.
func TestProgram(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the program")
	}
	srv, err := autodtest.New(autodtest.Options{Hosts: []autodtest.Host{
		{Name: "outlook.office365.com", V2: true, Mailboxes: map[string]autodtest.Mailbox{
			"alice@contoso.test": {
				EWSURL: "https://outlook.office365.com/EWS/Exchange.asmx",
				EASURL: "https://outlook.office365.com/Microsoft-Server-ActiveSync",
			}}},
	}})
	require.NoError(t, err)
	t.Cleanup(srv.Close)

	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(ca, srv.CA().CertPEM(), 0o600))
	bin := filepath.Join(dir, "autodiscover")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, string(out))

	connect := "outlook.office365.com:443:" + srv.TLSAddr()
	out, err = exec.Command(bin, "-email", "alice@contoso.test", "-protocol", "activesync", "-json",
		"-connect-to", connect, "-ca-file", ca).Output()
	require.NoError(t, err)
	var got struct {
		Result struct {
			URL, Method, Protocol string
		}
	}
	require.NoError(t, json.Unmarshal(out, &got), string(out))
	assert.Equal(t, "https://outlook.office365.com/Microsoft-Server-ActiveSync", got.Result.URL)
	assert.Equal(t, "v2", got.Result.Method)
	assert.Equal(t, "ActiveSync", got.Result.Protocol)

	out, err = exec.Command(bin, "-email", "alice@contoso.test", "-connect-to", connect, "-ca-file", ca).Output()
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(out), "EWS URL for alice@contoso.test: https://outlook.office365.com/EWS/Exchange.asmx"), string(out))

	// Without the CA the certificate is not trusted and the program fails.
	cmd := exec.Command(bin, "-email", "alice@contoso.test", "-json", "-timeout", "5s", "-connect-to", connect, "-connect-to", "::127.0.0.1:1")
	out, _ = cmd.Output()
	assert.NotEqual(t, 0, cmd.ProcessState.ExitCode())
	assert.Contains(t, string(out), "certificate")
}

func TestConnectTo(t *testing.T) {
	t.Parallel()
	assert.Equal(t, []string{"a.test", "443", "[::1]", "8443"}, splitConnectTo("a.test:443:[::1]:8443"))
	assert.Equal(t, []string{"", "", "127.0.0.1", "1"}, splitConnectTo("::127.0.0.1:1"))
	d := dialer([]string{"bad"})
	_, err := d(t.Context(), "tcp", "a.test:443")
	assert.ErrorContains(t, err, "HOST1:PORT1:HOST2:PORT2")
}
