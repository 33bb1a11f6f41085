package interop

import (
	"context"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/imapauth"
)

func (l *lab) imapDial(ctx context.Context, startTLS bool, o *imapauth.Options) (*imapauth.Conn, error) {
	o.TLSConfig = l.tls
	if startTLS {
		return imapauth.DialStartTLS(ctx, l.dc.IMAPAddr, o)
	}
	return imapauth.DialTLS(ctx, l.dc.IMAPSAddr, o)
}

// imapSubjects selects INBOX and returns the subjects of all its messages.
func imapSubjects(t *testing.T, c *imapauth.Conn) []string {
	t.Helper()
	sel, err := c.Select("INBOX", nil).Wait()
	require.NoError(t, err, "SELECT INBOX")
	if sel.NumMessages == 0 {
		return nil
	}
	var set imap.SeqSet
	set.AddRange(1, sel.NumMessages)
	msgs, err := c.Fetch(set, &imap.FetchOptions{Envelope: true}).Collect()
	require.NoError(t, err, "FETCH")
	var subjects []string
	for _, m := range msgs {
		subjects = append(subjects, m.Envelope.Subject)
	}
	return subjects
}

func TestIMAPLogin(t *testing.T) {
	l := newLab(t)
	for _, tc := range []struct {
		name     string
		startTLS bool
		mech     string
	}{
		{"starttls/xoauth2", true, imapauth.XOAuth2},
		{"starttls/oauthbearer", true, imapauth.OAuthBearer},
		{"implicit/xoauth2", false, imapauth.XOAuth2},
		{"implicit/oauthbearer", false, imapauth.OAuthBearer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxFor(t, 20*time.Second)
			src := newSource(l.token(t, alice))
			c, err := l.imapDial(ctx, tc.startTLS, &imapauth.Options{Mailbox: alice, Token: src, Mechanism: tc.mech, Dialer: from127002()})
			require.NoError(t, err, "login")
			defer c.Close()
			assert.Equal(t, tc.mech, c.Mechanism())
			assert.Contains(t, imapSubjects(t, c), "Welcome Alice")
			assert.Equal(t, int64(1), src.fetches.Load())
		})
	}
}

func TestIMAPBadTokensFailTyped(t *testing.T) {
	l := newLab(t)
	for _, tc := range []struct {
		name, mech, status string
		tok                func(testing.TB, string) string
	}{
		{"expired/xoauth2", imapauth.XOAuth2, "401", l.expiredToken},
		{"expired/oauthbearer", imapauth.OAuthBearer, "invalid_token", l.expiredToken},
		{"forged/xoauth2", imapauth.XOAuth2, "401", l.forgedToken},
		{"forged/oauthbearer", imapauth.OAuthBearer, "invalid_token", l.forgedToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxFor(t, 20*time.Second)
			src := newSource(tc.tok(t, alice))
			start := time.Now()
			_, err := l.imapDial(ctx, false, &imapauth.Options{Mailbox: alice, Token: src, Mechanism: tc.mech})
			elapsed := time.Since(start)
			var ae *mailauth.AuthError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tc.status, ae.Status(), "JSON status of Dovecot's error challenge")
			assert.Equal(t, int64(2), src.fetches.Load(), "exactly one retry with a fresh token")
			assert.Less(t, elapsed, bounded, "no hang")
			assert.NotContains(t, err.Error(), src.tok)
		})
	}
}

func TestIMAPBigToken(t *testing.T) {
	l := newLab(t)
	for _, startTLS := range []bool{true, false} {
		ctx := ctxFor(t, 20*time.Second)
		c, err := l.imapDial(ctx, startTLS, &imapauth.Options{Mailbox: alice, Token: newSource(l.bigToken(t, alice))})
		require.NoError(t, err, "a >= 2 KB token, starttls=%v", startTLS)
		require.NoError(t, c.Logout().Wait())
	}
}

func TestIMAPPlaintextFrom127002RefusedBeforeToken(t *testing.T) {
	l := newLab(t)
	ctx := ctxFor(t, 20*time.Second)
	mark := l.logMark()
	conn, err := from127002().DialContext(ctx, "tcp", l.dc.IMAPAddr)
	require.NoError(t, err)
	c := imapclient.New(conn, nil)
	defer c.Close()
	require.NoError(t, c.WaitGreeting())
	src := newSource(l.token(t, alice))
	_, err = imapauth.Authenticate(ctx, c, &imapauth.Options{Mailbox: alice, Token: src, Conn: conn})
	require.ErrorIs(t, err, mailauth.ErrInsecure)
	assert.Equal(t, int64(0), src.fetches.Load(), "no token was even fetched")
	assert.NotContains(t, l.logSince(mark), "oauth2(", "Dovecot's auth process saw no token")
	caps, err := c.Capability().Wait()
	require.NoError(t, err)
	assert.True(t, caps.Has(imap.CapLoginDisabled), "Dovecot also treats 127.0.0.2 before STARTTLS as insecure")
	assert.False(t, caps.Has(imap.AuthCap("XOAUTH2")))
}
