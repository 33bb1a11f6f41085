package doctor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/modernauth/mailauth"

	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth/smtpauth"
)

func checkSMTP(ctx context.Context, t Target, src oauth2.TokenSource) Result {
	addr := t.SMTPAddr
	if addr == "" {
		addr = t.Cloud.SMTPAddr()
	}
	opts := &smtpauth.Options{Token: src, Mailbox: t.Mailbox, TLSConfig: t.TLS, Logger: t.Logger, DebugWriter: t.Transcript}
	dial := smtpauth.DialStartTLS
	if implicitTLS(addr) {
		dial = smtpauth.DialTLS
	}
	c, err := dial(ctx, addr, opts)
	if err != nil {
		switch {
		case errors.Is(err, smtpauth.ErrTokenExpiresSoon):
			return fail("the token expires too soon for this endpoint (501 5.5.127)", "use a token with at least 10 minutes left (a tokencache source refreshes 10 minutes before expiry)", err)
		case errors.Is(err, smtpauth.ErrNoOAuthMechanism):
			return fail("the server offers no OAuth mechanism (no AUTH XOAUTH2)", fmt.Sprintf("SMTP AUTH may be disabled: Set-CASMailbox -Identity %s -SmtpClientAuthenticationDisabled $false", t.Mailbox), err)
		}
		return explainAuth(ctx, t, src, SMTP, err)
	}
	defer c.Close()
	detail := fmt.Sprintf("%s %s as %s (EHLO, AUTH)", addr, c.Mechanism(), t.Mailbox)
	if t.SendTestTo != "" {
		msg := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: mailauth mailcheck test\r\nDate: %s\r\nMessage-ID: <mailcheck-%d@mailauth>\r\n\r\nThis message was sent by mailauth's mailcheck to test SMTP with OAuth.\r\n",
			t.Mailbox, t.SendTestTo, time.Now().Format(time.RFC1123Z), time.Now().UnixNano())
		if err := c.SendMail(ctx, t.Mailbox, []string{t.SendTestTo}, strings.NewReader(msg)); err != nil {
			switch {
			case errors.Is(err, smtpauth.ErrSendAsDenied):
				return fail("the authenticated principal may not send as "+t.Mailbox+" (SendAsDenied)",
					fmt.Sprintf("Add-RecipientPermission -Identity %s -Trustee <user or service principal> -AccessRights SendAs", t.Mailbox), err)
			case errors.As(err, new(*mailauth.MailboxAccessError)):
				return explainAuth(ctx, t, src, SMTP, err)
			}
			return explainOther(t, SMTP, err)
		}
		detail += ", test message sent to " + t.SendTestTo
	}
	_ = c.Quit()
	return Result{OK: true, Detail: detail}
}
