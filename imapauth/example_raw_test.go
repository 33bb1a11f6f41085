package imapauth_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"strings"

	"github.com/modernauth/mailauth/imapauth"
	"github.com/modernauth/mailauth/mailauthtest"
	"github.com/modernauth/mailauth/tokencache"
)

// A proxy logs in upstream with DialStartTLSRaw, then takes the connection back and
// speaks IMAP on it itself (a relay copies bytes both ways from here on).
func ExampleDialStartTLSRaw() {
	ctx := context.Background()
	lab, err := mailauthtest.Start(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer lab.Close()
	cache := tokencache.New(&tokencache.Options{HTTPClient: lab.HTTPClient()})
	alice, err := lab.SignIn(ctx, cache, "alice@contoso.test")
	if err != nil {
		log.Fatal(err)
	}
	c, err := imapauth.DialStartTLSRaw(ctx, lab.IMAPAddr(), &imapauth.Options{
		Token:     alice.Source(lab.Cloud().DelegatedScopes("imap")...),
		Mailbox:   "shared@contoso.test",
		TLSConfig: lab.TLSConfig(),
	})
	if err != nil {
		log.Fatal(err) // a *mailauth.AuthError or *mailauth.MailboxAccessError, with a hint
	}
	fmt.Println(c.Mechanism(), strings.Fields(c.AuthText())[0])
	conn, br := c.Detach()
	defer conn.Close()
	if _, err := io.WriteString(conn, "a1 EXAMINE INBOX\r\n"); err != nil {
		log.Fatal(err)
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			log.Fatal(err)
		}
		if strings.HasPrefix(line, "a1 ") {
			fmt.Println(strings.Fields(line)[1])
			break
		}
	}
	// Output:
	// XOAUTH2 OK
	// OK
}
