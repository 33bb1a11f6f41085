package smtpauth_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	gosasl "github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/internal/fake/smtptest"
	"github.com/modernauth/mailauth/smtpauth"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

const msg = "From: noreply@contoso.test\r\nTo: bob@example.com\r\nSubject: test\r\n\r\nhello\r\n"

func TestSendMailAppOnly(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode smtptest.Mode
		dial func(context.Context, string, *smtpauth.Options) (*smtpauth.Client, error)
	}{
		{"STARTTLS 587", smtptest.StartTLS, smtpauth.DialStartTLS},
		{"implicit TLS 465", smtptest.ImplicitTLS, smtpauth.DialTLS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			srv := e.server(smtptest.Options{Mode: tc.mode})
			c, err := tc.dial(ctxT(t), srv.Addr(), &smtpauth.Options{Token: e.appSource(), Mailbox: sender, TLSConfig: e.tlsConfig()})
			require.NoError(t, err)
			defer c.Close()
			require.NoError(t, c.SendMail(ctxT(t), sender, []string{"bob@example.com"}, strings.NewReader(msg)))
			require.NoError(t, c.Quit())

			msgs := srv.Messages()
			require.Len(t, msgs, 1)
			assert.Equal(t, sender, msgs[0].From)
			assert.Equal(t, []string{"bob@example.com"}, msgs[0].To)
			assert.Contains(t, string(msgs[0].Data), "Subject: test")
			assert.Equal(t, appID, c.Identity().AppID)
			st := srv.Stats()
			assert.Equal(t, int64(2), st.AuthRoundTrips, "an Entra-sized token goes in a continuation, not on the AUTH line")
			assert.Equal(t, int64(0), st.LongAuthLines)
		})
	}
}

func TestShortTokenUsesInitialResponse(t *testing.T) {
	e := newEnv(t)
	verify := func(tok string) (*fakeidp.Claims, error) {
		if tok != "short-token" {
			return nil, errors.New("bad")
		}
		return &fakeidp.Claims{Audience: "https://outlook.office365.com", UPN: alice, Scp: []string{"SMTP.Send"}}, nil
	}
	srv := e.server(smtptest.Options{Verify: verify})
	err := smtpauth.SendMail(ctxT(t), srv.Addr(), &smtpauth.Options{Token: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "short-token"}),
		Mailbox: alice, TLSConfig: e.tlsConfig()}, alice, []string{"bob@example.com"}, strings.NewReader(msg))
	require.NoError(t, err)
	assert.Equal(t, int64(1), srv.Stats().AuthRoundTrips, "a short line keeps the initial response")
}

// go-smtp alone sends the initial response whatever its length; a server enforcing
// RFC 4954's 512-octet limit (as Dovecot does, from 1,033 bytes) refuses it.
func TestLongInitialResponseIsRefusedWithoutSmtpauth(t *testing.T) {
	e := newEnv(t)
	srv := e.server(smtptest.Options{})
	tok, err := e.appSource().Token()
	require.NoError(t, err)
	c, err := smtp.DialStartTLS(srv.Addr(), e.tlsConfig())
	require.NoError(t, err)
	defer c.Close()
	err = c.Auth(gosasl.NewOAuthBearerClient(&gosasl.OAuthBearerOptions{Username: sender, Token: tok.AccessToken}))
	var se *smtp.SMTPError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 500, se.Code)
	assert.Equal(t, int64(1), srv.Stats().LongAuthLines)

	// The same mechanism through smtpauth's client passes.
	require.NoError(t, c.Auth(smtpauth.NewXOAuth2Client(sender, oauth2.StaticTokenSource(tok))))
}

func TestErrorChallenge(t *testing.T) {
	for _, tc := range []struct {
		mech, status string
		ack          []byte
	}{
		{"XOAUTH2", "401", []byte{}},
		{"OAUTHBEARER", "invalid_token", []byte{1}},
	} {
		t.Run(tc.mech, func(t *testing.T) {
			e := newEnv(t)
			srv := e.server(smtptest.Options{ErrorChallenge: true})
			expired := e.mint(fakeidp.Claims{UPN: alice, Scp: []string{"SMTP.Send"}, ExpiresAt: time.Now().Add(-time.Minute)})
			start := time.Now()
			_, err := smtpauth.DialStartTLS(ctxT(t), srv.Addr(), &smtpauth.Options{Token: oauth2.StaticTokenSource(expired), Mailbox: alice,
				Mechanism: tc.mech, TLSConfig: e.tlsConfig()})
			assert.Less(t, time.Since(start), 5*time.Second)
			var ae *mailauth.AuthError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tc.status, ae.Status())
			assert.Equal(t, "535 5.7.8", ae.Code)
			assert.Equal(t, alice, ae.Identity.UPN)
			assert.NotContains(t, err.Error(), expired.AccessToken)
			var se *smtp.SMTPError
			assert.ErrorAs(t, err, &se)
			mech, ack := srv.LastAck()
			assert.Equal(t, tc.mech, mech)
			assert.Equal(t, tc.ack, ack)
		})
	}
}

func TestEnhancedStatusCodes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		reply    smtptest.Reply
		sentinel error
		attempts int64 // AUTH commands seen
	}{
		{"SMTP AUTH disabled", smtptest.ReplyAuthDisabled, smtpauth.ErrSMTPAuthDisabled, 1},
		{"basic auth disabled", smtptest.ReplyBasicAuthDisabled, smtpauth.ErrBasicAuthDisabled, 1},
		{"5.7.3", smtptest.ReplyAuthUnsuccessful, smtpauth.ErrAuthUnsuccessful, 2},
		{"token expires soon", smtptest.ReplyTokenExpiresSoon, smtpauth.ErrTokenExpiresSoon, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			srv := e.server(smtptest.Options{})
			srv.FailNextAuth(tc.reply, tc.reply)
			_, err := smtpauth.DialStartTLS(ctxT(t), srv.Addr(), &smtpauth.Options{Token: e.appSource(), Mailbox: sender, TLSConfig: e.tlsConfig()})
			require.ErrorIs(t, err, tc.sentinel)
			var ae *mailauth.AuthError
			require.ErrorAs(t, err, &ae)
			assert.NotEmpty(t, ae.Hint)
			assert.Equal(t, fmt.Sprintf("%d %d.%d.%d", tc.reply.Code, tc.reply.Enhanced[0], tc.reply.Enhanced[1], tc.reply.Enhanced[2]), ae.Code)
			assert.Equal(t, tc.attempts, srv.Stats().AuthAttempts)
			assert.Equal(t, tc.attempts, e.idp.Requests(fakeidp.GrantClientCredentials), "one fresh token per retry")
			assert.Equal(t, tc.attempts == 2, ae.Retried)
		})
	}
}

func TestRetryOnceThenSucceed(t *testing.T) {
	e := newEnv(t)
	srv := e.server(smtptest.Options{})
	srv.FailNextAuth(smtptest.ReplyAuthUnsuccessful)
	src := e.appSource()
	err := smtpauth.SendMail(ctxT(t), srv.Addr(), &smtpauth.Options{Token: src, Mailbox: sender, TLSConfig: e.tlsConfig()},
		sender, []string{"bob@example.com"}, strings.NewReader(msg))
	require.NoError(t, err)
	assert.Equal(t, int64(2), e.idp.Requests(fakeidp.GrantClientCredentials), "exactly two token requests")
	assert.Equal(t, int64(2), srv.Stats().AuthAttempts)
	assert.Len(t, srv.Messages(), 1)
}

func TestSendErrors(t *testing.T) {
	e := newEnv(t)
	srv := e.server(smtptest.Options{})
	opts := &smtpauth.Options{Token: e.appSource(), Mailbox: sender, TLSConfig: e.tlsConfig()}

	srv.FailNextMail(smtptest.ReplyMailboxLogonFailed)
	err := smtpauth.SendMail(ctxT(t), srv.Addr(), opts, sender, []string{"bob@example.com"}, strings.NewReader(msg))
	var mae *mailauth.MailboxAccessError
	require.ErrorAs(t, err, &mae)
	assert.Equal(t, "SMTP", mae.Protocol)
	assert.Equal(t, sender, mae.Mailbox)
	assert.Equal(t, "430 4.2.0", mae.Code)
	assert.Equal(t, "app "+appID, mae.Identity.Principal())
	assert.Contains(t, mae.Error(), "Add-MailboxPermission")
	var se *smtpauth.SendError

	err = smtpauth.SendMail(ctxT(t), srv.Addr(), opts, shared, []string{"bob@example.com"}, strings.NewReader(msg))
	require.ErrorIs(t, err, smtpauth.ErrSendAsDenied)
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "DATA", se.Stage)
	assert.Contains(t, se.Error(), "Add-RecipientPermission")

	srv.GrantSendAs(sender, shared)
	require.NoError(t, smtpauth.SendMail(ctxT(t), srv.Addr(), opts, shared, []string{"bob@example.com"}, strings.NewReader(msg)))
}

func TestPlaintextRefused(t *testing.T) {
	e := newEnv(t)
	srv := e.server(smtptest.Options{Mode: smtptest.Plaintext})
	src := e.appSource()
	_, err := smtpauth.DialStartTLS(ctxT(t), srv.Addr(), &smtpauth.Options{Token: src, Mailbox: sender, TLSConfig: e.tlsConfig()})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "STARTTLS")

	conn, err := net.Dial("tcp", srv.Addr())
	require.NoError(t, err)
	_, err = smtpauth.NewClient(ctxT(t), conn, &smtpauth.Options{Token: src, Mailbox: sender})
	assert.ErrorIs(t, err, mailauth.ErrInsecure)

	// InsecureAllowPlaintext is honoured on loopback only: the same server seen from a
	// routable address is refused, before any token is fetched.
	conn, err = net.Dial("tcp", srv.Addr())
	require.NoError(t, err)
	_, err = smtpauth.NewClient(ctxT(t), farConn{conn}, &smtpauth.Options{Token: src, Mailbox: sender, InsecureAllowPlaintext: true})
	assert.ErrorIs(t, err, mailauth.ErrInsecure)
	assert.ErrorContains(t, err, "192.0.2.25")
	assert.Equal(t, int64(0), srv.Stats().AuthAttempts)
	assert.Equal(t, int64(0), e.idp.TotalRequests(), "no token fetched")

	conn, err = net.Dial("tcp", srv.Addr())
	require.NoError(t, err)
	c, err := smtpauth.NewClient(ctxT(t), conn, &smtpauth.Options{Token: src, Mailbox: sender, InsecureAllowPlaintext: true})
	require.NoError(t, err)
	require.NoError(t, c.SendMail(ctxT(t), sender, []string{"bob@example.com"}, strings.NewReader(msg)))
	require.NoError(t, c.Quit())
}

// farConn is a connection that reports a routable peer address.
type farConn struct{ net.Conn }

func (farConn) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(192, 0, 2, 25), Port: 25} }

func TestNilOptions(t *testing.T) {
	_, err := smtpauth.DialStartTLS(ctxT(t), "127.0.0.1:1", nil)
	assert.EqualError(t, err, "smtpauth: Options.Token must be set")
	_, err = smtpauth.DialTLS(ctxT(t), "127.0.0.1:1", &smtpauth.Options{Token: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "x"})})
	assert.EqualError(t, err, "smtpauth: Options.Mailbox must be set")
}

func TestManyDialsOneTokenRequest(t *testing.T) {
	e := newEnv(t)
	srv := e.server(smtptest.Options{})
	opts := &smtpauth.Options{Token: e.appSource(), Mailbox: sender, TLSConfig: e.tlsConfig()}
	const n = 6
	for i := 0; i < n; i++ {
		c, err := smtpauth.DialStartTLS(ctxT(t), srv.Addr(), opts)
		require.NoError(t, err)
		c.Close()
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- smtpauth.SendMail(ctxT(t), srv.Addr(), opts, sender, []string{"bob@example.com"}, strings.NewReader(msg))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, int64(1), e.idp.TotalRequests())
	assert.Len(t, srv.Messages(), n)
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
			defer c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = smtpauth.DialStartTLS(ctx, ln.Addr().String(), &smtpauth.Options{Token: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "x"}), Mailbox: "a@b"})
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 2*time.Second)
}

// SendMailOptions passes MAIL and RCPT parameters the server advertises; asking for
// SMTPUTF8 from a server without it fails before anything is sent.
func TestSendMailOptions(t *testing.T) {
	e := newEnv(t)
	srv := e.server(smtptest.Options{DSN: true, SMTPUTF8: true})
	opts := &smtpauth.Options{Token: e.appSource(), Mailbox: sender, TLSConfig: e.tlsConfig()}
	c, err := smtpauth.DialStartTLS(ctxT(t), srv.Addr(), opts)
	require.NoError(t, err)
	defer c.Close()
	mo := &smtpauth.MessageOptions{
		Mail: &smtp.MailOptions{Size: int64(len(msg)), UTF8: true, Return: smtp.DSNReturnFull, EnvelopeID: "id-1"},
		Rcpt: []*smtp.RcptOptions{{Notify: []smtp.DSNNotify{smtp.DSNNotifyFailure}}}, // none for the second
	}
	require.NoError(t, c.SendMailOptions(ctxT(t), sender, []string{"bob@example.com", "jörg@example.com"}, strings.NewReader(msg), mo))
	require.NoError(t, c.Quit())
	msgs := srv.Messages()
	require.Len(t, msgs, 1)
	m := msgs[0]
	assert.True(t, m.Mail.UTF8)
	assert.Equal(t, int64(len(msg)), m.Mail.Size)
	assert.Equal(t, smtp.DSNReturnFull, m.Mail.Return)
	assert.Equal(t, "id-1", m.Mail.EnvelopeID)
	require.Len(t, m.Rcpt, 2)
	assert.Equal(t, []smtp.DSNNotify{smtp.DSNNotifyFailure}, m.Rcpt[0].Notify)
	assert.Empty(t, m.Rcpt[1].Notify)

	plain := e.server(smtptest.Options{})
	c, err = smtpauth.DialStartTLS(ctxT(t), plain.Addr(), opts)
	require.NoError(t, err)
	defer c.Close()
	err = c.SendMailOptions(ctxT(t), sender, []string{"jörg@example.com"}, strings.NewReader(msg), mo)
	assert.ErrorContains(t, err, "SMTPUTF8")
	assert.Empty(t, plain.Messages())
}
