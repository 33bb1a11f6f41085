package autodiscover_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth/autodiscover"
	"github.com/modernauth/mailauth/internal/fake/autodtest"
)

// Lookup asks Autodiscover v2 on the cloud's host first. Here an
// in-process service plays outlook.office365.com; against Exchange Online
// only the Options line changes: autodiscover.New(nil).
func Example() {
	srv, err := autodtest.New(autodtest.Options{Hosts: []autodtest.Host{
		{Name: "outlook.office365.com", V2: true, Mailboxes: map[string]autodtest.Mailbox{
			"alice@contoso.com": {EWSURL: "https://outlook.office365.com/EWS/Exchange.asmx"}}},
	}})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	c, err := autodiscover.New(&autodiscover.Options{
		DialContext: srv.DialContext, TLSConfig: srv.ClientTLSConfig(), Resolver: srv,
	})
	if err != nil {
		log.Fatal(err)
	}
	res, err := c.Lookup(context.Background(), "alice@contoso.com", autodiscover.EWS)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.URL)
	fmt.Println("found by", res.Method)
	// Output:
	// https://outlook.office365.com/EWS/Exchange.asmx
	// found by v2
}

// A domain's autodiscover service that redirects to a host nobody named is
// not followed; the error says where it pointed.
func ExampleRedirectError() {
	srv, err := autodtest.New(autodtest.Options{Hosts: []autodtest.Host{
		{Name: "contoso.com", POX: true, Mailboxes: map[string]autodtest.Mailbox{
			"*": {RedirectURL: "https://autodiscover.attacker.example/autodiscover/autodiscover.xml"}}},
	}})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	c, err := autodiscover.New(&autodiscover.Options{
		Methods:     []autodiscover.Method{autodiscover.MethodPOX},
		DialContext: srv.DialContext, TLSConfig: srv.ClientTLSConfig(), Resolver: srv,
	})
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.Lookup(context.Background(), "bob@contoso.com", autodiscover.EWS)
	var re *autodiscover.RedirectError
	if errors.As(err, &re) && errors.Is(re, autodiscover.ErrHostNotAllowed) {
		fmt.Println("refused:", re.To)
	}
	// Output:
	// refused: https://autodiscover.attacker.example/autodiscover/autodiscover.xml
}

// On-premises Exchange with OAuth: the domain's POX endpoint asks for a
// bearer token, which is sent only because the caller named the domain.
func ExampleClient_Lookup_onPremises() {
	srv, err := autodtest.New(autodtest.Options{Hosts: []autodtest.Host{
		{Name: "autodiscover.contoso.com", POX: true, RequireBearer: true, Mailboxes: map[string]autodtest.Mailbox{
			"carol@contoso.com": {EASURL: "https://mail.contoso.com/Microsoft-Server-ActiveSync"}}},
	}})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	src := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "token-for-mail.contoso.com"})
	c, err := autodiscover.New(&autodiscover.Options{
		Token:          src,
		AllowedDomains: []string{"contoso.com"},
		Methods:        []autodiscover.Method{autodiscover.MethodPOX}, // on-premises only: skip v2
		DialContext:    srv.DialContext, TLSConfig: srv.ClientTLSConfig(), Resolver: srv,
	})
	if err != nil {
		log.Fatal(err)
	}
	res, err := c.Lookup(context.Background(), "carol@contoso.com", autodiscover.ActiveSync)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.URL)
	fmt.Println("from", res.Endpoint)
	// Output:
	// https://mail.contoso.com/Microsoft-Server-ActiveSync
	// from https://autodiscover.contoso.com/autodiscover/autodiscover.xml
}
