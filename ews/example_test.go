package ews_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/ews"
	"github.com/modernauth/mailauth/mailauthtest"
	"github.com/modernauth/mailauth/tokencache"
)

// Example lists the newest items of an inbox, page by page, with a delegated
// token. The lab (package mailauthtest) stands in for Entra ID and Exchange
// Online; there, URL is cloud.Global.EWSURL and Transport stays nil.
func Example() {
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

	c, err := ews.New(&ews.Options{
		URL:       lab.EWSURL(),
		Token:     alice.Source(lab.Cloud().DelegatedScopes(cloud.EWS)...),
		Mailbox:   "alice@contoso.test",
		Transport: lab.HTTPClient().Transport, // trusts the lab's CA
	})
	if err != nil {
		log.Fatal(err)
	}
	n := 0
	for it, err := range c.FindItems(ctx, ews.Inbox, &ews.FindOptions{PageSize: 2}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(it.DateTimeReceived.Format(time.DateTime), it.From.Address, it.Subject)
		if n++; n == 3 {
			break
		}
	}
	// Output:
	// 2026-11-02 09:00:00 sender1@fabrikam.test Message 1
	// 2026-11-02 08:00:00 sender2@fabrikam.test Message 2
	// 2026-11-02 07:00:00 sender0@fabrikam.test Message 3
}

// Example_appOnly reads a shared mailbox with an app-only token (the
// application permission full_access_as_app): the client impersonates the
// mailbox on every request.
func Example_appOnly() {
	cache := tokencache.New(nil)
	app, err := cache.AppOnly(tokencache.AppOnlyConfig{
		Cloud:      cloud.Global,
		TenantID:   "contoso.onmicrosoft.com",
		ClientID:   "00000000-0000-0000-0000-000000000001",
		Credential: tokencache.ClientSecret(os.Getenv("MAILAUTH_CLIENT_SECRET")),
	})
	if err != nil {
		log.Fatal(err)
	}
	c, err := ews.New(&ews.Options{
		URL:     cloud.Global.EWSURL,
		Token:   app.Source(cloud.Global.AppOnlyScope()),
		Mailbox: "shared@contoso.com",
		AppOnly: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.SetRead(ctx, []ews.ItemID{{ID: "AAMkAD..."}}, true); err != nil {
		log.Fatal(err) // e.g. "ews: UpdateItem: ErrorImpersonateUserDenied: ... — the app may not impersonate ..."
	}
}
