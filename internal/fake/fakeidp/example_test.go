package fakeidp_test

import (
	"context"
	"fmt"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/modernauth/mailauth/internal/fake/fakeidp"
)

// Example boots an IdP, registers an app and gets an app-only token from it
// with a plain OAuth 2.0 client, then validates the token as a mail server would.
func Example() {
	idp, err := fakeidp.New(fakeidp.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer idp.Close()
	idp.AddApp(fakeidp.App{TenantID: "contoso", ClientID: "app1", Secret: "s3cret", Roles: []string{"IMAP.AccessAsApp"}})

	cc := clientcredentials.Config{
		ClientID:     "app1",
		ClientSecret: "s3cret",
		TokenURL:     idp.TokenURL("contoso"),
		Scopes:       []string{"https://outlook.office365.com/.default"},
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, idp.HTTPClient())
	tok, err := cc.Token(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	claims, err := idp.Verify(tok.AccessToken)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("aud:", claims.Audience)
	fmt.Println("tid:", claims.TenantID)
	fmt.Println("IMAP.AccessAsApp:", claims.HasRole("IMAP.AccessAsApp"))
	fmt.Println("client_credentials requests:", idp.Requests(fakeidp.GrantClientCredentials))
	// Output:
	// aud: https://outlook.office365.com
	// tid: contoso
	// IMAP.AccessAsApp: true
	// client_credentials requests: 1
}
