package interop

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/popauth"
)

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func (l *lab) popDial(ctx context.Context, implicit bool, o *popauth.Options) (*popauth.Client, error) {
	o.TLSConfig = l.tls
	if implicit {
		return popauth.DialTLS(ctx, l.dc.POP3SAddr, o)
	}
	return popauth.DialStartTLS(ctx, l.dc.POP3Addr, o)
}

func TestPOP3Login(t *testing.T) {
	l := newLab(t)
	for _, tc := range []struct {
		name     string
		implicit bool
		mech     string
	}{
		{"stls/xoauth2", false, popauth.XOAuth2},
		{"stls/oauthbearer", false, popauth.OAuthBearer},
		{"implicit/xoauth2", true, popauth.XOAuth2},
		{"implicit/oauthbearer", true, popauth.OAuthBearer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxFor(t, 20*time.Second)
			src := newSource(l.token(t, alice))
			c, err := l.popDial(ctx, tc.implicit, &popauth.Options{Mailbox: alice, Token: src, Mechanism: tc.mech, Dialer: from127002()})
			require.NoError(t, err, "login")
			defer c.Quit(ctx)
			assert.True(t, c.IsTLS())
			assert.True(t, c.SupportsMechanism(tc.mech))
			assert.Equal(t, tc.mech, c.Mechanism())
			n, _, err := c.Stat(ctx)
			require.NoError(t, err)
			require.GreaterOrEqual(t, n, 1)
			r, err := c.Retr(ctx, 1)
			require.NoError(t, err)
			body, err := io.ReadAll(r)
			require.NoError(t, err)
			assert.Contains(t, string(body), "Subject: Welcome Alice\r\n")
			assert.Contains(t, string(body), "\r\n.dot line\r\n", "dot-unstuffed against Dovecot")
			uids, err := c.UIDL(ctx)
			require.NoError(t, err)
			assert.Len(t, uids, n)
			top, err := c.Top(ctx, 1, 0)
			require.NoError(t, err)
			head, err := io.ReadAll(top)
			require.NoError(t, err)
			assert.NotContains(t, string(head), "Hello alice")
			assert.Equal(t, int64(1), src.fetches.Load())
		})
	}
}

func TestPOP3BadTokensFailTyped(t *testing.T) {
	l := newLab(t)
	for _, tc := range []struct {
		name, mech, status, reason string
		tok                        func(testing.TB, string) string
	}{
		{"expired/xoauth2", popauth.XOAuth2, "401", "Token has expired", l.expiredToken},
		{"expired/oauthbearer", popauth.OAuthBearer, "invalid_token", "Token has expired", l.expiredToken},
		{"forged/xoauth2", popauth.XOAuth2, "401", "Bad signature", l.forgedToken},
		{"forged/oauthbearer", popauth.OAuthBearer, "invalid_token", "Bad signature", l.forgedToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxFor(t, 20*time.Second)
			src := newSource(tc.tok(t, alice))
			mark := l.logMark()
			start := time.Now()
			_, err := l.popDial(ctx, true, &popauth.Options{Mailbox: alice, Token: src, Mechanism: tc.mech})
			elapsed := time.Since(start)
			var ae *mailauth.AuthError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tc.status, ae.Status(), "JSON status of Dovecot's error challenge")
			assert.Equal(t, popauth.CodeAuth, ae.Code)
			assert.True(t, ae.Retried, "one retry after Invalidate")
			assert.Equal(t, int64(2), src.fetches.Load(), "exactly one retry")
			assert.Less(t, elapsed, bounded)
			assert.NotContains(t, err.Error(), src.tok)
			assert.Eventually(t, func() bool { return strings.Contains(l.logSince(mark), tc.reason) }, 3*time.Second, 50*time.Millisecond,
				"Dovecot's log should give the reason %q", tc.reason)
		})
	}
}

func TestPOP3BigToken(t *testing.T) {
	l := newLab(t)
	for _, implicit := range []bool{false, true} {
		ctx := ctxFor(t, 20*time.Second)
		c, err := l.popDial(ctx, implicit, &popauth.Options{Mailbox: alice, Token: newSource(l.bigToken(t, alice))})
		require.NoError(t, err, "a >= 2 KB token, implicit=%v", implicit)
		require.NoError(t, c.Quit(ctx))
	}
}

func TestPOP3UserWithoutMailboxIsAnError(t *testing.T) {
	l := newLab(t)
	ctx := ctxFor(t, 20*time.Second)
	start := time.Now()
	_, err := l.popDial(ctx, true, &popauth.Options{Mailbox: "nobody@example.com", Token: newSource(l.token(t, "nobody@example.com"))})
	var ae *mailauth.AuthError
	require.ErrorAs(t, err, &ae, "Dovecot closes the connection without a reply")
	assert.Contains(t, ae.Hint, "mailbox does not exist")
	assert.Less(t, time.Since(start), bounded)
}

func TestPOP3PlaintextFrom127002RefusedBeforeToken(t *testing.T) {
	l := newLab(t)
	ctx := ctxFor(t, 20*time.Second)
	mark := l.logMark()
	conn, err := from127002().DialContext(ctx, "tcp", l.dc.POP3Addr)
	require.NoError(t, err)
	src := newSource(l.token(t, alice))
	_, err = popauth.NewClient(ctx, conn, &popauth.Options{Mailbox: alice, Token: src})
	require.ErrorIs(t, err, mailauth.ErrInsecure)
	assert.Equal(t, int64(0), src.fetches.Load(), "no token was even fetched")
	assert.NotContains(t, l.logSince(mark), "oauth2(", "Dovecot's auth process saw no token")

	// Dovecot agrees the connection is not secure: it hides the mechanisms.
	raw, err := from127002().DialContext(ctx, "tcp", l.dc.POP3Addr)
	require.NoError(t, err)
	defer raw.Close()
	c, err := popauth.NewClient(ctx, raw, nil)
	require.NoError(t, err)
	assert.False(t, c.SupportsMechanism("XOAUTH2"), "Dovecot lists no SASL mechanism before TLS for a non-local client")
	assert.True(t, c.HasCapability("STLS"))
	var _ net.Conn = raw
}
