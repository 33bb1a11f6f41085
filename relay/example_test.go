package relay_test

import (
	"fmt"
	"net/netip"

	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth/relay"
)

// A relay for one printer account: the local password is stored as a hash, and SMTP
// from the printers' network needs no AUTH. Serve then runs each listener.
func Example() {
	hash, err := relay.HashPassword("printer password")
	if err != nil {
		panic(err)
	}
	fmt.Println(relay.CheckPassword(hash, "printer password"), relay.CheckPassword(hash, "guess"))

	r, err := relay.New(&relay.Options{
		Accounts: []relay.Account{{
			User:         "printer",
			PasswordHash: hash,
			Mailbox:      "scanner@contoso.com",
			Token:        oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "from tokencache"}),
		}},
		SMTP:           relay.Upstream{Addr: "smtp.office365.com:587"},
		DeviceNetworks: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
	})
	if err != nil {
		panic(err)
	}
	// Without a certificate only loopback (or, for SMTP, a device network) may listen.
	_, err = r.Listen(relay.IMAP, "0.0.0.0:143", false)
	fmt.Println(err != nil)
	// Output:
	// true false
	// true
}
