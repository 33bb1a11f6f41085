package fakeidp

import (
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	fuzzOnce sync.Once
	fuzzIdP  *IdP
	fuzzErr  error
)

// sharedIdP is one IdP for all fuzz iterations (a key per iteration is too slow).
func sharedIdP(t testing.TB) *IdP {
	fuzzOnce.Do(func() {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			fuzzErr = err
			return
		}
		fuzzIdP, fuzzErr = New(Options{SigningKey: key, DefaultUser: alice})
		if fuzzErr == nil {
			fuzzIdP.AddApp(App{TenantID: testTenant, ClientID: testApp, Secret: testSecret})
			addAlice(fuzzIdP)
		}
	})
	if fuzzErr != nil {
		t.Fatal(fuzzErr)
	}
	return fuzzIdP
}

func FuzzVerify(f *testing.F) {
	idp := sharedIdP(f)
	good, _ := idp.Mint(Claims{Audience: "a", Scp: []string{"x"}, Roles: []string{"r"}, ExpiresAt: time.Now().Add(time.Hour)})
	f.Add(good)
	f.Add("")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJSUzI1NiJ9.eyJleHAiOiJ4In0.AAAA")
	f.Add(strings.Replace(good, ".", "..", 1))
	f.Fuzz(func(t *testing.T, token string) {
		c, err := idp.Verify(token)
		if (c == nil) == (err == nil) {
			t.Fatalf("claims %v with err %v", c, err)
		}
		if err != nil && len(token) > 8 && strings.Contains(err.Error(), token) {
			t.Fatal("error contains the token")
		}
	})
}

func FuzzTokenEndpoint(f *testing.F) {
	idp := sharedIdP(f)
	f.Add(testTenant, "grant_type=client_credentials&client_id="+testApp+"&client_secret="+testSecret+"&scope=https%3A%2F%2Foutlook.office365.com%2F.default")
	f.Add(testTenant, "grant_type=client_credentials&client_id="+testApp+"&client_secret=wrong%21secret~value&scope=x")
	f.Add(testTenant, "grant_type=refresh_token&client_id="+publicApp+"&refresh_token=0.AAAA")
	f.Add("common", "grant_type=authorization_code&client_id="+publicApp+"&code=x&code_verifier=y&redirect_uri=http%3A%2F%2Flocalhost")
	f.Add(testTenant, "grant_type=device_code&client_id="+publicApp+"&device_code=z")
	f.Add(testTenant, "grant_type=client_credentials&client_id="+testApp+"&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=a.b.c")
	f.Add("t1", "%zz&&==")
	f.Fuzz(func(t *testing.T, tenant, body string) {
		if tenant == "" || strings.IndexFunc(tenant, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.')
		}) >= 0 {
			tenant = "t1" // the fuzzer tests bodies and queries, not the URL parser
		}
		for _, path := range []string{"/" + tenant + "/oauth2/v2.0/token", "/" + tenant + "/oauth2/v2.0/devicecode"} {
			req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			w := httptest.NewRecorder()
			idp.serveHTTP(w, req)
			if w.Code == 0 {
				t.Fatal("no status")
			}
			if sent := secretOnly(body); sent != "" && strings.Contains(w.Body.String(), sent) {
				t.Fatal("the answer echoes the client secret")
			}
		}
		for _, path := range []string{"/" + tenant + "/oauth2/v2.0/authorize", "/devicelogin"} {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.URL.RawQuery = body
			idp.serveHTTP(httptest.NewRecorder(), req)
		}
	})
}

// secretOnly returns the client_secret of a form body when it is long
// enough to recognise and appears in no other field (client IDs and
// tenant names are echoed in error messages, as Entra does).
func secretOnly(body string) string {
	form, err := url.ParseQuery(body)
	if err != nil {
		return ""
	}
	sec := form.Get("client_secret")
	// Short or prose-like values could occur in a message by chance; the
	// IdP's texts never contain any of "!$~*".
	if len(sec) < 8 || !strings.ContainsAny(sec, "!$~*") {
		return ""
	}
	for k, vs := range form {
		for _, v := range vs {
			if k != "client_secret" && strings.Contains(v, sec) {
				return ""
			}
		}
	}
	return sec
}

func FuzzParseFormPost(f *testing.F) {
	w := httptest.NewRecorder()
	writeFormPost(w, "http://localhost:1/cb?a=1&b=<x>", map[string][]string{"code": {`c"&<>`}, "state": {"s"}})
	f.Add(w.Body.String())
	f.Add(`<form method="POST" name="hiddenform" action="x"><input type="hidden" name="a" value="b" />`)
	f.Add("")
	f.Fuzz(func(t *testing.T, page string) {
		action, fields, ok := parseFormPost(page)
		if !ok && (action != "" || fields != nil) {
			t.Fatal("values without a form")
		}
	})
}

// TestFormPostRoundTrip checks that the HTML escaping of the form_post page
// survives a parse.
func TestFormPostRoundTrip(t *testing.T) {
	w := httptest.NewRecorder()
	writeFormPost(w, "http://localhost:1/cb?a=1&b=<x>", map[string][]string{"code": {`c"&<>'`}, "state": {"s t"}})
	action, fields, ok := parseFormPost(w.Body.String())
	if !ok || action != "http://localhost:1/cb?a=1&b=<x>" || fields.Get("code") != `c"&<>'` || fields.Get("state") != "s t" {
		t.Fatalf("round trip: %q %v %v", action, fields, ok)
	}
}
