package bearer_test

import (
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"

	"github.com/modernauth/mailauth/internal/core/bearer"
	"golang.org/x/oauth2"
)

func ExampleTransport() {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.Header.Get("Authorization") != "")
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)

	tr, err := bearer.New(bearer.Options{
		Token:        oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "eyJ0eXAi..."}),
		AllowedHosts: []string{u.Hostname()},
		Base:         srv.Client().Transport, // trusts the test server's certificate
	})
	if err != nil {
		log.Fatal(err)
	}
	client := tr.Client()

	resp, err := client.Get(srv.URL)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	fmt.Println("token sent:", resp.StatusCode == 200)

	_, err = client.Get("https://attacker.example/")
	fmt.Println(err)
	// Output:
	// token sent: true
	// Get "https://attacker.example/": bearer: host "attacker.example" is not on the allow-list, so no request was sent; add it to AllowedHosts only if it is a server you trust with your token
}
