package autodiscover

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func addSamples(f *testing.F, glob string) {
	files, err := filepath.Glob(filepath.Join("testdata", glob))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// checkAnswer asserts the invariants every parsed answer keeps.
func checkAnswer(t *testing.T, a answer, err error) {
	if err != nil {
		if a != (answer{}) {
			t.Fatalf("error %v with a non-zero answer %+v", err, a)
		}
		return
	}
	set := 0
	for _, s := range []string{a.URL, a.RedirectAddr, a.RedirectURL} {
		if s != "" {
			set++
		}
	}
	if a.Err != nil {
		set++
		_ = a.Err.Error()
	}
	if set != 1 {
		t.Fatalf("answer must say exactly one thing, got %+v", a)
	}
	for _, s := range []string{a.URL, a.RedirectAddr, a.RedirectURL} {
		if s != strings.TrimSpace(s) {
			t.Fatalf("untrimmed value %q", s)
		}
	}
}

func FuzzParseV2(f *testing.F) {
	addSamples(f, "*.json")
	f.Add([]byte(`{"Protocol":"EWS","Url":"https://outlook.office365.com/EWS/Exchange.asmx"}`))
	f.Add([]byte(`{"Protocol":"ActiveSync","Url":"https://outlook.office365.com/Microsoft-Server-ActiveSync"}`))
	f.Add([]byte(`{"ErrorCode":"InternalServerError","ErrorMessage":"x"}`))
	f.Add([]byte(`{"Protocol":"EWS","Url":""}`))
	f.Add([]byte(`{"Protocol":1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, p := range []Protocol{EWS, ActiveSync} {
			a, err := parseV2(body, p)
			if err == nil && a.Err == nil && a.URL == "" {
				t.Fatal("success without a URL")
			}
			if err == nil && (a.RedirectAddr != "" || a.RedirectURL != "") {
				t.Fatal("v2 has no redirect answers")
			}
		}
	})
}

func FuzzParsePOX(f *testing.F) {
	addSamples(f, "pox_response_*.xml")
	addSamples(f, "mobilesync_response_*.xml")
	f.Add([]byte(`<Autodiscover><Response><Account><Action>redirectUrl</Action><RedirectUrl> https://a/ </RedirectUrl></Account></Response></Autodiscover>`))
	f.Add([]byte(`<Autodiscover><Response><Action><Redirect>a@b.c</Redirect></Action></Response></Autodiscover>`))
	f.Add([]byte(`<Autodiscover><Response><Action><Error><Status>1</Status></Error></Action></Response></Autodiscover>`))
	f.Add([]byte(`<?xml version="1.0" encoding="iso-8859-1"?><Autodiscover/>`))
	f.Add([]byte(`<!DOCTYPE x [<!ENTITY a "aaaa">]><Autodiscover>&a;</Autodiscover>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, p := range []Protocol{EWS, ActiveSync} {
			a, err := parsePOX(body, p)
			checkAnswer(t, a, err)
		}
	})
}

func FuzzParseSOAP(f *testing.F) {
	addSamples(f, "soap_*response*.xml")
	f.Add([]byte(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>x</faultstring></s:Fault></s:Body></s:Envelope>`))
	f.Add([]byte(`<Envelope><Body><GetUserSettingsResponseMessage><Response><ErrorCode>NoError</ErrorCode><UserResponses><UserResponse><ErrorCode>RedirectUrl</ErrorCode><RedirectTarget/></UserResponse></UserResponses></Response></GetUserSettingsResponseMessage></Body></Envelope>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		a, err := parseSOAP(body)
		checkAnswer(t, a, err)
	})
}

// FuzzSplitEmail checks the address rules that keep requests on the
// address's own domain: addresses come from callers and from redirectAddr
// answers.
func FuzzSplitEmail(f *testing.F) {
	for _, s := range []string{"alice@contoso.com", "a@b", "a@b.c/d", "a@@b.c", " a@B.C ", "a@xn--bcher-kva.test", "a%40b@c.d", "a@b.c?x", "a@b.c#f", "a@[::1]", "a@b.c:80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		addr, domain, err := splitEmail(in)
		if err != nil {
			return
		}
		if !strings.Contains(domain, ".") || domain != strings.ToLower(domain) || !validHostname(domain) {
			t.Fatalf("bad domain %q from %q", domain, in)
		}
		if !strings.HasSuffix(addr, "@"+domain) || strings.Count(addr, "@") != 1 {
			t.Fatalf("bad address %q from %q", addr, in)
		}
		// The v2 URL built from the address stays on the v2 host and path.
		u, err := url.Parse("https://outlook.office365.com/autodiscover/autodiscover.json/v1.0/" + url.PathEscape(addr) + "?Protocol=EWS")
		if err != nil || u.Host != "outlook.office365.com" || u.Query().Get("Protocol") != "EWS" ||
			!strings.HasPrefix(u.Path, "/autodiscover/autodiscover.json/v1.0/") || strings.Count(u.Path, "/") != 4 {
			t.Fatalf("address %q escapes the v2 URL: %v %v", addr, u, err)
		}
	})
}
