package interop

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/imapauth"
	"github.com/modernauth/mailauth/popauth"
	"github.com/modernauth/mailauth/smtpauth"
)

// A valid 40 KB token (claims padded to 29 KiB; base64 makes it 40 KB) (a token with many group claims) is more than Dovecot
// reads in one authentication line: every protocol fails, and the error
// names the token's size instead of blaming mailbox permissions.
func TestHugeTokenCauseNamed(t *testing.T) {
	l := newLab(t)
	c := l.claims(alice)
	c.Extra = map[string]any{"xms_pad": strings.Repeat("g", 29<<10)}
	tok := l.mint(t, c)
	size := fmt.Sprintf("token is %d bytes", len(tok))
	check := func(proto string, err error) {
		t.Helper()
		t.Logf("%s: %v", proto, err)
		if err == nil {
			t.Logf("%s: Dovecot accepted a %d-byte token", proto, len(tok))
			return
		}
		var ae *mailauth.AuthError
		require.True(t, errors.As(err, &ae), "%s: %v", proto, err)
		require.Contains(t, err.Error(), size, proto)
		require.NotEmpty(t, ae.ServerText, proto)
		require.False(t, ae.Retried, "%s: a token of the same size would fail the same way; no retry", proto)
	}
	ctx := ctxFor(t, 30*time.Second)
	ic, err := l.imapDial(ctx, false, &imapauth.Options{Mailbox: alice, Token: newSource(tok)})
	if err == nil {
		_ = ic.Logout().Wait()
	}
	check("IMAP", err)
	pc, err := l.popDial(ctx, true, &popauth.Options{Mailbox: alice, Token: newSource(tok)})
	if err == nil {
		_ = pc.Quit(ctx)
	}
	check("POP3", err)
	sc, err := l.smtpDial(ctx, true, &smtpauth.Options{Mailbox: alice, Token: newSource(tok)})
	if err == nil {
		_ = sc.Quit()
	}
	check("SMTP", err)
}
