package smtpauth_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/internal/fake/smtptest"
	"github.com/modernauth/mailauth/smtpauth"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The SMTP trace shows the whole exchange, both directions, and never a token: not the
// token, not its XOAUTH2 or OAUTHBEARER payload, in any mode and with a refused token.
func TestDebugWriterNeverShowsToken(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode smtptest.Mode
		mech string
		dial func(context.Context, string, *smtpauth.Options) (*smtpauth.Client, error)
	}{
		{"STARTTLS XOAUTH2", smtptest.StartTLS, smtpauth.XOAuth2, smtpauth.DialStartTLS},
		{"implicit TLS OAUTHBEARER", smtptest.ImplicitTLS, smtpauth.OAuthBearer, smtpauth.DialTLS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			srv := e.server(smtptest.Options{Mode: tc.mode})
			src := e.appSource()
			var trace syncBuffer
			c, err := tc.dial(ctxT(t), srv.Addr(), &smtpauth.Options{Token: src, Mailbox: sender, Mechanism: tc.mech, TLSConfig: e.tlsConfig(), DebugWriter: &trace})
			require.NoError(t, err)
			require.NoError(t, c.SendMail(ctxT(t), sender, []string{"bob@example.com"}, strings.NewReader(msg)))
			require.NoError(t, c.Quit())
			c.Close()
			tok, err := src.Token()
			require.NoError(t, err)
			got := trace.String()
			for _, want := range []string{"S: 220", "C: EHLO", "C: AUTH " + tc.mech, "S: 235", "C: MAIL FROM:<" + sender + ">", "C: RCPT TO:<bob@example.com>", "C: QUIT", "[REDACTED]"} {
				assert.Contains(t, got, want)
			}
			if tc.mode == smtptest.StartTLS {
				assert.Contains(t, got, "C: STARTTLS")
			}
			assertNoToken(t, got, tok.AccessToken, sender)
		})
	}
}

func TestDebugWriterRefusedToken(t *testing.T) {
	e := newEnv(t)
	srv := e.server(smtptest.Options{})
	tok := e.mint(fakeidp.Claims{AppID: appID, Roles: []string{"IMAP.AccessAsApp"}}) // no SMTP.SendAsApp
	var trace syncBuffer
	_, err := smtpauth.DialStartTLS(ctxT(t), srv.Addr(), &smtpauth.Options{Token: oauth2.StaticTokenSource(tok), Mailbox: sender, TLSConfig: e.tlsConfig(), DebugWriter: &trace})
	require.Error(t, err)
	got := trace.String()
	assert.Contains(t, got, "S: 535")
	assertNoToken(t, got, tok.AccessToken, sender)
}

func assertNoToken(t *testing.T, got, tok, user string) {
	t.Helper()
	xo := base64.StdEncoding.EncodeToString([]byte("user=" + user + "\x01auth=Bearer " + tok + "\x01\x01"))
	for _, bad := range []string{tok, tok[:40], tok[len(tok)-40:], xo[:60], xo[len(xo)-60:]} {
		require.NotContains(t, got, bad, "the trace shows the token or its SASL payload:\n%s", got)
	}
	for _, line := range strings.Split(got, "\n") {
		if len(line) > 200 && !strings.HasPrefix(line, "C: ") {
			t.Fatalf("a long unredacted line: %q", line)
		}
	}
}
