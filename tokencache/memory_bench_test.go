package tokencache

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/modernauth/mailauth/cloud"
)

// cannedIdP answers MSAL's tenant discovery and client-credentials requests
// in memory, with a 908-byte JWT-shaped token per tenant, so the memory
// figures count the clients and caches, not TLS or signing.
type cannedIdP struct{}

const memTokenLen = 908

func memToken(tenant string) string {
	head := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`))
	claims := base64.RawURLEncoding.EncodeToString([]byte(`{"aud":"https://outlook.office365.com","tid":"` + tenant + `","exp":4102444800}`))
	s := head + "." + claims + "."
	return s + strings.Repeat("s", memTokenLen-len(s))
}

func (cannedIdP) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	tenant, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	var body string
	if strings.Contains(r.URL.Path, "openid-configuration") {
		base := "https://" + r.URL.Host + "/" + tenant
		body = `{"token_endpoint":"` + base + `/oauth2/v2.0/token","authorization_endpoint":"` + base + `/oauth2/v2.0/authorize","issuer":"` + base + `/v2.0"}`
	} else {
		body = `{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"` + memToken(tenant) + `"}`
	}
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader([]byte(body))), Request: r}, nil
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkMemoryPerTenant reports the heap a multi-tenant service spends
// per app-only tenant (one token each) beyond one copy of the token, for
// the cache and for MSAL Go with one confidential client per tenant and
// with one client for all tenants. Each iteration builds all N tenants.
func BenchmarkMemoryPerTenant(b *testing.B) {
	const n = 10_000
	hc := &http.Client{Transport: cannedIdP{}}
	cl := cloud.Global
	cl.AuthorityHost = "https://login.test"
	ctx := context.Background()
	cred, err := confidential.NewCredFromSecret("secret")
	if err != nil {
		b.Fatal(err)
	}
	report := func(b *testing.B, before uint64, keep any) {
		after := heapInUse()
		runtime.KeepAlive(keep)
		per := (float64(after) - float64(before)) / n
		b.ReportMetric(per, "B/tenant")
		b.ReportMetric(per-memTokenLen, "B/tenant-beyond-token")
	}
	b.Run("cache", func(b *testing.B) {
		for b.Loop() {
			before := heapInUse()
			c := New(&Options{HTTPClient: hc})
			srcs := make([]*Source, n)
			for i := range srcs {
				app, err := c.AppOnly(AppOnlyConfig{Cloud: cl, TenantID: fmt.Sprintf("tenant-%05d", i), ClientID: "app1", Credential: ClientSecret("secret")})
				if err != nil {
					b.Fatal(err)
				}
				srcs[i] = app.Source()
				if _, err := srcs[i].TokenContext(ctx); err != nil {
					b.Fatal(err)
				}
			}
			report(b, before, srcs)
		}
	})
	b.Run("msal-client-per-tenant", func(b *testing.B) {
		for b.Loop() {
			before := heapInUse()
			clients := make([]confidential.Client, n)
			for i := range clients {
				c, err := confidential.New(cl.Authority(fmt.Sprintf("tenant-%05d", i)), "app1", cred,
					confidential.WithHTTPClient(hc), confidential.WithInstanceDiscovery(false))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := c.AcquireTokenByCredential(ctx, []string{cl.AppOnlyScope()}); err != nil {
					b.Fatal(err)
				}
				clients[i] = c
			}
			report(b, before, clients)
		}
	})
	b.Run("msal-one-client", func(b *testing.B) {
		for b.Loop() {
			before := heapInUse()
			c, err := confidential.New(cl.Authority("organizations"), "app1", cred,
				confidential.WithHTTPClient(hc), confidential.WithInstanceDiscovery(false))
			if err != nil {
				b.Fatal(err)
			}
			for i := range n {
				if _, err := c.AcquireTokenByCredential(ctx, []string{cl.AppOnlyScope()}, confidential.WithTenantID(fmt.Sprintf("tenant-%05d", i))); err != nil {
					b.Fatal(err)
				}
			}
			report(b, before, c)
		}
	})
	_ = time.Second
}

// cannedUserIdP answers refresh-token redemptions for any account in
// memory: the account is read from the refresh token ("rt:" + UPN).
type cannedUserIdP struct{ cannedIdP }

func (c cannedUserIdP) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.Contains(r.URL.Path, "openid-configuration") || r.Body == nil {
		return c.cannedIdP.RoundTrip(r)
	}
	if err := r.ParseForm(); err != nil {
		return nil, err
	}
	upn := strings.TrimPrefix(r.PostForm.Get("refresh_token"), "rt:")
	enc := base64.RawURLEncoding.EncodeToString
	oid := fmt.Sprintf("%032x", []byte(upn))[:32]
	idt := enc([]byte(`{"alg":"none"}`)) + "." + enc([]byte(`{"aud":"pub1","iss":"https://login.test/contoso/v2.0","tid":"contoso","oid":"`+oid+
		`","sub":"`+oid+`","preferred_username":"`+upn+`","exp":4102444800,"iat":1700000000}`)) + "."
	body := `{"token_type":"Bearer","scope":"https://outlook.office365.com/IMAP.AccessAsUser.All","expires_in":3599,"ext_expires_in":3599,` +
		`"access_token":"` + memToken("contoso") + `","refresh_token":"rt:` + upn + `","id_token":"` + idt +
		`","client_info":"` + enc([]byte(`{"uid":"`+oid+`","utid":"contoso"}`)) + `"}`
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
}

// BenchmarkMemoryPerAccount reports the heap per signed-in delegated
// account (refresh token imported, one access token), 2,000 accounts.
func BenchmarkMemoryPerAccount(b *testing.B) {
	const n = 2_000
	hc := &http.Client{Transport: cannedUserIdP{}}
	cl := cloud.Global
	cl.AuthorityHost = "https://login.test"
	ctx := context.Background()
	for b.Loop() {
		before := heapInUse()
		c := New(&Options{HTTPClient: hc})
		srcs := make([]*Source, n)
		for i := range srcs {
			upn := fmt.Sprintf("user%05d@contoso.test", i)
			u, err := c.Delegated(DelegatedConfig{Cloud: cl, TenantID: "contoso", ClientID: "pub1", Account: upn,
				Scopes: []string{"https://outlook.office365.com/IMAP.AccessAsUser.All", "offline_access"}})
			if err != nil {
				b.Fatal(err)
			}
			if err := u.ImportRefreshToken(ctx, "rt:"+upn); err != nil {
				b.Fatal(err)
			}
			srcs[i] = u.Source()
			if _, err := srcs[i].TokenContext(ctx); err != nil {
				b.Fatal(err)
			}
		}
		after := heapInUse()
		runtime.KeepAlive(srcs)
		per := (float64(after) - float64(before)) / n
		b.ReportMetric(per, "B/account")
		b.ReportMetric(per-memTokenLen, "B/account-beyond-token")
	}
}
