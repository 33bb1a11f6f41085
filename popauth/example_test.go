package popauth_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"time"

	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/internal/fake/poptest"
	"github.com/modernauth/mailauth/internal/fake/testpki"
	"github.com/modernauth/mailauth/popauth"
)

// Example logs in to an in-process POP3 server with implicit TLS, lists the
// mailbox and reads one message. Against Exchange Online the address is
// "outlook.office365.com:995" and the token source is a token cache.
func Example() {
	ca, err := testpki.New()
	if err != nil {
		log.Fatal(err)
	}
	srv, err := poptest.New(poptest.Options{
		TLSConfig: ca.ServerConfig(),
		Authorize: func(user, token string) error {
			if user == "alice@contoso.test" && token == "t0ken" {
				return nil
			}
			return errors.New("rejected")
		},
		Mailboxes: map[string][]string{"alice@contoso.test": {"Subject: hi\r\n\r\nHello.\r\n"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	src := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "t0ken"})
	c, err := popauth.DialTLS(ctx, srv.Addr(), &popauth.Options{
		Mailbox:   "alice@contoso.test",
		Token:     src,
		TLSConfig: ca.ClientConfig(),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Quit(ctx)

	count, size, err := c.Stat(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("messages:", count, "octets:", size)

	r, err := c.Retr(ctx, 1)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	msg, err := io.ReadAll(r)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q\n", msg)
	// Output:
	// messages: 1 octets: 23
	// "Subject: hi\r\n\r\nHello.\r\n"
}

// ExampleAuthError shows how to tell a refused token from other failures.
func ExampleAuthError() {
	var err error = &mailauth.AuthError{
		Protocol:   "POP3",
		Mechanism:  popauth.XOAuth2,
		Mailbox:    "shared@contoso.test",
		Code:       popauth.CodeAuth,
		ServerText: "Authentication failed.",
		Err:        &popauth.Error{Command: "AUTH", Code: popauth.CodeAuth, Text: "Authentication failed."},
	}
	var ae *mailauth.AuthError
	if errors.As(err, &ae) {
		fmt.Println("refused:", ae.Mechanism, ae.Mailbox, ae.Code)
	}
	var pe *popauth.Error
	if errors.As(err, &pe) {
		fmt.Println("temporary:", pe.Temporary())
	}
	// Output:
	// refused: XOAUTH2 shared@contoso.test AUTH
	// temporary: false
}
