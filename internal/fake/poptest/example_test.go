package poptest_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/internal/fake/poptest"
	"github.com/modernauth/mailauth/internal/fake/testpki"
	"github.com/modernauth/mailauth/popauth"
)

// Example boots a POP3 server that accepts Exchange-shaped tokens from a
// fake Entra ID, the way the quickstart does, and logs in with popauth.
func Example() {
	idp, err := fakeidp.New(fakeidp.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer idp.Close()
	ca, err := testpki.New()
	if err != nil {
		log.Fatal(err)
	}
	srv, err := poptest.New(poptest.Options{
		TLSConfig: ca.ServerConfig(),
		Authorize: poptest.FakeIdPAuthorizer(idp, nil),
		Mailboxes: map[string][]string{"alice@contoso.test": {"Subject: hi\n\nHello.\n"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	tok, err := idp.Mint(fakeidp.Claims{
		Audience: poptest.ExchangeAudience, UPN: "alice@contoso.test",
		Scp: []string{poptest.ScopePOP}, ExpiresAt: time.Now().Add(time.Hour),
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	c, err := popauth.DialTLS(ctx, srv.Addr(), &popauth.Options{
		Mailbox:   "alice@contoso.test",
		Token:     oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok}),
		TLSConfig: ca.ClientConfig(),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Quit(ctx)
	n, _, err := c.Stat(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("messages:", n, "logins:", srv.Logins())
	// Output: messages: 1 logins: 1
}
