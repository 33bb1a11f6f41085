package imapauth_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/imapauth"
	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/internal/fake/hostile"
	"github.com/modernauth/mailauth/internal/fake/imaptest"
	"github.com/modernauth/mailauth/internal/fake/testpki"
)

// RawConn logs in with one round trip when the server advertises SASL-IR and with two
// when it does not, over implicit TLS and STARTTLS, and hands back a connection on which
// the session continues.
func TestRawLoginSASLIROnlyWhenAdvertised(t *testing.T) {
	for _, tc := range []struct {
		name     string
		mode     imaptest.Mode
		noSASLIR bool
		trips    int64
	}{
		{"tls/sasl-ir", imaptest.ImplicitTLS, false, 1},
		{"tls/no-sasl-ir", imaptest.ImplicitTLS, true, 2},
		{"starttls/sasl-ir", imaptest.StartTLS, false, 1},
		{"starttls/no-sasl-ir", imaptest.StartTLS, true, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, fakeidp.Options{})
			srv := e.server(imaptest.Options{Mode: tc.mode, NoSASLIR: tc.noSASLIR})
			var trace bytes.Buffer
			dial := imapauth.DialTLSRaw
			if tc.mode == imaptest.StartTLS {
				dial = imapauth.DialStartTLSRaw
			}
			src := e.appSource(time.Minute)
			c, err := dial(ctxT(t), srv.Addr(), &imapauth.Options{Token: src, Mailbox: shared, TLSConfig: e.tlsConfig(), DebugWriter: &trace})
			require.NoError(t, err)
			defer c.Close()
			assert.Equal(t, tc.trips, srv.Stats().AuthRoundTrips, "AUTHENTICATE round trips")
			assert.Equal(t, imapauth.XOAuth2, c.Mechanism())
			assert.True(t, strings.HasPrefix(c.AuthText(), "OK"), c.AuthText())
			assert.Contains(t, c.Capabilities(), "AUTH=XOAUTH2")
			assert.Equal(t, appID, c.Identity().AppID)

			conn, br := c.Detach()
			defer conn.Close()
			_, err = io.WriteString(conn, "x SELECT INBOX\r\n")
			require.NoError(t, err)
			for {
				l, err := br.ReadString('\n')
				require.NoError(t, err)
				if strings.HasPrefix(l, "x ") {
					assert.True(t, strings.HasPrefix(l, "x OK"), l)
					break
				}
			}
			assert.NoError(t, c.Close(), "Close after Detach leaves the connection alone")
			_, err = io.WriteString(conn, "y NOOP\r\n")
			assert.NoError(t, err)

			tok, _ := src.Token()
			assert.NotContains(t, trace.String(), tok.AccessToken)
			assert.Contains(t, trace.String(), "AUTHENTICATE XOAUTH2")
			assert.Contains(t, trace.String(), `LIST "" ""`)
		})
	}
}

// A refused token is invalidated and the login retried once with a fresh one; a second
// refusal is final and says so.
func TestRawRetryOnceWithFreshToken(t *testing.T) {
	e := newEnv(t, fakeidp.Options{})
	srv := e.server(imaptest.Options{})
	src := e.appSource(time.Minute)
	srv.FailNextAuth(1)
	c, err := imapauth.DialTLSRaw(ctxT(t), srv.Addr(), &imapauth.Options{Token: src, Mailbox: shared, TLSConfig: e.tlsConfig()})
	require.NoError(t, err)
	c.Close()
	assert.Equal(t, int64(2), e.idp.Requests(fakeidp.GrantClientCredentials), "exactly two token requests")
	assert.Equal(t, int64(2), srv.Stats().AuthAttempts)
	assert.Equal(t, int64(1), srv.Stats().Connections, "retried on the same connection")
	assert.Equal(t, 1, src.invalidated)

	e.idp.ResetCounters()
	srv.ResetStats()
	srv.FailNextAuth(5)
	_, err = imapauth.DialTLSRaw(ctxT(t), srv.Addr(), &imapauth.Options{Token: src, Mailbox: shared, TLSConfig: e.tlsConfig()})
	var ae *mailauth.AuthError
	require.ErrorAs(t, err, &ae)
	assert.True(t, ae.Retried)
	assert.Equal(t, "AUTHENTICATIONFAILED", ae.Code)
	assert.Equal(t, imaptest.FailedText, ae.ServerText)
	assert.Equal(t, int64(2), srv.Stats().AuthAttempts, "a second failure is not retried")
	assert.Contains(t, ae.Error(), "New-ServicePrincipal", "app-only hint")
}

// The error challenge is answered (empty for XOAUTH2, 0x01 for OAUTHBEARER) so the
// server finishes with NO, with or without SASL-IR.
func TestRawErrorChallenge(t *testing.T) {
	for _, tc := range []struct {
		mech     string
		ack      []byte
		noSASLIR bool
	}{
		{"XOAUTH2", []byte{}, false},
		{"OAUTHBEARER", []byte{1}, false},
		{"XOAUTH2", []byte{}, true},
		{"OAUTHBEARER", []byte{1}, true},
	} {
		t.Run(tc.mech, func(t *testing.T) {
			e := newEnv(t, fakeidp.Options{})
			srv := e.server(imaptest.Options{ErrorChallenge: true, NoSASLIR: tc.noSASLIR})
			expired := e.mint(fakeidp.Claims{UPN: alice, Scp: []string{"IMAP.AccessAsUser.All"}, ExpiresAt: time.Now().Add(-time.Minute)})
			_, err := imapauth.DialTLSRaw(ctxT(t), srv.Addr(), &imapauth.Options{
				Token: oauth2.StaticTokenSource(expired), Mailbox: alice, Mechanism: tc.mech, TLSConfig: e.tlsConfig()})
			var ae *mailauth.AuthError
			require.ErrorAs(t, err, &ae)
			assert.NotEmpty(t, ae.Status())
			assert.Equal(t, alice, ae.Identity.UPN)
			assert.NotContains(t, err.Error(), expired.AccessToken)
			mech, ack := srv.LastAck()
			assert.Equal(t, tc.mech, mech)
			assert.Equal(t, tc.ack, ack)
		})
	}
}

// Exchange's "BAD User is authenticated but not connected." to the probe becomes a
// MailboxAccessError, as with DialTLS.
func TestRawNotConnected(t *testing.T) {
	e := newEnv(t, fakeidp.Options{})
	srv := e.server(imaptest.Options{})
	tok := e.mint(fakeidp.Claims{UPN: alice, Scp: []string{"IMAP.AccessAsUser.All"}})
	_, err := imapauth.DialTLSRaw(ctxT(t), srv.Addr(), &imapauth.Options{Token: oauth2.StaticTokenSource(tok), Mailbox: "private@contoso.test", TLSConfig: e.tlsConfig()})
	var nc *mailauth.MailboxAccessError
	require.ErrorAs(t, err, &nc)
	assert.Equal(t, "IMAP", nc.Protocol)
	assert.Equal(t, imaptest.NotConnectedText, nc.ServerText)
	assert.Equal(t, "BAD", nc.Code)
	assert.Equal(t, alice, nc.Identity.Principal())
}

// Without a token the connection stops before login, for the capabilities.
func TestRawCapabilitiesOnly(t *testing.T) {
	e := newEnv(t, fakeidp.Options{})
	srv := e.server(imaptest.Options{Mode: imaptest.StartTLS})
	c, err := imapauth.DialStartTLSRaw(ctxT(t), srv.Addr(), &imapauth.Options{TLSConfig: e.tlsConfig()})
	require.NoError(t, err)
	defer c.Close()
	assert.Contains(t, c.Capabilities(), "IMAP4rev1")
	assert.NotContains(t, c.Capabilities(), "STARTTLS", "asked again after STARTTLS")
	assert.Zero(t, srv.Stats().AuthAttempts)
	_, err = imapauth.DialTLSRaw(ctxT(t), srv.Addr(), &imapauth.Options{Mailbox: alice})
	assert.ErrorContains(t, err, "Token must be set")
}

// A server that hangs up on the first AUTHENTICATE (as Dovecot does for a token it
// cannot map to a mailbox) gets the retry on a new connection with a fresh token.
func TestRawRetryRedialsAfterHangUp(t *testing.T) {
	ca, err := testpki.New()
	require.NoError(t, err)
	var mu sync.Mutex
	var caps, auths int
	srv := &hostile.Server{Greeting: "* OK hi\r\n", TLS: ca.ServerConfig(), Reply: func(line string) (string, bool) {
		mu.Lock()
		defer mu.Unlock()
		tag, rest, _ := strings.Cut(line, " ")
		switch {
		case rest == "CAPABILITY":
			caps++
			return "* CAPABILITY IMAP4rev1 AUTH=XOAUTH2 SASL-IR\r\n" + tag + " OK done\r\n", false
		case strings.HasPrefix(rest, "AUTHENTICATE XOAUTH2 "):
			auths++
			if auths == 1 {
				return "", true // no Flood: the connection closes
			}
			return tag + " OK Logged in\r\n", false
		case rest == `LIST "" ""`:
			return `* LIST (\Noselect) "/" ""` + "\r\n" + tag + " OK LIST done\r\n", false
		}
		return tag + " BAD what\r\n", false
	}}
	addr, err := srv.Start()
	require.NoError(t, err)
	defer srv.Close()
	n := 0
	src := &cachingSource{fetch: func(context.Context) (*oauth2.Token, error) {
		n++
		return &oauth2.Token{AccessToken: "token-" + strconv.Itoa(n), Expiry: time.Now().Add(time.Hour)}, nil
	}}
	c, err := imapauth.DialTLSRaw(ctxT(t), addr, &imapauth.Options{Token: src, Mailbox: alice, TLSConfig: &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}})
	require.NoError(t, err)
	defer c.Close()
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, 2, caps, "a second connection")
	assert.Equal(t, 2, auths)
	assert.Equal(t, 2, n, "a fresh token for the retry")
	assert.Equal(t, 1, src.invalidated)
	assert.Equal(t, "OK Logged in", c.AuthText())
}
