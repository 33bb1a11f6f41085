package tokencache_test

import (
	"context"
	"fmt"
	"log"
	"slices"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/mailauthtest"
	"github.com/modernauth/mailauth/tokencache"
)

// Example gets app-only tokens for 100 concurrent callers through one
// cache; the lab's Entra ID (package mailauthtest) sees one token request.
// Against Entra ID, the config names cloud.Global, your tenant, your app and
// its secret or certificate, and the cache needs no HTTPClient.
func Example() {
	lab, err := mailauthtest.Start(context.Background(), &mailauthtest.Options{TokenLatency: 20 * time.Millisecond})
	if err != nil {
		log.Fatal(err)
	}
	defer lab.Close()
	c := lab.Cloud() // cloud.Global with the authority host of the lab

	cache := tokencache.New(&tokencache.Options{HTTPClient: lab.HTTPClient()})
	app, err := cache.AppOnly(tokencache.AppOnlyConfig{Cloud: c, TenantID: mailauthtest.Tenant, ClientID: mailauthtest.ClientID,
		Credential: tokencache.ClientSecret(lab.ClientSecret())})
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
	fmt.Println("token requests:", lab.TokenRequests())
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
// kept in the store and every later token comes from it. The lab approves
// the code at once; a person would open the URL and enter the code.
func ExampleUser_SignInDeviceCode() {
	lab, err := mailauthtest.Start(context.Background(), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer lab.Close()
	c := lab.Cloud()

	cache := tokencache.New(&tokencache.Options{HTTPClient: lab.HTTPClient()})
	user, err := cache.Delegated(tokencache.DelegatedConfig{Cloud: c, TenantID: mailauthtest.Tenant, ClientID: mailauthtest.PublicClientID,
		Account: "alice@contoso.test"})
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
	id := mailauth.ParseIdentity(tok.AccessToken) // decoded, not verified: the server verifies
	fmt.Println("upn:", id.UPN)
	fmt.Println("IMAP scope:", slices.Contains(id.Scopes, "IMAP.AccessAsUser.All"))
	// Output:
	// code shown to the user: true
	// upn: alice@contoso.test
	// IMAP scope: true
}
