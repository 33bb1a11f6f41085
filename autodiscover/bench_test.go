package autodiscover

import (
	"context"
	"testing"

	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/internal/fake/autodtest"
)

func benchParse(b *testing.B, file string, parse func([]byte) (answer, error)) {
	body := sample(b, file)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		a, err := parse(body)
		if err != nil || (a.URL == "" && a.RedirectAddr == "") {
			b.Fatalf("%+v %v", a, err)
		}
	}
}

func BenchmarkParsePOX(b *testing.B) {
	benchParse(b, "pox_response_settings_docs.xml", func(p []byte) (answer, error) { return parsePOX(p, EWS) })
}

func BenchmarkParseMobileSync(b *testing.B) {
	benchParse(b, "mobilesync_response_settings_msascmd.xml", func(p []byte) (answer, error) { return parsePOX(p, ActiveSync) })
}

func BenchmarkParseSOAP(b *testing.B) {
	benchParse(b, "soap_response_settings_exchangelib.xml", parseSOAP)
}

func BenchmarkParseV2(b *testing.B) {
	body := []byte(`{"Protocol":"EWS","Url":"https://outlook.office365.com/EWS/Exchange.asmx"}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if a, err := parseV2(body, EWS); err != nil || a.URL == "" {
			b.Fatalf("%+v %v", a, err)
		}
	}
}

var benchCloud = cloud.Cloud{Name: "bench", Resource: "https://outlook.cloud.test", AutodiscoverHost: "outlook.cloud.test"}

func benchClient(b *testing.B, ttl int) (*Client, *autodtest.Server) {
	srv, err := autodtest.New(autodtest.Options{Hosts: []autodtest.Host{
		{Name: "outlook.cloud.test", V2: true, Mailboxes: map[string]autodtest.Mailbox{
			"cloud@contoso.test": {EWSURL: "https://outlook.cloud.test/EWS/Exchange.asmx"}}},
		{Name: "contoso.test", Status: 404},
		{Name: "autodiscover.contoso.test", POX: true, Mailboxes: map[string]autodtest.Mailbox{
			"onprem@contoso.test": {EWSURL: "https://mail.contoso.test/EWS/Exchange.asmx"}}},
	}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Close)
	opts := &Options{Cloud: benchCloud, DialContext: srv.DialContext, TLSConfig: srv.ClientTLSConfig(), Resolver: srv}
	if ttl < 0 {
		opts.CacheTTL = -1
	}
	c, err := New(opts)
	if err != nil {
		b.Fatal(err)
	}
	return c, srv
}

func benchLookup(b *testing.B, email string, ttl int) {
	c, _ := benchClient(b, ttl)
	ctx := context.Background()
	if _, err := c.Lookup(ctx, email, EWS); err != nil { // warm the connections
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Lookup(ctx, email, EWS); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLookupCached is a cache hit.
func BenchmarkLookupCached(b *testing.B) { benchLookup(b, "cloud@contoso.test", 0) }

// BenchmarkLookupV2 is one anonymous v2 GET over loopback TLS (kept-alive).
func BenchmarkLookupV2(b *testing.B) { benchLookup(b, "cloud@contoso.test", -1) }

// BenchmarkLookupPOXFallback is the on-premises path: v2 (302, then
// Autodiscoverv1), https://{domain} (404 for POX and SOAP), then POX on
// autodiscover.{domain}: five requests.
func BenchmarkLookupPOXFallback(b *testing.B) { benchLookup(b, "onprem@contoso.test", -1) }
