package fakeidp

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
	"github.com/golang-jwt/jwt/v5"
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

const (
	publicApp = "22222222-0000-0000-0000-00000000b002"
	alice     = "alice@contoso.test"
	imapScope = "https://outlook.office365.com/IMAP.AccessAsUser.All"
)

// selfSigned makes an RSA certificate for client assertions (MSAL signs PS256).
func selfSigned(t *testing.T, notAfter time.Time) (*x509.Certificate, *rsa.PrivateKey) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7),
		Subject:      pkix.Name{CommonName: "app cert"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     notAfter,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func TestMSALClientCertificate(t *testing.T) {
	idp := newTestIdP(t, Options{})
	cert, key := selfSigned(t, time.Now().Add(time.Hour))
	other, otherKey := selfSigned(t, time.Now().Add(time.Hour))
	idp.AddApp(App{TenantID: testTenant, ClientID: testApp, Cert: cert, Roles: []string{"SMTP.SendAsApp"}})
	ctx := testCtx(t)
	acquire := func(c *x509.Certificate, k *rsa.PrivateKey) (confidential.AuthResult, error) {
		cred, err := confidential.NewCredFromCert([]*x509.Certificate{c}, k)
		if err != nil {
			t.Fatal(err)
		}
		client, err := confidential.New(idp.Authority(testTenant), testApp, cred,
			confidential.WithInstanceDiscovery(false), confidential.WithHTTPClient(idp.HTTPClient()))
		if err != nil {
			t.Fatal(err)
		}
		return client.AcquireTokenByCredential(ctx, []string{exoDefault})
	}
	res, err := acquire(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := idp.Verify(res.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if !claims.HasRole("SMTP.SendAsApp") || claims.Extra["appidacr"] != "2" {
		t.Errorf("claims = %+v", claims)
	}
	// A certificate the app did not register is refused.
	_, err = acquire(other, otherKey)
	if err == nil || !strings.Contains(err.Error(), "AADSTS700027") {
		t.Fatalf("unregistered certificate: err = %v, want AADSTS700027", err)
	}
	// The registered certificate's thumbprint with another key: bad signature.
	forged := confidential.NewCredFromAssertionCallback(func(ctx context.Context, o confidential.AssertionRequestOptions) (string, error) {
		sum := sha256.Sum256(cert.Raw)
		tok := jwt.NewWithClaims(jwt.SigningMethodPS256, jwt.MapClaims{
			"aud": o.TokenEndpoint, "iss": o.ClientID, "sub": o.ClientID, "jti": "j1",
			"nbf": time.Now().Unix(), "exp": time.Now().Add(5 * time.Minute).Unix(),
		})
		tok.Header["x5t#S256"] = base64.StdEncoding.EncodeToString(sum[:])
		return tok.SignedString(otherKey)
	})
	client, err := confidential.New(idp.Authority(testTenant), testApp, forged,
		confidential.WithInstanceDiscovery(false), confidential.WithHTTPClient(idp.HTTPClient()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err = client.AcquireTokenByCredential(ctx, []string{exoDefault}); err == nil || !strings.Contains(err.Error(), "AADSTS700027") {
		t.Fatalf("wrong key: err = %v, want AADSTS700027", err)
	}
}

func newPublic(t *testing.T, idp *IdP, tenant string) public.Client {
	t.Helper()
	pc, err := public.New(publicApp, public.WithAuthority(idp.Authority(tenant)),
		public.WithInstanceDiscovery(false), public.WithHTTPClient(idp.HTTPClient()))
	if err != nil {
		t.Fatal(err)
	}
	return pc
}

func addAlice(idp *IdP) {
	idp.AddApp(App{ClientID: publicApp})
	idp.AddUser(User{TenantID: testTenant, UPN: alice})
}

func checkDelegated(t *testing.T, idp *IdP, res public.AuthResult) {
	t.Helper()
	claims, err := idp.Verify(res.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if claims.UPN != alice || claims.PreferredUsername != alice || !claims.HasScope("IMAP.AccessAsUser.All") ||
		claims.TenantID != testTenant || claims.AppID != publicApp || claims.Audience != "https://outlook.office365.com" {
		t.Errorf("claims = %+v", claims)
	}
	if res.Account.PreferredUsername != alice || res.Account.HomeAccountID == "" {
		t.Errorf("account = %+v", res.Account)
	}
}

func TestMSALDeviceCode(t *testing.T) {
	idp := newTestIdP(t, Options{})
	addAlice(idp)
	pc := newPublic(t, idp, testTenant)
	ctx := testCtx(t)
	dc, err := pc.AcquireTokenByDeviceCode(ctx, []string{imapScope})
	if err != nil {
		t.Fatal(err)
	}
	if dc.Result.UserCode == "" || !strings.Contains(dc.Result.Message, dc.Result.UserCode) {
		t.Fatalf("device code result = %+v", dc.Result)
	}
	go func() {
		// Approve once MSAL has polled at least once and seen authorization_pending.
		for idp.Requests(GrantDeviceCode) < 1 {
			time.Sleep(5 * time.Millisecond)
		}
		if err := idp.ApproveDevice(dc.Result.UserCode, alice); err != nil {
			t.Error(err)
		}
	}()
	res, err := dc.AuthenticationResult(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkDelegated(t, idp, res)
	if got := idp.Requests(GrantDeviceCode); got < 2 {
		t.Errorf("device_code polls = %d, want at least 2 (pending, then success)", got)
	}
	if got := idp.Requests("devicecode"); got != 1 {
		t.Errorf("devicecode requests = %d, want 1", got)
	}
}

func TestMSALDeviceCodeAutoApprove(t *testing.T) {
	idp := newTestIdP(t, Options{DefaultUser: alice, AutoApproveDevice: true})
	addAlice(idp)
	pc := newPublic(t, idp, "organizations")
	ctx := testCtx(t)
	dc, err := pc.AcquireTokenByDeviceCode(ctx, []string{imapScope})
	if err != nil {
		t.Fatal(err)
	}
	res, err := dc.AuthenticationResult(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkDelegated(t, idp, res)
}

// TestMSALDeviceCodeLoginPage approves through the verification_uri page,
// as a person with a browser would.
func TestMSALDeviceCodeLoginPage(t *testing.T) {
	idp := newTestIdP(t, Options{})
	addAlice(idp)
	pc := newPublic(t, idp, testTenant)
	ctx := testCtx(t)
	dc, err := pc.AcquireTokenByDeviceCode(ctx, []string{imapScope})
	if err != nil {
		t.Fatal(err)
	}
	if dc.Result.VerificationURL != idp.URL()+"/devicelogin" {
		t.Fatalf("verification_uri = %q", dc.Result.VerificationURL)
	}
	resp, err := idp.HTTPClient().PostForm(dc.Result.VerificationURL, url.Values{"user_code": {dc.Result.UserCode}, "login_hint": {alice}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("device login page: %d", resp.StatusCode)
	}
	res, err := dc.AuthenticationResult(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkDelegated(t, idp, res)
	resp, err = idp.HTTPClient().PostForm(dc.Result.VerificationURL, url.Values{"user_code": {"NOPE"}, "login_hint": {alice}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("unknown user code: %d", resp.StatusCode)
	}
}

func TestMSALDeviceCodeDenied(t *testing.T) {
	idp := newTestIdP(t, Options{})
	addAlice(idp)
	pc := newPublic(t, idp, testTenant)
	ctx := testCtx(t)
	dc, err := pc.AcquireTokenByDeviceCode(ctx, []string{imapScope})
	if err != nil {
		t.Fatal(err)
	}
	if err := idp.DenyDevice(dc.Result.UserCode); err != nil {
		t.Fatal(err)
	}
	if _, err := dc.AuthenticationResult(ctx); err == nil || !strings.Contains(err.Error(), "authorization_declined") {
		t.Fatalf("err = %v, want authorization_declined", err)
	}
}

func TestMSALInteractiveAndSilent(t *testing.T) {
	idp := newTestIdP(t, Options{})
	addAlice(idp)
	pc := newPublic(t, idp, testTenant)
	ctx := testCtx(t)
	res, err := pc.AcquireTokenInteractive(ctx, []string{imapScope},
		public.WithLoginHint(alice), public.WithOpenURL(idp.OpenURL))
	if err != nil {
		t.Fatal(err)
	}
	checkDelegated(t, idp, res)
	if got := idp.Requests(GrantAuthorizationCode); got != 1 {
		t.Errorf("authorization_code requests = %d, want 1", got)
	}
	rtBefore := idp.LiveRefreshTokens()

	// Silent with a cached, valid access token: no request.
	if _, err := pc.AcquireTokenSilent(ctx, []string{imapScope}, public.WithSilentAccount(res.Account)); err != nil {
		t.Fatal(err)
	}
	if got := idp.Requests(GrantRefreshToken); got != 0 {
		t.Fatalf("refresh requests on a cache hit = %d", got)
	}
	// Silent for another scope of the same resource: MSAL redeems its refresh token.
	smtp := "https://outlook.office365.com/SMTP.Send"
	res2, err := pc.AcquireTokenSilent(ctx, []string{smtp}, public.WithSilentAccount(res.Account))
	if err != nil {
		t.Fatal(err)
	}
	claims, err := idp.Verify(res2.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if !claims.HasScope("SMTP.Send") || claims.UPN != alice {
		t.Errorf("claims = %+v", claims)
	}
	if got := idp.Requests(GrantRefreshToken); got != 1 {
		t.Errorf("refresh requests = %d, want 1", got)
	}
	if got := idp.LiveRefreshTokens(); got != rtBefore {
		t.Errorf("live refresh tokens = %d, want %d (one redeemed, one issued)", got, rtBefore)
	}
	// MSAL cached the rotated token and uses it: a third scope works too.
	if _, err := pc.AcquireTokenSilent(ctx, []string{"https://outlook.office365.com/POP.AccessAsUser.All"}, public.WithSilentAccount(res.Account)); err != nil {
		t.Fatal(err)
	}
}

func TestMSALInteractiveDefaultUserAndFailures(t *testing.T) {
	idp := newTestIdP(t, Options{DefaultUser: alice})
	addAlice(idp)
	pc := newPublic(t, idp, testTenant)
	ctx := testCtx(t)
	res, err := pc.AcquireTokenInteractive(ctx, []string{imapScope}, public.WithOpenURL(idp.OpenURL))
	if err != nil {
		t.Fatal(err)
	}
	checkDelegated(t, idp, res)
	// An unknown login_hint comes back to MSAL as an error on the redirect.
	_, err = pc.AcquireTokenInteractive(ctx, []string{imapScope}, public.WithLoginHint("nobody@contoso.test"), public.WithOpenURL(idp.OpenURL))
	if err == nil || !strings.Contains(err.Error(), "AADSTS50058") {
		t.Fatalf("unknown user: err = %v, want AADSTS50058", err)
	}
}
