package autodiscover_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/modernauth/mailauth/autodiscover"
	"github.com/modernauth/mailauth/mailauthtest"
	"github.com/modernauth/mailauth/tokencache"
)

// Lookup asks Autodiscover v2 on the cloud's host first. Here the test lab
// (package mailauthtest) plays outlook.office365.com; against Exchange Online
// only the Options line changes: autodiscover.New(nil).
func Example() {
	lab, err := mailauthtest.Start(context.Background(), &mailauthtest.Options{Autodiscover: []mailauthtest.AutodiscoverHost{
		{Name: "outlook.office365.com", V2: true, Mailboxes: map[string]mailauthtest.AutodiscoverAnswer{
			"alice@contoso.com": {EWSURL: "https://outlook.office365.com/EWS/Exchange.asmx"}}},
	}})
	if err != nil {
		log.Fatal(err)
	}
	defer lab.Close()

	c, err := autodiscover.New(&autodiscover.Options{
		DialContext: lab.DialContext, TLSConfig: lab.TLSConfig(), Resolver: lab,
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
	lab, err := mailauthtest.Start(context.Background(), &mailauthtest.Options{Autodiscover: []mailauthtest.AutodiscoverHost{
		{Name: "contoso.com", POX: true, Mailboxes: map[string]mailauthtest.AutodiscoverAnswer{
			"*": {RedirectURL: "https://autodiscover.attacker.example/autodiscover/autodiscover.xml"}}},
	}})
	if err != nil {
		log.Fatal(err)
	}
	defer lab.Close()

	c, err := autodiscover.New(&autodiscover.Options{
		Methods:     []autodiscover.Method{autodiscover.MethodPOX},
		DialContext: lab.DialContext, TLSConfig: lab.TLSConfig(), Resolver: lab,
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
	lab, err := mailauthtest.Start(context.Background(), &mailauthtest.Options{Autodiscover: []mailauthtest.AutodiscoverHost{
		{Name: "autodiscover.contoso.com", POX: true, RequireBearer: true, Mailboxes: map[string]mailauthtest.AutodiscoverAnswer{
			"carol@contoso.com": {EASURL: "https://mail.contoso.com/Microsoft-Server-ActiveSync"}}},
	}})
	if err != nil {
		log.Fatal(err)
	}
	defer lab.Close()

	cache := tokencache.New(&tokencache.Options{HTTPClient: lab.HTTPClient()})
	app, err := cache.AppOnly(lab.AppOnlyConfig())
	if err != nil {
		log.Fatal(err)
	}
	src := app.Source(lab.Cloud().AppOnlyScope()) // on-premises: the scope of your Exchange's resource
	c, err := autodiscover.New(&autodiscover.Options{
		Token:          src,
		AllowedDomains: []string{"contoso.com"},
		Methods:        []autodiscover.Method{autodiscover.MethodPOX}, // on-premises only: skip v2
		DialContext:    lab.DialContext, TLSConfig: lab.TLSConfig(), Resolver: lab,
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
