package fakeidp

import (
	"context"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
)

const (
	testTenant = "t1"
	testApp    = "11111111-0000-0000-0000-00000000a001"
	testSecret = "s3cret-value"
	exoDefault = "https://outlook.office365.com/.default"
)

func newTestIdP(t *testing.T, opts Options) *IdP {
	t.Helper()
	idp, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(idp.Close)
	return idp
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestMSALClientSecret(t *testing.T) {
	idp := newTestIdP(t, Options{RefreshIn: 30 * time.Minute})
	idp.AddApp(App{TenantID: testTenant, ClientID: testApp, Secret: testSecret, Roles: []string{"IMAP.AccessAsApp"}})
	cred, err := confidential.NewCredFromSecret(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	client, err := confidential.New(idp.Authority(testTenant), testApp, cred,
		confidential.WithInstanceDiscovery(false), confidential.WithHTTPClient(idp.HTTPClient()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	res, err := client.AcquireTokenByCredential(ctx, []string{exoDefault})
	if err != nil {
		t.Fatal(err)
	}
	claims, err := idp.Verify(res.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if claims.Audience != "https://outlook.office365.com" || claims.TenantID != testTenant || claims.AppID != testApp || !claims.HasRole("IMAP.AccessAsApp") {
		t.Errorf("claims = %+v", claims)
	}
	if d := time.Until(res.ExpiresOn); d < 59*time.Minute || d > 61*time.Minute {
		t.Errorf("ExpiresOn in %s, want about 1h", d)
	}
	if got := idp.Requests(GrantClientCredentials); got != 1 {
		t.Errorf("client_credentials requests = %d, want 1", got)
	}
	// A second call is a cache hit inside MSAL: no new request.
	if _, err := client.AcquireTokenByCredential(ctx, []string{exoDefault}); err != nil {
		t.Fatal(err)
	}
	if got := idp.TotalRequests(); got != 1 {
		t.Errorf("token requests after a cache hit = %d, want 1", got)
	}

	bad, _ := confidential.NewCredFromSecret("wrong")
	client2, err := confidential.New(idp.Authority(testTenant), testApp, bad,
		confidential.WithInstanceDiscovery(false), confidential.WithHTTPClient(idp.HTTPClient()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client2.AcquireTokenByCredential(ctx, []string{exoDefault}); err == nil {
		t.Fatal("a wrong secret got a token")
	}
}
