package sasl_test

import (
	"fmt"

	"github.com/modernauth/mailauth/internal/core/sasl"
	"golang.org/x/oauth2"
)

// The exchange a server sees when it refuses a token with an error challenge.
func ExampleClient() {
	c := sasl.NewClient(sasl.ClientOptions{
		Mailbox: "shared@contoso.com",
		Token:   &oauth2.Token{AccessToken: "opaque-token"},
	})
	mech, ir, _ := c.Start()
	fmt.Printf("%s %q\n", mech, ir)

	ack, _ := c.Next([]byte(`{"status":"401","schemes":"bearer","scope":"mail"}`))
	fmt.Printf("ack %q, %s\n", ack, c.Challenge())
	// Output:
	// XOAUTH2 "user=shared@contoso.com\x01auth=Bearer opaque-token\x01\x01"
	// ack "", status=401 schemes=bearer scope=mail
}
