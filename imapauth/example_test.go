package imapauth_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"time"

	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/imapauth"
	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/internal/fake/imaptest"
	"github.com/modernauth/mailauth/internal/fake/testpki"
)

// Open a shared mailbox with a token. The in-process IdP and IMAP server stand in for
// Entra ID and outlook.office365.com:993.
func ExampleDial() {
	idp, _ := fakeidp.New(fakeidp.Options{})
	defer idp.Close()
	idp.AddUser(fakeidp.User{TenantID: "contoso", UPN: "alice@contoso.test"})
	ca, _ := testpki.New()
	srv, _ := imaptest.New(imaptest.Options{Verify: idp.Verify, TLSConfig: ca.ServerConfig()})
	defer srv.Close()
	srv.AddMailbox("shared@contoso.test", "alice@contoso.test") // alice has FullAccess
	_ = srv.Deliver("shared@contoso.test", []byte("Subject: hello\r\n\r\nhi\r\n"))

	// Any oauth2.TokenSource works; a tokencache source also gives one retry with a
	// fresh token when the server refuses a cached one.
	tok, _ := idp.Mint(fakeidp.Claims{UPN: "alice@contoso.test", Audience: "https://outlook.office365.com",
		Scp: []string{"IMAP.AccessAsUser.All"}, ExpiresAt: time.Now().Add(time.Hour)})
	src := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok})

	ctx := context.Background()
	c, err := imapauth.DialTLS(ctx, srv.Addr(), &imapauth.Options{
		Token:     src,
		Mailbox:   "shared@contoso.test",
		TLSConfig: &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	mbox, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.Mechanism(), "as", c.Identity().UPN, "- INBOX has", mbox.NumMessages, "message(s)")

	// A mailbox the server does not know: AUTHENTICATE fails with a typed error.
	_, err = imapauth.DialTLS(ctx, srv.Addr(), &imapauth.Options{Token: src, Mailbox: "ceo@contoso.test",
		TLSConfig: &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}})
	var ae *mailauth.AuthError
	fmt.Println("other mailbox refused:", errors.As(err, &ae))
	// Output:
	// XOAUTH2 as alice@contoso.test - INBOX has 1 message(s)
	// other mailbox refused: true
}

// Keep an IDLE session open for a day: Session re-dials with a fresh token from the
// source before each token expires, and after "* BYE ... AccessTokenExpired".
func ExampleSession() {
	var src oauth2.TokenSource // e.g. a tokencache source for the IMAP scope
	s := &imapauth.Session{
		Addr:    "outlook.office365.com:993",
		Options: &imapauth.Options{Token: src, Mailbox: "shared@contoso.com"},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 24*time.Hour)
	defer cancel()
	err := s.Run(ctx, func(ctx context.Context, c *imapauth.Conn) error {
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			return c.Err(err)
		}
		return imapauth.Idle(ctx, c) // returns when ctx ends: Run then reconnects
	})
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Fatal(err)
	}
}
