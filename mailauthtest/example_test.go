package mailauthtest_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/modernauth/mailauth/imapauth"
	"github.com/modernauth/mailauth/mailauthtest"
	"github.com/modernauth/mailauth/smtpauth"
	"github.com/modernauth/mailauth/tokencache"
)

// A service reads a shared mailbox over IMAP and sends from it over SMTP with one
// app-only token source. In a test, mailauthtest.New(t, nil) starts the lab and stops it
// at the end of the test; against Exchange Online the same code takes cloud.Global, the
// tenant's ids and the default TLS configuration.
func Example() {
	ctx := context.Background()
	lab, err := mailauthtest.Start(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer lab.Close()

	cache := tokencache.New(&tokencache.Options{HTTPClient: lab.HTTPClient()}) // trusts the lab's CA
	app, err := cache.AppOnly(lab.AppOnlyConfig())                             // tenant, client id and secret of the lab's app
	if err != nil {
		log.Fatal(err)
	}
	src := app.Source(lab.Cloud().AppOnlyScope())

	c, err := imapauth.DialStartTLS(ctx, lab.IMAPAddr(), &imapauth.Options{
		Token: src, Mailbox: mailauthtest.SharedMailbox, TLSConfig: lab.TLSConfig()})
	if err != nil {
		log.Fatal(err)
	}
	mbox, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.Identity().Principal(), "reads", mailauthtest.SharedMailbox+":", mbox.NumMessages, "messages")
	if err := c.Logout().Wait(); err != nil {
		log.Fatal(err)
	}

	msg := "From: shared@contoso.test\r\nTo: bob@contoso.test\r\nSubject: nightly report\r\n\r\nAll done.\r\n"
	err = smtpauth.SendMail(ctx, lab.SMTPAddr(), &smtpauth.Options{Token: src, Mailbox: mailauthtest.SharedMailbox, TLSConfig: lab.TLSConfig()},
		mailauthtest.SharedMailbox, []string{mailauthtest.OtherUser}, strings.NewReader(msg))
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range lab.Sent() {
		fmt.Println(s.Protocol, s.From, "->", s.To, s.Subject)
	}
	fmt.Println("token requests:", lab.TokenRequests())
	// Output:
	// app 11111111-2222-3333-4444-555555555555 reads shared@contoso.test: 3 messages
	// SMTP shared@contoso.test -> [bob@contoso.test] nightly report
	// token requests: 1
}
