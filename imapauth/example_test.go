package imapauth_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/imapauth"
	"github.com/modernauth/mailauth/mailauthtest"
	"github.com/modernauth/mailauth/tokencache"
)

// Open a shared mailbox with a delegate's token. The lab (package mailauthtest) stands in
// for Entra ID and outlook.office365.com; against Exchange Online, dial
// "outlook.office365.com:993" with DialTLS, sign in with User.SignInDeviceCode once, and
// leave TLSConfig nil.
func ExampleDial() {
	ctx := context.Background()
	lab, err := mailauthtest.Start(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer lab.Close()
	cache := tokencache.New(&tokencache.Options{HTTPClient: lab.HTTPClient()})
	alice, err := lab.SignIn(ctx, cache, "alice@contoso.test") // alice has FullAccess on shared@
	if err != nil {
		log.Fatal(err)
	}
	// Any oauth2.TokenSource works; a tokencache source also gives one retry with a
	// fresh token when the server refuses a cached one.
	src := alice.Source(lab.Cloud().DelegatedScopes("imap")...)

	c, err := imapauth.DialStartTLS(ctx, lab.IMAPAddr(), &imapauth.Options{
		Token:     src,
		Mailbox:   "shared@contoso.test",
		TLSConfig: lab.TLSConfig(),
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

	// A mailbox alice may not open: AUTHENTICATE fails with a typed error.
	_, err = imapauth.DialStartTLS(ctx, lab.IMAPAddr(), &imapauth.Options{Token: src, Mailbox: "ceo@contoso.test",
		TLSConfig: lab.TLSConfig()})
	var ae *mailauth.AuthError
	fmt.Println("other mailbox refused:", errors.As(err, &ae))
	// Output:
	// XOAUTH2 as alice@contoso.test - INBOX has 3 message(s)
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
