package interop

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/imapauth"
	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/internal/interop/dovecot"
	"github.com/modernauth/mailauth/popauth"
	"github.com/modernauth/mailauth/smtpauth"
	"github.com/modernauth/mailauth/tokencache"
)

// TestThroughTokenCache runs the whole chain: a device-code sign-in with
// MSAL Go against the fake Entra ID, delegated tokens from the token cache
// (their azp names the app, so Dovecot looks the key up under it), and
// logins to Dovecot over IMAP, POP3 and submission. Many logins, sequential
// and concurrent, make one token request per protocol scope.
func TestThroughTokenCache(t *testing.T) {
	const clientID = "mail-app"
	l := newLabWith(t, fakeidp.Options{DefaultUser: alice, AutoApproveDevice: true}, func(o *dovecot.Options) {
		o.AZPs = []string{clientID}
		o.Scope = "" // each protocol's token carries only its own scope
	})
	l.idp.AddUser(fakeidp.User{TenantID: tenant, UPN: alice})
	l.idp.AddApp(fakeidp.App{TenantID: tenant, ClientID: clientID})
	c := cloud.Global
	c.AuthorityHost = l.idp.URL()
	cache := tokencache.New(&tokencache.Options{HTTPClient: l.idp.HTTPClient()})
	user, err := cache.Delegated(tokencache.DelegatedConfig{Cloud: c, TenantID: tenant, ClientID: clientID, Account: alice})
	require.NoError(t, err)
	ctx := ctxFor(t, 60*time.Second)
	require.NoError(t, user.SignInDeviceCode(ctx, func(tokencache.DeviceCode) {}))
	l.idp.ResetCounters()

	popSrc := user.Source(c.DelegatedScopes(cloud.POP)...)
	imapSrc := user.Source(c.DelegatedScopes(cloud.IMAP)...)
	smtpSrc := user.Source(c.DelegatedScopes(cloud.SMTP)...)
	login := func() error {
		pc, err := popauth.DialTLS(ctx, l.dc.POP3SAddr, &popauth.Options{Mailbox: alice, Token: popSrc, TLSConfig: l.tls})
		if err != nil {
			return err
		}
		pc.Quit(ctx)
		ic, err := imapauth.DialTLS(ctx, l.dc.IMAPSAddr, &imapauth.Options{Mailbox: alice, Token: imapSrc, TLSConfig: l.tls})
		if err != nil {
			return err
		}
		ic.Close()
		sc, err := smtpauth.DialStartTLS(ctx, l.dc.SubmissionAddr, &smtpauth.Options{Mailbox: alice, Token: smtpSrc, TLSConfig: l.tls})
		if err != nil {
			return err
		}
		return sc.Quit()
	}
	const n = 3
	for i := 0; i < n; i++ {
		require.NoError(t, login(), "sequential login %d", i)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- login() }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err, "concurrent login")
	}
	assert.Equal(t, int64(3), l.idp.TotalRequests(), "one token per protocol scope for %d logins each", 2*n)
}

// TestUserWithoutMailboxIsAnErrorNotAHang: Dovecot accepts the token of a
// user missing from its userdb and then closes the connection without a
// reply; every client must turn that into an error quickly.
func TestUserWithoutMailboxIsAnErrorNotAHang(t *testing.T) {
	l := newLab(t)
	const ghost = "ghost@example.com"
	ctx := ctxFor(t, 30*time.Second)
	for name, dial := range map[string]func() error{
		"imap": func() error {
			_, err := imapauth.DialTLS(ctx, l.dc.IMAPSAddr, &imapauth.Options{Mailbox: ghost, Token: newSource(l.token(t, ghost)), TLSConfig: l.tls})
			return err
		},
		"pop3": func() error {
			_, err := popauth.DialTLS(ctx, l.dc.POP3SAddr, &popauth.Options{Mailbox: ghost, Token: newSource(l.token(t, ghost)), TLSConfig: l.tls})
			return err
		},
		"submission": func() error {
			_, err := smtpauth.DialStartTLS(ctx, l.dc.SubmissionAddr, &smtpauth.Options{Mailbox: ghost, Token: newSource(l.token(t, ghost)), TLSConfig: l.tls})
			return err
		},
	} {
		start := time.Now()
		err := dial()
		assert.Error(t, err, name)
		assert.Less(t, time.Since(start), bounded, "%s: no hang", name)
	}
}
