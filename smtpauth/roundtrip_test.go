package smtpauth_test

import (
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth/imapauth"
	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/internal/fake/imaptest"
	"github.com/modernauth/mailauth/internal/fake/smtptest"
	"github.com/modernauth/mailauth/smtpauth"
)

// Sent over SMTP, read back over IMAP, both authenticated with tokens from one IdP.
func TestSendThenReadBackOverIMAP(t *testing.T) {
	e := newEnv(t)
	imapSrv, err := imaptest.New(imaptest.Options{Verify: e.idp.Verify, TLSConfig: e.ca.ServerConfig()})
	require.NoError(t, err)
	defer imapSrv.Close()
	imapSrv.AddMailbox("bob@contoso.test")
	smtpSrv := e.server(smtptest.Options{OnMessage: func(m smtptest.Message) {
		for _, rcpt := range m.To {
			_ = imapSrv.Deliver(rcpt, m.Data)
		}
	}})

	subject := "round trip " + time.Now().Format(time.RFC3339Nano)
	msg := "From: noreply@contoso.test\r\nTo: bob@contoso.test\r\nSubject: " + subject + "\r\n\r\nhello bob\r\n"
	require.NoError(t, smtpauth.SendMail(ctxT(t), smtpSrv.Addr(), &smtpauth.Options{Token: e.appSource(), Mailbox: sender, TLSConfig: e.tlsConfig()},
		sender, []string{"bob@contoso.test"}, strings.NewReader(msg)))

	bob := e.mint(fakeidp.Claims{UPN: "bob@contoso.test", Scp: []string{"IMAP.AccessAsUser.All"}})
	c, err := imapauth.DialTLS(ctxT(t), imapSrv.Addr(), &imapauth.Options{Token: oauth2.StaticTokenSource(bob), Mailbox: "bob@contoso.test", TLSConfig: e.tlsConfig()})
	require.NoError(t, err)
	defer c.Close()
	sel, err := c.Select("INBOX", nil).Wait()
	require.NoError(t, err)
	require.Equal(t, uint32(1), sel.NumMessages)
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Envelope: true}).Collect()
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	assert.Equal(t, subject, msgs[0].Envelope.Subject)
}
