package interop

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/imapauth"
	"github.com/modernauth/mailauth/popauth"
	"github.com/modernauth/mailauth/smtpauth"
)

func (l *lab) smtpDial(ctx context.Context, implicit bool, o *smtpauth.Options) (*smtpauth.Client, error) {
	o.TLSConfig = l.tls
	if implicit {
		return smtpauth.DialTLS(ctx, l.dc.SubmissionsAddr, o)
	}
	return smtpauth.DialStartTLS(ctx, l.dc.SubmissionAddr, o)
}

func TestSubmissionLogin(t *testing.T) {
	l := newLab(t)
	for _, tc := range []struct {
		name     string
		implicit bool
		mech     string
	}{
		{"starttls/xoauth2", false, smtpauth.XOAuth2},
		{"starttls/oauthbearer", false, smtpauth.OAuthBearer},
		{"implicit/xoauth2", true, smtpauth.XOAuth2},
		{"implicit/oauthbearer", true, smtpauth.OAuthBearer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxFor(t, 20*time.Second)
			src := newSource(l.token(t, alice))
			c, err := l.smtpDial(ctx, tc.implicit, &smtpauth.Options{Mailbox: alice, Token: src, Mechanism: tc.mech, Dialer: from127002()})
			require.NoError(t, err, "login")
			defer c.Close()
			assert.Equal(t, tc.mech, c.Mechanism())
			require.NoError(t, c.Noop())
			assert.Equal(t, int64(1), src.fetches.Load())
		})
	}
}

func TestSubmissionBadTokensFailTyped(t *testing.T) {
	l := newLab(t)
	for _, tc := range []struct {
		name, mech, status string
		tok                func(testing.TB, string) string
	}{
		{"expired/xoauth2", smtpauth.XOAuth2, "401", l.expiredToken},
		{"expired/oauthbearer", smtpauth.OAuthBearer, "invalid_token", l.expiredToken},
		{"forged/xoauth2", smtpauth.XOAuth2, "401", l.forgedToken},
		{"forged/oauthbearer", smtpauth.OAuthBearer, "invalid_token", l.forgedToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxFor(t, 20*time.Second)
			src := newSource(tc.tok(t, alice))
			start := time.Now()
			_, err := l.smtpDial(ctx, false, &smtpauth.Options{Mailbox: alice, Token: src, Mechanism: tc.mech})
			elapsed := time.Since(start)
			var ae *mailauth.AuthError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tc.status, ae.Status(), "JSON status of Dovecot's error challenge")
			var se *smtp.SMTPError
			if assert.ErrorAs(t, err, &se) {
				assert.Equal(t, 535, se.Code)
			}
			assert.Equal(t, int64(2), src.fetches.Load(), "exactly one retry with a fresh token")
			assert.Less(t, elapsed, bounded, "no hang")
			assert.NotContains(t, err.Error(), src.tok)
		})
	}
}

func TestSubmissionBigToken(t *testing.T) {
	// Dovecot refuses a one-line AUTH of 1,033 bytes or more; a 2 KB token
	// works only if smtpauth leaves the initial response out.
	l := newLab(t)
	for _, implicit := range []bool{false, true} {
		ctx := ctxFor(t, 20*time.Second)
		c, err := l.smtpDial(ctx, implicit, &smtpauth.Options{Mailbox: alice, Token: newSource(l.bigToken(t, alice))})
		require.NoError(t, err, "a >= 2 KB token, implicit=%v", implicit)
		require.NoError(t, c.Quit())
	}
}

func TestSubmissionPlaintextFrom127002RefusedBeforeToken(t *testing.T) {
	l := newLab(t)
	ctx := ctxFor(t, 20*time.Second)
	mark := l.logMark()
	conn, err := from127002().DialContext(ctx, "tcp", l.dc.SubmissionAddr)
	require.NoError(t, err)
	src := newSource(l.token(t, alice))
	_, err = smtpauth.NewClient(ctx, conn, &smtpauth.Options{Mailbox: alice, Token: src})
	require.ErrorIs(t, err, mailauth.ErrInsecure)
	assert.Equal(t, int64(0), src.fetches.Load(), "no token was even fetched")
	assert.NotContains(t, l.logSince(mark), "oauth2(", "Dovecot's auth process saw no token")

	conn, err = from127002().DialContext(ctx, "tcp", l.dc.SubmissionAddr)
	require.NoError(t, err)
	c := smtp.NewClient(conn)
	defer c.Close()
	require.NoError(t, c.Hello("client.example.com"))
	ok, _ := c.Extension("STARTTLS")
	assert.True(t, ok)
	assert.False(t, c.SupportsAuth("XOAUTH2"), "Dovecot lists no mechanism before TLS for a non-local client")
}

func TestSubmittedMessageReadBackOverIMAPAndPOP3(t *testing.T) {
	l := newLab(t)
	ctx := ctxFor(t, 30*time.Second)
	subject := fmt.Sprintf("interop %d", time.Now().UnixNano())
	msg := "From: <alice@example.com>\r\nTo: <bob@example.com>\r\nSubject: " + subject +
		"\r\nMessage-ID: <" + subject[8:] + "@example.com>\r\n\r\nHi Bob.\r\n.a line that starts with a dot\r\n"

	c, err := l.smtpDial(ctx, false, &smtpauth.Options{Mailbox: alice, Token: newSource(l.token(t, alice))})
	require.NoError(t, err)
	require.NoError(t, c.SendMail(ctx, alice, []string{bob}, strings.NewReader(msg)))
	require.NoError(t, c.Quit())
	relayed := l.dc.Relayed()
	require.NotEmpty(t, relayed)
	last := relayed[len(relayed)-1]
	assert.Equal(t, []string{bob}, last.To)
	assert.Contains(t, string(last.Data), "Subject: "+subject)
	require.NoError(t, last.Delivered, "LMTP delivery into bob's INBOX")

	bobSrc := newSource(l.token(t, bob))
	ic, err := l.imapDial(ctx, true, &imapauth.Options{Mailbox: bob, Token: bobSrc})
	require.NoError(t, err)
	defer ic.Close()
	assert.Contains(t, imapSubjects(t, ic), subject, "read back over IMAP")

	pc, err := l.popDial(ctx, true, &popauth.Options{Mailbox: bob, Token: bobSrc})
	require.NoError(t, err)
	defer pc.Quit(ctx)
	list, err := pc.List(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, list)
	r, err := pc.Retr(ctx, list[len(list)-1].Number)
	require.NoError(t, err)
	body, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.Contains(t, string(body), "Subject: "+subject+"\r\n", "read back over POP3")
	assert.Contains(t, string(body), "\r\n.a line that starts with a dot\r\n", "dot-stuffing undone end to end")
}
