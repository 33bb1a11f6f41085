package popauth_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/internal/fake/poptest"
	"github.com/modernauth/mailauth/internal/fake/testpki"
	"github.com/modernauth/mailauth/popauth"
)

const (
	alice     = "alice@contoso.test"
	goodToken = "good-token-for-alice"
)

var aliceMail = []string{
	"Subject: one\r\n\r\nHello alice.\r\n",
	"Subject: two\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nlast line\r\n",
}

// countingSource hands out tokens in order (repeating the last one) and
// records Invalidate calls, like a cache with compare-and-drop would.
type countingSource struct {
	mu          sync.Mutex
	tokens      []string
	fetches     int
	invalidated []string
}

func (s *countingSource) Token() (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := min(s.fetches, len(s.tokens)-1)
	s.fetches++
	return &oauth2.Token{AccessToken: s.tokens[i], Expiry: time.Now().Add(time.Hour)}, nil
}

func (s *countingSource) Invalidate(tok *oauth2.Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.invalidated = append(s.invalidated, tok.AccessToken)
}

func (s *countingSource) Fetches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches
}

// plainSource has no Invalidate method.
type plainSource struct{ cs *countingSource }

func (s *plainSource) Token() (*oauth2.Token, error) { return s.cs.Token() }
func (s *plainSource) Fetches() int                  { return s.cs.Fetches() }

type env struct {
	ca  *testpki.CA
	srv *poptest.Server
}

func newEnv(t *testing.T, mod func(*poptest.Options)) *env {
	t.Helper()
	ca, err := testpki.New()
	require.NoError(t, err)
	o := poptest.Options{
		TLSConfig: ca.ServerConfig(),
		Authorize: func(user, token string) error {
			if strings.EqualFold(user, alice) && token == goodToken {
				return nil
			}
			return errors.New("bad token")
		},
		Mailboxes: map[string][]string{alice: aliceMail},
	}
	if mod != nil {
		mod(&o)
	}
	srv, err := poptest.New(o)
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	return &env{ca: ca, srv: srv}
}

func (e *env) opts(src oauth2.TokenSource) *popauth.Options {
	return &popauth.Options{Mailbox: alice, Token: src, TLSConfig: e.ca.ClientConfig()}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestDialAndMailboxCommands(t *testing.T) {
	e := newEnv(t, nil)
	src := &countingSource{tokens: []string{goodToken}}
	ctx := ctxT(t)
	c, err := popauth.DialTLS(ctx, e.srv.Addr(), e.opts(src))
	require.NoError(t, err, "Dial")
	assert.True(t, c.IsTLS())
	assert.False(t, c.TokenExpiry().IsZero(), "TokenExpiry")
	assert.Equal(t, int64(1), e.srv.Logins())

	n, size, err := c.Stat(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	assert.Equal(t, int64(len(aliceMail[0])+len(aliceMail[1])), size)

	list, err := c.List(ctx)
	require.NoError(t, err)
	assert.Equal(t, []popauth.MessageInfo{{Number: 1, Size: int64(len(aliceMail[0]))}, {Number: 2, Size: int64(len(aliceMail[1]))}}, list)
	one, err := c.ListMessage(ctx, 2)
	require.NoError(t, err)
	assert.Equal(t, list[1], one)

	uids, err := c.UIDL(ctx)
	require.NoError(t, err)
	require.Len(t, uids, 2)
	u2, err := c.UIDLMessage(ctx, 2)
	require.NoError(t, err)
	assert.Equal(t, uids[1], u2)

	r, err := c.Retr(ctx, 2)
	require.NoError(t, err)
	body, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.Equal(t, aliceMail[1], string(body), "RETR must undo dot-stuffing and keep CRLF")
	require.NoError(t, r.Close())

	r, err = c.Top(ctx, 2, 1)
	require.NoError(t, err)
	body, err = io.ReadAll(r)
	require.NoError(t, err)
	assert.Equal(t, "Subject: two\r\n\r\n.leading dot\r\n", string(body))

	// A body left unread is drained by the next command.
	r, err = c.Retr(ctx, 1)
	require.NoError(t, err)
	buf := make([]byte, 3)
	_, err = io.ReadFull(r, buf)
	require.NoError(t, err)
	require.NoError(t, c.Noop(ctx), "NOOP after a partly read RETR")
	_, err = r.Read(buf)
	assert.Error(t, err, "the old reader is dead after a later command")

	var pe *popauth.Error
	err = c.Dele(ctx, 9)
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "DELE", pe.Command)

	require.NoError(t, c.Dele(ctx, 1))
	require.NoError(t, c.Rset(ctx))
	require.NoError(t, c.Dele(ctx, 1))
	require.NoError(t, c.Quit(ctx))
	assert.Equal(t, []string{aliceMail[1]}, e.srv.Messages(alice), "QUIT commits DELE")
	assert.ErrorIs(t, c.Noop(ctx), popauth.ErrBroken)
	assert.Equal(t, 1, src.Fetches())
}

func TestDialSTLS(t *testing.T) {
	e := newEnv(t, nil)
	src := &countingSource{tokens: []string{goodToken}}
	c, err := popauth.DialStartTLS(ctxT(t), e.srv.PlainAddr(), e.opts(src))
	require.NoError(t, err, "DialSTLS")
	defer c.Close()
	assert.True(t, c.IsTLS())
	assert.True(t, c.SupportsMechanism("XOAUTH2"), "SASL is listed after STLS")
	assert.False(t, c.HasCapability("STLS"))
	assert.Contains(t, c.Capabilities(), "UIDL")
	st, ok := c.TLSConnectionState()
	assert.True(t, ok)
	assert.True(t, st.HandshakeComplete)
}

func TestSTLSUnavailable(t *testing.T) {
	e := newEnv(t, func(o *poptest.Options) { o.TLSConfig = nil })
	src := &countingSource{tokens: []string{goodToken}}
	_, err := popauth.DialStartTLS(ctxT(t), e.srv.PlainAddr(), &popauth.Options{Mailbox: alice, Token: src})
	require.ErrorIs(t, err, popauth.ErrSTLSUnavailable)
	assert.Equal(t, 0, src.Fetches())
	assert.Equal(t, int64(0), e.srv.AuthAttempts())
}

func TestPlaintextRefusedBeforeTokenFetch(t *testing.T) {
	e := newEnv(t, func(o *poptest.Options) { o.AllowInsecureAuth = true })
	src := &countingSource{tokens: []string{goodToken}}
	ctx := ctxT(t)
	conn, err := net.Dial("tcp", e.srv.PlainAddr())
	require.NoError(t, err)
	_, err = popauth.NewClient(ctx, conn, &popauth.Options{Mailbox: alice, Token: src})
	require.ErrorIs(t, err, mailauth.ErrInsecure)
	assert.Equal(t, 0, src.Fetches(), "no token may be fetched for a plaintext connection")
	assert.Equal(t, int64(0), e.srv.TokensReceived())

	// InsecureAllowPlaintext holds on loopback only: the same server seen from a
	// routable address is refused before any token is fetched.
	conn, err = net.Dial("tcp", e.srv.PlainAddr())
	require.NoError(t, err)
	_, err = popauth.NewClient(ctx, farConn{conn}, &popauth.Options{Mailbox: alice, Token: src, InsecureAllowPlaintext: true})
	require.ErrorIs(t, err, mailauth.ErrInsecure)
	assert.ErrorContains(t, err, "192.0.2.110")
	assert.Equal(t, 0, src.Fetches())

	// With the explicit opt-in it works against a server that allows it.
	conn, err = net.Dial("tcp", e.srv.PlainAddr())
	require.NoError(t, err)
	c, err := popauth.NewClient(ctx, conn, &popauth.Options{Mailbox: alice, Token: src, InsecureAllowPlaintext: true})
	require.NoError(t, err)
	c.Close()
}

func TestTwoStepAuthOnly(t *testing.T) {
	// poptest, like Exchange, closes the connection on a one-line AUTH; a
	// login that works proves the client never sends one.
	e := newEnv(t, func(o *poptest.Options) { o.AllowOneLineAuth = false })
	src := &countingSource{tokens: []string{goodToken}}
	c, err := popauth.DialTLS(ctxT(t), e.srv.Addr(), e.opts(src))
	require.NoError(t, err)
	c.Close()
}

func TestErrorChallenge(t *testing.T) {
	for _, tc := range []struct {
		name, mech, status string
	}{
		{"xoauth2", popauth.XOAuth2, "401"},
		{"oauthbearer", popauth.OAuthBearer, "invalid_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(o *poptest.Options) { o.ErrorChallenge = true; o.OAuthBearer = true })
			src := &plainSource{&countingSource{tokens: []string{"expired.eyJ1cG4iOiJhbGljZUBjb250b3NvLnRlc3QifQ.sig"}}}
			ctx := ctxT(t)
			c, err := popauth.DialTLS(ctx, e.srv.Addr(), &popauth.Options{TLSConfig: e.ca.ClientConfig(), Mechanism: tc.mech})
			require.NoError(t, err)
			defer c.Close()
			err = c.Authenticate(ctx, alice, src)
			var ae *mailauth.AuthError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tc.mech, ae.Mechanism)
			assert.Equal(t, tc.status, ae.Status())
			assert.Equal(t, "POP3", ae.Protocol)
			assert.Equal(t, popauth.CodeAuth, ae.Code)
			assert.Equal(t, alice, ae.Identity.UPN)
			assert.False(t, ae.Retried, "a source without Invalidate is not retried")
			var pe *popauth.Error
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, popauth.CodeAuth, pe.Code)
			assert.NotContains(t, err.Error(), "expired.eyJ", "the token must not appear in the error")
			assert.Equal(t, 1, src.Fetches())

			// The session is still usable: a good token logs in.
			good := &countingSource{tokens: []string{goodToken}}
			require.NoError(t, c.Authenticate(ctx, alice, good))
			// A second login on the same session is refused before any
			// token is fetched or dropped.
			require.Error(t, c.Authenticate(ctx, alice, good))
			assert.Equal(t, 1, good.Fetches())
			assert.Empty(t, good.invalidated)
		})
	}
}

func TestRetryOnceWithFreshToken(t *testing.T) {
	for _, challenge := range []bool{false, true} {
		name := "exchange-style"
		if challenge {
			name = "error-challenge"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, func(o *poptest.Options) { o.ErrorChallenge = challenge })
			src := &countingSource{tokens: []string{"stale", goodToken}}
			c, err := popauth.DialTLS(ctxT(t), e.srv.Addr(), e.opts(src))
			require.NoError(t, err)
			c.Close()
			assert.Equal(t, 2, src.Fetches())
			assert.Equal(t, []string{"stale"}, src.invalidated)
			assert.Equal(t, int64(2), e.srv.AuthAttempts())

			// A second failure is not retried again.
			src = &countingSource{tokens: []string{"bad1", "bad2", goodToken}}
			_, err = popauth.DialTLS(ctxT(t), e.srv.Addr(), e.opts(src))
			var ae *mailauth.AuthError
			require.ErrorAs(t, err, &ae)
			assert.True(t, ae.Retried)
			assert.Equal(t, 2, src.Fetches(), "retry once, never more")
			assert.Equal(t, []string{"bad1", "bad2"}, src.invalidated)
		})
	}
}

func TestTemporaryFailureNotRetried(t *testing.T) {
	e := newEnv(t, func(o *poptest.Options) { o.TempFailures = 1 })
	src := &countingSource{tokens: []string{goodToken}}
	_, err := popauth.DialTLS(ctxT(t), e.srv.Addr(), e.opts(src))
	var ae *mailauth.AuthError
	require.ErrorAs(t, err, &ae)
	var pe *popauth.Error
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, popauth.CodeSysTemp, pe.Code)
	assert.True(t, pe.Temporary())
	assert.Equal(t, 1, src.Fetches())
	assert.Empty(t, src.invalidated)
}

func TestInUse(t *testing.T) {
	e := newEnv(t, func(o *poptest.Options) { o.InUse = true })
	_, err := popauth.DialTLS(ctxT(t), e.srv.Addr(), e.opts(&countingSource{tokens: []string{goodToken}}))
	var pe *popauth.Error
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, popauth.CodeInUse, pe.Code)
	assert.True(t, pe.Temporary())
}

func TestProbeFailure(t *testing.T) {
	e := newEnv(t, func(o *poptest.Options) { o.NotConnected = true })
	_, err := popauth.DialTLS(ctxT(t), e.srv.Addr(), e.opts(&countingSource{tokens: []string{goodToken}}))
	var pr *mailauth.MailboxAccessError
	require.ErrorAs(t, err, &pr)
	assert.Contains(t, pr.Hint(), "service principal")
	var pe *popauth.Error
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "STAT", pe.Command)
	assert.Contains(t, pe.Text, "authenticated but not connected")
	assert.Contains(t, err.Error(), "but may not open mailbox")
	assert.Equal(t, "POP3", pr.Protocol)
	assert.Contains(t, err.Error(), "FullAccess")
	assert.Equal(t, "", pe.Hint(), "no code, nothing to add")
}

func TestCloseAfterAuthIsAnErrorNotAHang(t *testing.T) {
	e := newEnv(t, func(o *poptest.Options) { o.CloseAfterAuth = true })
	src := &countingSource{tokens: []string{goodToken}}
	start := time.Now()
	_, err := popauth.DialTLS(ctxT(t), e.srv.Addr(), e.opts(src))
	var ae *mailauth.AuthError
	require.ErrorAs(t, err, &ae)
	assert.Contains(t, ae.Hint, "mailbox does not exist")
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.Equal(t, 1, src.Fetches(), "a closed connection is not retried")
}

func TestContextDeadline(t *testing.T) {
	e := newEnv(t, func(o *poptest.Options) { o.ReplyDelay = 20 * time.Second })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := popauth.DialTLS(ctx, e.srv.Addr(), e.opts(&countingSource{tokens: []string{goodToken}}))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 5*time.Second, "the deadline, not the server, ends the wait")
}

func TestContextCancel(t *testing.T) {
	e := newEnv(t, nil)
	c, err := popauth.DialTLS(ctxT(t), e.srv.Addr(), e.opts(&countingSource{tokens: []string{goodToken}}))
	require.NoError(t, err)
	defer c.Close()

	// A context that is already done sends nothing and keeps the session.
	done, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = c.Retr(done, 1)
	require.ErrorIs(t, err, context.Canceled)
	require.NoError(t, c.Noop(ctxT(t)))
}

func TestContextCancelInterruptsABlockedRead(t *testing.T) {
	e := newEnv(t, nil)
	c, err := popauth.DialTLS(ctxT(t), e.srv.Addr(), e.opts(&countingSource{tokens: []string{goodToken}}))
	require.NoError(t, err)
	defer c.Close()
	e.srv.SetReplyDelay(20 * time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err = c.Retr(ctx, 1)
	require.ErrorIs(t, err, context.Canceled)
	assert.Less(t, time.Since(start), 5*time.Second, "the cancel, not the server, ends the wait")
	assert.ErrorIs(t, c.Noop(context.Background()), popauth.ErrBroken, "an interrupted command leaves the session unusable")
}

func TestUsernameChecks(t *testing.T) {
	e := newEnv(t, nil)
	ctx := ctxT(t)
	c, err := popauth.DialTLS(ctx, e.srv.Addr(), &popauth.Options{TLSConfig: e.ca.ClientConfig()})
	require.NoError(t, err)
	defer c.Close()
	src := &countingSource{tokens: []string{goodToken}}
	for _, u := range []string{"", `alice@contoso.test\shared@contoso.test`, "a\r\nQUIT"} {
		assert.ErrorIs(t, c.Authenticate(ctx, u, src), popauth.ErrBadUsername, "%q", u)
	}
	assert.Equal(t, 0, src.Fetches())
}

func TestMechanismChoice(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		sasl       []string
		expect     string // "" means ErrNoMechanism
	}{
		{"xoauth2 by default", "", []string{"XOAUTH2", "OAUTHBEARER"}, popauth.XOAuth2},
		{"oauthbearer when asked and offered", popauth.OAuthBearer, []string{"XOAUTH2", "OAUTHBEARER"}, popauth.OAuthBearer},
		{"xoauth2 when oauthbearer is not offered", popauth.OAuthBearer, []string{"PLAIN", "XOAUTH2"}, popauth.XOAuth2},
		{"oauthbearer when it is the only one", "", []string{"OAUTHBEARER"}, popauth.OAuthBearer},
		{"xoauth2 without a SASL line", popauth.OAuthBearer, nil, popauth.XOAuth2},
		{"neither offered", "", []string{"PLAIN"}, ""},
		{"empty SASL line", "", []string{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(o *poptest.Options) { o.OAuthBearer = true; o.SASL = tc.sasl; o.OmitSASL = tc.sasl == nil })
			src := &countingSource{tokens: []string{goodToken}}
			o := e.opts(src)
			o.Mechanism = tc.want
			c, err := popauth.DialTLS(ctxT(t), e.srv.Addr(), o)
			if tc.expect == "" {
				require.ErrorIs(t, err, popauth.ErrNoMechanism)
				assert.Equal(t, 0, src.Fetches(), "no token fetched")
				return
			}
			require.NoError(t, err)
			defer c.Close()
			assert.Equal(t, tc.expect, c.Mechanism())
		})
	}
}

func TestOAuthBearerLogin(t *testing.T) {
	e := newEnv(t, func(o *poptest.Options) { o.OAuthBearer = true })
	o := e.opts(&countingSource{tokens: []string{goodToken}})
	o.Mechanism = popauth.OAuthBearer
	c, err := popauth.DialTLS(ctxT(t), e.srv.Addr(), o)
	require.NoError(t, err)
	c.Close()
}

func TestNoTokenInFormattedValues(t *testing.T) {
	e := newEnv(t, nil)
	o := e.opts(valueSource{tok: goodToken}) // fmt would print its field
	require.Contains(t, fmt.Sprintf("%+v", struct{ S oauth2.TokenSource }{valueSource{tok: goodToken}}), goodToken, "the test's premise")
	c, err := popauth.DialTLS(ctxT(t), e.srv.Addr(), o)
	require.NoError(t, err)
	defer c.Close()
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		assert.NotContains(t, fmt.Sprintf(f, o), goodToken, f)
		assert.NotContains(t, fmt.Sprintf(f, *o), goodToken, f)
		assert.NotContains(t, fmt.Sprintf(f, c), goodToken, f)
	}
	var buf strings.Builder
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "opts", *o, "client", c)
	assert.NotContains(t, buf.String(), goodToken)
	assert.Contains(t, fmt.Sprint(c), alice)
}

// valueSource holds its token in a value field, which fmt prints unless the
// holder redacts it.
type valueSource struct{ tok string }

func (s valueSource) Token() (*oauth2.Token, error) { return &oauth2.Token{AccessToken: s.tok}, nil }

// farConn is a connection that reports a routable peer address.
type farConn struct{ net.Conn }

func (farConn) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(192, 0, 2, 110), Port: 110} }

func TestOptionsRequiredTogether(t *testing.T) {
	_, err := popauth.DialTLS(ctxT(t), "127.0.0.1:1", &popauth.Options{Mailbox: alice})
	assert.EqualError(t, err, "popauth: Options.Token must be set (Options.Mailbox is set)")
	_, err = popauth.DialStartTLS(ctxT(t), "127.0.0.1:1", &popauth.Options{Token: &countingSource{tokens: []string{goodToken}}})
	assert.EqualError(t, err, "popauth: Options.Mailbox must be set")
}

// Detach hands the logged-in connection over: the caller speaks POP3 on it, the Client
// refuses further commands, and its Close and Quit leave the connection open.
func TestDetach(t *testing.T) {
	e := newEnv(t, nil)
	c, err := popauth.DialTLS(ctxT(t), e.srv.Addr(), e.opts(&countingSource{tokens: []string{goodToken}}))
	require.NoError(t, err)
	conn, br := c.Detach()
	defer conn.Close()
	assert.ErrorIs(t, c.Noop(ctxT(t)), popauth.ErrBroken)
	assert.NoError(t, c.Close())
	assert.ErrorIs(t, c.Quit(ctxT(t)), popauth.ErrBroken)
	_, err = conn.Write([]byte("STAT\r\n"))
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	line, err := br.ReadString('\n')
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(line, "+OK "), line)
}

func TestDebugWriterTraceRedacted(t *testing.T) {
	e := newEnv(t, nil)
	src := &countingSource{tokens: []string{goodToken}}
	var trace bytes.Buffer
	o := e.opts(src)
	o.DebugWriter = &trace
	c, err := popauth.DialStartTLS(ctxT(t), e.srv.PlainAddr(), o)
	require.NoError(t, err)
	_, err = c.List(ctxT(t))
	require.NoError(t, err)
	require.NoError(t, c.Quit(ctxT(t)))
	got := trace.String()
	for _, want := range []string{"S: +OK", "C: STLS\n", "C: CAPA\n", "C: AUTH XOAUTH2\n", "S: +", "C: [REDACTED]\n", "C: STAT\n", "C: LIST\n", "S: 1 ", "C: QUIT\n"} {
		assert.Contains(t, got, want)
	}
	assert.NotContains(t, got, goodToken)
	assert.NotContains(t, got, base64.StdEncoding.EncodeToString([]byte("user="+alice)))
}
