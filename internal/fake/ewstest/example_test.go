package ewstest_test

import (
	"fmt"
	"log"
	"net/http"
	"strings"

	"github.com/modernauth/mailauth/internal/fake/ewstest"
	"github.com/modernauth/mailauth/internal/fake/fakeidp"
)

// Example starts the server and shows how it answers a request without a
// token: 401 with Exchange's Bearer challenge.
func Example() {
	idp, err := fakeidp.New(fakeidp.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer idp.Close()
	srv, err := ewstest.New(ewstest.Options{Verify: idp.Verify, Mailboxes: []string{"alice@contoso.test"}})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	client := &http.Client{Transport: srv.Transport()}
	resp, err := client.Post(srv.URL(), "text/xml; charset=utf-8", strings.NewReader("<soap:Envelope/>"))
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer "))
	fmt.Println(srv.Requests()[0].Status)
	// Output:
	// 401 true
	// 401
}
