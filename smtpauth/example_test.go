package smtpauth_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"

	"github.com/modernauth/mailauth/mailauthtest"
	"github.com/modernauth/mailauth/smtpauth"
	"github.com/modernauth/mailauth/tokencache"
)

// Send a message through submission with STARTTLS, app-only from a shared mailbox. The
// lab (package mailauthtest) stands in for Entra ID and smtp.office365.com:587; against
// Exchange Online, use cloud.Global and your tenant's app, and leave TLSConfig nil.
func ExampleSendMail() {
	ctx := context.Background()
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

	opts := &smtpauth.Options{
		Token:     app.Source(lab.Cloud().AppOnlyScope()),
		Mailbox:   "shared@contoso.test",
		TLSConfig: lab.TLSConfig(),
	}
	msg := "From: shared@contoso.test\r\nTo: bob@example.com\r\nSubject: hi\r\n\r\nhello\r\n"
	if err := smtpauth.SendMail(ctx, lab.SMTPAddr(), opts, "shared@contoso.test", []string{"bob@example.com"}, strings.NewReader(msg)); err != nil {
		log.Fatal(err)
	}
	fmt.Println("delivered:", len(lab.Sent()))

	// What an admin sees when SMTP AUTH is switched off for the tenant.
	lab.FailNextSMTPAuth(1)
	err = smtpauth.SendMail(ctx, lab.SMTPAddr(), opts, "shared@contoso.test", []string{"bob@example.com"}, strings.NewReader(msg))
	fmt.Println("SMTP AUTH disabled:", errors.Is(err, smtpauth.ErrSMTPAuthDisabled))
	// Output:
	// delivered: 1
	// SMTP AUTH disabled: true
}
