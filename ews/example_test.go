package ews_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/ews"
	"github.com/modernauth/mailauth/internal/fake/ewstest"
	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/tokencache"
)

// Example lists an inbox, page by page, against the in-process EWS server
// with a delegated token from the fake Entra ID.
func Example() {
	idp, err := fakeidp.New(fakeidp.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer idp.Close()
	srv, err := ewstest.New(ewstest.Options{Verify: idp.Verify, Mailboxes: []string{"alice@contoso.test"}, Items: 3})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	token, err := idp.Mint(fakeidp.Claims{Audience: "https://outlook.office365.com", UPN: "alice@contoso.test",
		Scp: []string{"EWS.AccessAsUser.All"}, ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		log.Fatal(err)
	}

	c, err := ews.New(&ews.Options{
		URL:       srv.URL(),
		Token:     oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token}),
		Mailbox:   "alice@contoso.test",
		Transport: srv.Transport(), // trusts the test server's certificate
	})
	if err != nil {
		log.Fatal(err)
	}
	for it, err := range c.FindItems(context.Background(), ews.Inbox, &ews.FindOptions{PageSize: 2}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(it.DateTimeReceived.Format(time.DateTime), it.From.Address, it.Subject)
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
