package tokencache_test

import (
	"context"
	"fmt"
	"log"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/tokencache"
)

// Example gets app-only tokens for 100 concurrent callers through one
// cache; the in-process Entra ID sees one token request.
func Example() {
	idp, err := fakeidp.New(fakeidp.Options{Latency: 20 * time.Millisecond})
	if err != nil {
		log.Fatal(err)
	}
	defer idp.Close()
	idp.AddApp(fakeidp.App{TenantID: "contoso", ClientID: "app1", Secret: "s3cret", Roles: []string{"IMAP.AccessAsApp"}})
	c := cloud.Global
	c.AuthorityHost = idp.URL() // point the cloud at the fake Entra ID

	cache := tokencache.New(&tokencache.Options{HTTPClient: idp.HTTPClient()})
	app, err := cache.AppOnly(tokencache.AppOnlyConfig{Cloud: c, TenantID: "contoso", ClientID: "app1",
		Credential: tokencache.ClientSecret("s3cret")})
	if err != nil {
		log.Fatal(err)
	}
	src := app.Source(c.AppOnlyScope()) // an oauth2.TokenSource for imapauth, ews, ...

	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			if _, err := src.TokenContext(context.Background()); err != nil {
				log.Fatal(err)
			}
		})
	}
	wg.Wait()
	fmt.Println("token requests:", idp.Requests(fakeidp.GrantClientCredentials))
	fmt.Println("flights:", cache.Stats().Flights)
	// Output:
	// token requests: 1
	// flights: 1
}

// ExampleCache_Wrap caches a token source from another identity provider.
func ExampleCache_Wrap() {
	cache := tokencache.New(nil)
	upstream := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "ya29.example", Expiry: time.Now().Add(time.Hour)})
	src := cache.Wrap("gmail:bob@example.com", upstream)
	for range 3 {
		if _, err := src.Token(); err != nil {
			log.Fatal(err)
		}
	}
	st := cache.Stats()
	fmt.Println("misses:", st.Misses, "flights:", st.Flights)
	fmt.Println(src)
	// Output:
	// misses: 1 flights: 1
	// tokencache.Source{wrap|gmail:bob@example.com}
}

// ExampleUser_SignInDeviceCode signs a user in once; the refresh token is
// kept in the store and every later token comes from it.
func ExampleUser_SignInDeviceCode() {
	idp, err := fakeidp.New(fakeidp.Options{DefaultUser: "alice@contoso.com", AutoApproveDevice: true})
	if err != nil {
		log.Fatal(err)
	}
	defer idp.Close()
	idp.AddApp(fakeidp.App{TenantID: "contoso", ClientID: "pub1"})
	idp.AddUser(fakeidp.User{TenantID: "contoso", UPN: "alice@contoso.com"})
	c := cloud.Global
	c.AuthorityHost = idp.URL()

	cache := tokencache.New(&tokencache.Options{HTTPClient: idp.HTTPClient()})
	user, err := cache.Delegated(tokencache.DelegatedConfig{Cloud: c, TenantID: "contoso", ClientID: "pub1",
		Account: "alice@contoso.com"})
	if err != nil {
		log.Fatal(err)
	}
	err = user.SignInDeviceCode(context.Background(), func(dc tokencache.DeviceCode) {
		fmt.Println("code shown to the user:", dc.UserCode != "")
	})
	if err != nil {
		log.Fatal(err)
	}
	tok, err := user.Source(c.DelegatedScopes(cloud.IMAP)...).Token()
	if err != nil {
		log.Fatal(err)
	}
	claims, err := idp.Verify(tok.AccessToken)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("upn:", claims.UPN)
	fmt.Println("IMAP scope:", claims.HasScope("IMAP.AccessAsUser.All"))
	// Output:
	// code shown to the user: true
	// upn: alice@contoso.com
	// IMAP scope: true
}
