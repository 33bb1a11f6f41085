package imapauth_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/imapauth"
	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/internal/fake/imaptest"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestDialAppOnlySharedMailbox(t *testing.T) {
	for _, tc := range []struct {
		name       string
		mode       imaptest.Mode
		noSASLIR   bool
		roundTrips int64
	}{
		{"implicit TLS, SASL-IR", imaptest.ImplicitTLS, false, 1},
		{"implicit TLS, no SASL-IR", imaptest.ImplicitTLS, true, 2},
		{"STARTTLS, SASL-IR", imaptest.StartTLS, false, 1},
		{"STARTTLS, no SASL-IR", imaptest.StartTLS, true, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, fakeidp.Options{})
			srv := e.server(imaptest.Options{Mode: tc.mode, NoSASLIR: tc.noSASLIR})
			require.NoError(t, srv.Deliver(shared, []byte("Subject: hi\r\n\r\nhello\r\n")))
			src := e.appSource(time.Minute)
			dial := imapauth.DialTLS
			if tc.mode == imaptest.StartTLS {
				dial = imapauth.DialStartTLS
			}
			c, err := dial(ctxT(t), srv.Addr(), &imapauth.Options{Token: src, Mailbox: shared, TLSConfig: e.tlsConfig()})
			require.NoError(t, err, "Dial")
			defer c.Close()

			assert.Equal(t, "XOAUTH2", c.Mechanism())
			assert.Equal(t, appID, c.Identity().AppID)
			assert.WithinDuration(t, time.Now().Add(time.Hour), c.TokenExpiry(), time.Minute)
			sel, err := c.Select("INBOX", nil).Wait()
			require.NoError(t, err)
			assert.Equal(t, uint32(1), sel.NumMessages)

			st := srv.Stats()
			assert.Equal(t, tc.roundTrips, st.AuthRoundTrips, "round trips of AUTHENTICATE")
			assert.Equal(t, int64(1), st.AuthSuccesses)
			assert.Equal(t, int64(1), e.idp.Requests(fakeidp.GrantClientCredentials))
		})
	}
}

func TestOAuthBearerWhenAskedAndAdvertised(t *testing.T) {
	e := newEnv(t, fakeidp.Options{})
	srv := e.server(imaptest.Options{})
	c, err := imapauth.DialTLS(ctxT(t), srv.Addr(), &imapauth.Options{Token: e.appSource(time.Minute), Mailbox: shared, Mechanism: "oauthbearer", TLSConfig: e.tlsConfig()})
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, "OAUTHBEARER", c.Mechanism())

	// Not advertised: XOAUTH2 is used.
	srv2 := e.server(imaptest.Options{Mechanisms: []string{"XOAUTH2"}})
	c2, err := imapauth.DialTLS(ctxT(t), srv2.Addr(), &imapauth.Options{Token: e.appSource(time.Minute), Mailbox: shared, Mechanism: imapauth.OAuthBearer, TLSConfig: e.tlsConfig()})
	require.NoError(t, err)
	defer c2.Close()
	assert.Equal(t, "XOAUTH2", c2.Mechanism())

	srv3 := e.server(imaptest.Options{Mechanisms: []string{"PLAIN"}})
	_, err = imapauth.DialTLS(ctxT(t), srv3.Addr(), &imapauth.Options{Token: e.appSource(time.Minute), Mailbox: shared, TLSConfig: e.tlsConfig()})
	assert.ErrorIs(t, err, imapauth.ErrNoOAuthMechanism)
}

func TestErrorChallengeAnswered(t *testing.T) {
	for _, tc := range []struct {
		mech, status string
		ack          []byte
		noSASLIR     bool
	}{
		{"XOAUTH2", "401", []byte{}, false},
		{"OAUTHBEARER", "invalid_token", []byte{1}, false},
		{"XOAUTH2", "401", []byte{}, true},
		{"OAUTHBEARER", "invalid_token", []byte{1}, true},
	} {
		t.Run(tc.mech, func(t *testing.T) {
			e := newEnv(t, fakeidp.Options{})
			srv := e.server(imaptest.Options{ErrorChallenge: true, NoSASLIR: tc.noSASLIR})
			expired := e.mint(fakeidp.Claims{UPN: alice, Scp: []string{"IMAP.AccessAsUser.All"}, ExpiresAt: time.Now().Add(-time.Minute)})
			start := time.Now()
			_, err := imapauth.DialTLS(ctxT(t), srv.Addr(), &imapauth.Options{
				Token: oauth2.StaticTokenSource(expired), Mailbox: alice, Mechanism: tc.mech, TLSConfig: e.tlsConfig()})
			require.Error(t, err)
			assert.Less(t, time.Since(start), 5*time.Second, "no hang")
			var ae *mailauth.AuthError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tc.status, ae.Status())
			assert.Equal(t, "AUTHENTICATIONFAILED", ae.Code)
			assert.Equal(t, imaptest.FailedText, ae.ServerText)
			assert.Equal(t, alice, ae.Identity.UPN)
			assert.False(t, ae.Retried, "a static source cannot invalidate, so no retry")
			assert.NotContains(t, err.Error(), expired.AccessToken)
			var ie *imap.Error
			assert.ErrorAs(t, err, &ie, "unwraps to the IMAP error")
			mech, ack := srv.LastAck()
			assert.Equal(t, tc.mech, mech)
			assert.Equal(t, tc.ack, ack, "acknowledgement bytes")
			assert.Equal(t, int64(1), srv.Stats().Challenges)
		})
	}
}

func TestRetryOnceWithFreshToken(t *testing.T) {
	e := newEnv(t, fakeidp.Options{})
	srv := e.server(imaptest.Options{})
	src := e.appSource(time.Minute)

	srv.FailNextAuth(1)
	c, err := imapauth.DialTLS(ctxT(t), srv.Addr(), &imapauth.Options{Token: src, Mailbox: shared, TLSConfig: e.tlsConfig()})
	require.NoError(t, err, "second attempt succeeds")
	c.Close()
	assert.Equal(t, int64(2), e.idp.Requests(fakeidp.GrantClientCredentials), "exactly two token requests")
	assert.Equal(t, int64(2), srv.Stats().AuthAttempts)
	assert.Equal(t, 1, src.invalidated)

	e.idp.ResetCounters()
	srv.ResetStats()
	srv.FailNextAuth(5)
	_, err = imapauth.DialTLS(ctxT(t), srv.Addr(), &imapauth.Options{Token: src, Mailbox: shared, TLSConfig: e.tlsConfig()})
	var ae *mailauth.AuthError
	require.ErrorAs(t, err, &ae)
	assert.True(t, ae.Retried)
	assert.Equal(t, int64(2), srv.Stats().AuthAttempts, "a second failure is not retried")
	assert.Equal(t, int64(1), e.idp.Requests(fakeidp.GrantClientCredentials), "one fresh token after the cached one was invalidated")
	assert.Contains(t, ae.Error(), "New-ServicePrincipal", "app-only hint")
}

func TestNotConnected(t *testing.T) {
	e := newEnv(t, fakeidp.Options{})
	srv := e.server(imaptest.Options{})
	tok := e.mint(fakeidp.Claims{UPN: alice, Scp: []string{"IMAP.AccessAsUser.All"}})
	_, err := imapauth.DialTLS(ctxT(t), srv.Addr(), &imapauth.Options{Token: oauth2.StaticTokenSource(tok), Mailbox: "private@contoso.test", TLSConfig: e.tlsConfig()})
	var nc *mailauth.MailboxAccessError
	require.ErrorAs(t, err, &nc)
	assert.Equal(t, "IMAP", nc.Protocol)
	assert.Equal(t, "private@contoso.test", nc.Mailbox)
	assert.Equal(t, alice, nc.Identity.Principal())
	assert.Equal(t, imaptest.NotConnectedText, nc.ServerText)
	assert.Contains(t, nc.Error(), "FullAccess")
	assert.Contains(t, nc.Error(), "service principal")
	assert.Equal(t, int64(1), srv.Stats().AuthSuccesses, "AUTHENTICATE itself said OK")

	// NoProbe: Dial succeeds and the first real command fails.
	c, err := imapauth.DialTLS(ctxT(t), srv.Addr(), &imapauth.Options{Token: oauth2.StaticTokenSource(tok), Mailbox: "private@contoso.test", TLSConfig: e.tlsConfig(), NoProbe: true})
	require.NoError(t, err)
	_, err = c.Select("INBOX", nil).Wait()
	assert.ErrorContains(t, err, "not connected")
	c.Close()

	// The knob forces it for any mailbox.
	srv.SetNotConnected(true)
	_, err = imapauth.DialTLS(ctxT(t), srv.Addr(), &imapauth.Options{Token: oauth2.StaticTokenSource(tok), Mailbox: alice, TLSConfig: e.tlsConfig()})
	assert.ErrorAs(t, err, &nc)
}

func TestPlaintextRefusedBeforeTokenLeaves(t *testing.T) {
	e := newEnv(t, fakeidp.Options{})
	srv := e.server(imaptest.Options{Mode: imaptest.Plaintext})
	src := e.appSource(time.Minute)

	// STARTTLS against a server that does not offer it: refused, never plaintext.
	_, err := imapauth.DialStartTLS(ctxT(t), srv.Addr(), &imapauth.Options{Token: src, Mailbox: shared, TLSConfig: e.tlsConfig()})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "STARTTLS")

	// An imapclient over plain TCP, loopback included.
	conn, err := net.Dial("tcp", srv.Addr())
	require.NoError(t, err)
	c := imapclient.New(conn, nil)
	defer c.Close()
	require.NoError(t, c.WaitGreeting())
	_, err = imapauth.Authenticate(ctxT(t), c, &imapauth.Options{Token: src, Mailbox: shared, Conn: conn})
	assert.ErrorIs(t, err, mailauth.ErrInsecure)
	_, err = imapauth.Authenticate(ctxT(t), c, &imapauth.Options{Token: src, Mailbox: shared})
	assert.ErrorIs(t, err, mailauth.ErrInsecure, "no Conn given: refused too")
	_, err = imapauth.Authenticate(ctxT(t), c, &imapauth.Options{Token: src, Mailbox: shared, InsecureAllowPlaintext: true})
	assert.ErrorIs(t, err, mailauth.ErrInsecure, "InsecureAllowPlaintext with no Conn: the peer is unknown, so refused")
	_, err = imapauth.Authenticate(ctxT(t), c, &imapauth.Options{Token: src, Mailbox: shared, Conn: farConn{conn}, InsecureAllowPlaintext: true})
	assert.ErrorIs(t, err, mailauth.ErrInsecure, "InsecureAllowPlaintext holds on loopback only")
	assert.ErrorContains(t, err, "192.0.2.143")

	assert.Equal(t, int64(0), srv.Stats().AuthAttempts, "no AUTHENTICATE reached the server")
	assert.Equal(t, int64(0), e.idp.TotalRequests(), "no token was even fetched")

	// Explicit opt-in for tests.
	ac, err := imapauth.Authenticate(ctxT(t), c, &imapauth.Options{Token: src, Mailbox: shared, Conn: conn, InsecureAllowPlaintext: true})
	require.NoError(t, err)
	assert.Equal(t, imap.ConnStateAuthenticated, ac.State())
}

func TestAuthenticateExistingTLSClientRedactsTrace(t *testing.T) {
	e := newEnv(t, fakeidp.Options{})
	srv := e.server(imaptest.Options{NoSASLIR: true})
	conn, err := tls.Dial("tcp", srv.Addr(), e.tlsConfig())
	require.NoError(t, err)
	var trace bytes.Buffer
	var mu sync.Mutex
	c := imapclient.New(conn, &imapclient.Options{DebugWriter: lockedWriter{&mu, &trace}})
	defer c.Close()
	require.NoError(t, c.WaitGreeting())
	src := e.appSource(time.Minute)
	_, err = imapauth.Authenticate(ctxT(t), c, &imapauth.Options{Token: src, Mailbox: shared, Conn: conn, DebugWriter: lockedWriter{&mu, &trace}})
	require.NoError(t, err)
	tok, _ := src.Token()
	mu.Lock()
	defer mu.Unlock()
	assert.Contains(t, trace.String(), "AUTHENTICATE XOAUTH2")
	assert.NotContains(t, trace.String(), tok.AccessToken[:40])
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func TestLegacySharedFormRejected(t *testing.T) {
	_, err := imapauth.DialTLS(context.Background(), "127.0.0.1:1", &imapauth.Options{Token: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "x"}), Mailbox: `alice@contoso.test\shared@contoso.test`})
	assert.ErrorIs(t, err, imapauth.ErrLegacySharedMailbox)
	_, err = imapauth.DialTLS(context.Background(), "127.0.0.1:1", &imapauth.Options{Mailbox: "a@b"})
	assert.Error(t, err)
}

func TestManyDialsOneTokenRequest(t *testing.T) {
	e := newEnv(t, fakeidp.Options{})
	srv := e.server(imaptest.Options{})
	src := e.appSource(time.Minute)
	opts := &imapauth.Options{Token: src, Mailbox: shared, TLSConfig: e.tlsConfig()}
	const n = 8
	for i := 0; i < n; i++ {
		c, err := imapauth.DialTLS(ctxT(t), srv.Addr(), opts)
		require.NoError(t, err)
		c.Close()
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := imapauth.DialTLS(ctxT(t), srv.Addr(), opts)
			if err == nil {
				c.Close()
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, int64(1), e.idp.TotalRequests())
	assert.Equal(t, int64(2*n), srv.Stats().AuthSuccesses)
}

func TestByeAccessTokenExpired(t *testing.T) {
	e := newEnv(t, fakeidp.Options{})
	srv := e.server(imaptest.Options{})
	c, err := imapauth.DialTLS(ctxT(t), srv.Addr(), &imapauth.Options{Token: e.appSource(time.Minute), Mailbox: shared, TLSConfig: e.tlsConfig()})
	require.NoError(t, err)
	defer c.Close()
	srv.ExpireAll()
	<-c.Closed()
	err = c.Err(c.Noop().Wait())
	require.ErrorIs(t, err, imapauth.ErrTokenExpired)
	var te *imapauth.TokenExpiredError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, imaptest.ExpiredText, te.ServerText)
	assert.True(t, c.TokenExpired())
}

func TestServerExpiresSessionAtTokenExpiry(t *testing.T) {
	e := newEnv(t, fakeidp.Options{TokenLifetime: 2 * time.Second})
	srv := e.server(imaptest.Options{ExpireSessions: true})
	c, err := imapauth.DialTLS(ctxT(t), srv.Addr(), &imapauth.Options{Token: e.appSource(0), Mailbox: shared, TLSConfig: e.tlsConfig()})
	require.NoError(t, err)
	defer c.Close()
	err = imapauth.Idle(ctxT(t), c)
	assert.ErrorIs(t, err, imapauth.ErrTokenExpired)
	assert.WithinDuration(t, c.TokenExpiry(), time.Now(), 1500*time.Millisecond)
}

func TestSessionKeepsIdleAliveAcrossExpiry(t *testing.T) {
	e := newEnv(t, fakeidp.Options{TokenLifetime: 3 * time.Second})
	srv := e.server(imaptest.Options{ExpireSessions: true})
	s := &imapauth.Session{
		Addr:        srv.Addr(),
		Options:     &imapauth.Options{Token: e.appSource(2100 * time.Millisecond), Mailbox: shared, TLSConfig: e.tlsConfig()},
		RenewBefore: time.Second,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var mu sync.Mutex
	var expiries []time.Time
	err := s.Run(ctx, func(ctx context.Context, c *imapauth.Conn) error {
		mu.Lock()
		expiries = append(expiries, c.TokenExpiry())
		mu.Unlock()
		return imapauth.Idle(ctx, c)
	})
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.GreaterOrEqual(t, s.Connects(), int64(3), "re-dialled before each expiry")
	assert.Equal(t, int64(0), srv.Stats().ByeExpired, "renewed before the server had to end a session")
	for i := 1; i < len(expiries); i++ {
		assert.True(t, expiries[i].After(expiries[i-1]), "each connection used a fresher token")
	}

	// A BYE in the middle of IDLE makes Run reconnect, not fail.
	s2 := &imapauth.Session{Addr: srv.Addr(), Options: s.Options, RenewBefore: time.Hour}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	calls := 0
	err = s2.Run(ctx2, func(ctx context.Context, c *imapauth.Conn) error {
		calls++
		if calls == 1 {
			go srv.ExpireAll()
			return imapauth.Idle(ctx, c)
		}
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, 2, calls)
}

func TestContextBoundsSilentServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // accept and never answer
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = imapauth.DialTLS(ctx, ln.Addr().String(), &imapauth.Options{Token: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "x"}), Mailbox: "a@b"})
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "timeout"), err.Error())
	assert.Less(t, time.Since(start), 2*time.Second)
}

// farConn is a connection that reports a routable peer address.
type farConn struct{ net.Conn }

func (farConn) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(192, 0, 2, 143), Port: 143} }

func TestNilOptions(t *testing.T) {
	_, err := imapauth.DialTLS(ctxT(t), "127.0.0.1:1", nil)
	assert.EqualError(t, err, "imapauth: Options.Token must be set")
}
