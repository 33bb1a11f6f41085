package smtpauth_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/internal/fake/smtptest"
	"github.com/modernauth/mailauth/internal/fake/testpki"
	"github.com/modernauth/mailauth/smtpauth"
)

// Send a message through submission with STARTTLS. The in-process IdP and SMTP server
// stand in for Entra ID and smtp.office365.com:587.
func ExampleSendMail() {
	idp, _ := fakeidp.New(fakeidp.Options{})
	defer idp.Close()
	ca, _ := testpki.New()
	srv, _ := smtptest.New(smtptest.Options{Verify: idp.Verify, TLSConfig: ca.ServerConfig()})
	defer srv.Close()

	tok, _ := idp.Mint(fakeidp.Claims{UPN: "alice@contoso.test", Audience: "https://outlook.office365.com",
		Scp: []string{"SMTP.Send"}, ExpiresAt: time.Now().Add(time.Hour)})
	opts := &smtpauth.Options{
		Token:     oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok}),
		Mailbox:   "alice@contoso.test",
		TLSConfig: &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"},
	}
	msg := "From: alice@contoso.test\r\nTo: bob@example.com\r\nSubject: hi\r\n\r\nhello\r\n"
	ctx := context.Background()
	if err := smtpauth.SendMail(ctx, srv.Addr(), opts, "alice@contoso.test", []string{"bob@example.com"}, strings.NewReader(msg)); err != nil {
		log.Fatal(err)
	}
	fmt.Println("delivered:", len(srv.Messages()))

	// What an admin sees when SMTP AUTH is switched off for the tenant.
	srv.FailNextAuth(smtptest.ReplyAuthDisabled)
	err := smtpauth.SendMail(ctx, srv.Addr(), opts, "alice@contoso.test", []string{"bob@example.com"}, strings.NewReader(msg))
	fmt.Println("SMTP AUTH disabled:", errors.Is(err, smtpauth.ErrSMTPAuthDisabled))
	// Output:
	// delivered: 1
	// SMTP AUTH disabled: true
}
