package popauth_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"time"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/mailauthtest"
	"github.com/modernauth/mailauth/popauth"
	"github.com/modernauth/mailauth/tokencache"
)

// Example logs in app-only to a shared mailbox with implicit TLS, lists it and reads one
// message. The lab (package mailauthtest) stands in for Entra ID and Exchange Online;
// there the address is "outlook.office365.com:995", the cloud is cloud.Global and
// TLSConfig stays nil.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lab, err := mailauthtest.Start(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer lab.Close()
	cache := tokencache.New(&tokencache.Options{HTTPClient: lab.HTTPClient()})
	app, err := cache.AppOnly(lab.AppOnlyConfig())
	if err != nil {
		log.Fatal(err)
	}

	c, err := popauth.DialTLS(ctx, lab.POPAddr(), &popauth.Options{
		Mailbox:   "shared@contoso.test",
		Token:     app.Source(lab.Cloud().AppOnlyScope()),
		TLSConfig: lab.TLSConfig(),
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
	// messages: 1 octets: 56
	// "From: dave@contoso.test\r\nSubject: shared pop\r\n\r\nshared\r\n"
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

// ExampleClient_Detach logs in, then takes the connection back to speak POP3 on it
// directly, as a proxy that copies bytes after the login does.
func ExampleClient_Detach() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lab, err := mailauthtest.Start(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer lab.Close()
	cache := tokencache.New(&tokencache.Options{HTTPClient: lab.HTTPClient()})
	app, err := cache.AppOnly(lab.AppOnlyConfig())
	if err != nil {
		log.Fatal(err)
	}
	c, err := popauth.DialTLS(ctx, lab.POPAddr(), &popauth.Options{
		Mailbox:   "shared@contoso.test",
		Token:     app.Source(lab.Cloud().AppOnlyScope()),
		TLSConfig: lab.TLSConfig(),
	})
	if err != nil {
		log.Fatal(err)
	}
	conn, br := c.Detach() // c is unusable from here on
	defer conn.Close()
	if _, err := io.WriteString(conn, "STAT\r\n"); err != nil {
		log.Fatal(err)
	}
	line, err := br.ReadString('\n')
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q\n", line)
	fmt.Println(errors.Is(c.Noop(ctx), popauth.ErrBroken))
	// Output:
	// "+OK 1 56\r\n"
	// true
}
