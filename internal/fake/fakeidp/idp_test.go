package fakeidp

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

type answer struct {
	status int
	header http.Header
	raw    []byte
	doc    map[string]any
}

func post(t *testing.T, ctx context.Context, idp *IdP, tenant string, form url.Values) (answer, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, idp.TokenURL(tenant), strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := idp.HTTPClient().Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := answer{status: resp.StatusCode, header: resp.Header, raw: raw}
	_ = json.Unmarshal(raw, &a.doc)
	return a, nil
}

func mustPost(t *testing.T, idp *IdP, tenant string, form url.Values) answer {
	t.Helper()
	a, err := post(t, testCtx(t), idp, tenant, form)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func ccForm() url.Values {
	return url.Values{"grant_type": {GrantClientCredentials}, "client_id": {testApp}, "client_secret": {testSecret}, "scope": {exoDefault}}
}

// checkEntraError checks Entra's error document shape and the AADSTS code.
func checkEntraError(t *testing.T, a answer, status int, errCode string, aadsts int) {
	t.Helper()
	if a.status != status {
		t.Fatalf("status = %d, want %d; body %s", a.status, status, a.raw)
	}
	if a.doc["error"] != errCode {
		t.Errorf("error = %v, want %s", a.doc["error"], errCode)
	}
	desc, _ := a.doc["error_description"].(string)
	if !strings.HasPrefix(desc, fmt.Sprintf("AADSTS%d: ", aadsts)) || !strings.Contains(desc, "Trace ID: ") || !strings.Contains(desc, "Correlation ID: ") {
		t.Errorf("error_description = %q", desc)
	}
	codes, _ := a.doc["error_codes"].([]any)
	if len(codes) != 1 || codes[0] != float64(aadsts) {
		t.Errorf("error_codes = %v, want [%d]", a.doc["error_codes"], aadsts)
	}
	for _, k := range []string{"timestamp", "trace_id", "correlation_id"} {
		if s, _ := a.doc[k].(string); s == "" {
			t.Errorf("%s missing", k)
		}
	}
	if _, err := time.Parse("2006-01-02 15:04:05Z", a.doc["timestamp"].(string)); err != nil {
		t.Errorf("timestamp: %v", err)
	}
}

func TestTokenResponseShape(t *testing.T) {
	idp := newTestIdP(t, Options{TokenLifetime: 2 * time.Hour, RefreshIn: time.Hour})
	idp.AddApp(App{TenantID: testTenant, ClientID: testApp, Secret: testSecret})
	a := mustPost(t, idp, testTenant, ccForm())
	if a.status != 200 {
		t.Fatalf("status %d: %s", a.status, a.raw)
	}
	if a.doc["token_type"] != "Bearer" || a.doc["expires_in"] != float64(7200) || a.doc["ext_expires_in"] != float64(7200) || a.doc["refresh_in"] != float64(3600) {
		t.Errorf("response = %s", a.raw)
	}
	if _, ok := a.doc["refresh_token"]; ok {
		t.Error("client_credentials answer has a refresh_token")
	}
	at := a.doc["access_token"].(string)
	hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(at, ".")[0])
	var h map[string]any
	if err := json.Unmarshal(hdr, &h); err != nil || h["alg"] != "RS256" || h["typ"] != "JWT" || h["kid"] != idp.KeyID() {
		t.Errorf("header = %s", hdr)
	}
	c, err := idp.Verify(at)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.ExpiresAt.Sub(c.IssuedAt); got != 2*time.Hour {
		t.Errorf("exp - iat = %s", got)
	}
	if c.Roles != nil || c.Scp != nil {
		t.Errorf("app without roles got roles %v scp %v", c.Roles, c.Scp)
	}
	if c.Issuer != idp.URL()+"/"+testTenant+"/v2.0" {
		t.Errorf("iss = %q", c.Issuer)
	}

	// Errors in Entra's shape.
	f := ccForm()
	f.Set("client_secret", "nope")
	checkEntraError(t, mustPost(t, idp, testTenant, f), 401, "invalid_client", 7000215)
	f = ccForm()
	f.Set("client_id", "unknown")
	checkEntraError(t, mustPost(t, idp, testTenant, f), 400, "unauthorized_client", 700016)
	checkEntraError(t, mustPost(t, idp, "other-tenant", ccForm()), 400, "unauthorized_client", 700016)
	f = ccForm()
	f.Set("scope", "https://outlook.office365.com/IMAP.AccessAsApp")
	checkEntraError(t, mustPost(t, idp, testTenant, f), 400, "invalid_scope", 1002012)
	f = ccForm()
	f.Set("grant_type", "password")
	checkEntraError(t, mustPost(t, idp, testTenant, f), 400, "unsupported_grant_type", 70003)
	if got := idp.Requests(GrantClientCredentials); got != 5 {
		t.Errorf("client_credentials count = %d, want 5", got)
	}
	if got := idp.TotalRequests(); got != 6 {
		t.Errorf("total = %d, want 6", got)
	}
	idp.ResetCounters()
	if idp.TotalRequests() != 0 || idp.Requests(GrantClientCredentials) != 0 {
		t.Error("ResetCounters left counts")
	}
}

func TestAudienceIssuerAndDovecot(t *testing.T) {
	idp := newTestIdP(t, Options{Issuer: "https://sts.windows.net/{tenant}/", DovecotClaims: true})
	addAlice(idp)
	rt := idp.IssueRefreshToken(testTenant, publicApp, alice, []string{imapScope})
	a := mustPost(t, idp, testTenant, url.Values{"grant_type": {GrantRefreshToken}, "client_id": {publicApp}, "refresh_token": {rt},
		"scope": {"https://outlook.office365.com/IMAP.AccessAsUser.All https://outlook.office365.com/SMTP.Send offline_access openid profile"}})
	if a.status != 200 {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	c, err := idp.Verify(a.doc["access_token"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if c.Issuer != "https://sts.windows.net/"+testTenant+"/" || c.Email != alice || c.Scope != "IMAP.AccessAsUser.All SMTP.Send" {
		t.Errorf("claims = %+v", c)
	}
	if a.doc["scope"] != "https://outlook.office365.com/IMAP.AccessAsUser.All https://outlook.office365.com/SMTP.Send" {
		t.Errorf("scope = %v", a.doc["scope"])
	}
	// Two resources in one request: AADSTS28000.
	rt = a.doc["refresh_token"].(string)
	a = mustPost(t, idp, testTenant, url.Values{"grant_type": {GrantRefreshToken}, "client_id": {publicApp}, "refresh_token": {rt},
		"scope": {imapScope + " https://graph.microsoft.com/Mail.Read"}})
	checkEntraError(t, a, 400, "invalid_request", 28000)

	fixed := newTestIdP(t, Options{Audience: "https://outlook.office.com"})
	addAlice(fixed)
	rt = fixed.IssueRefreshToken(testTenant, publicApp, alice, []string{imapScope})
	a = mustPost(t, fixed, testTenant, url.Values{"grant_type": {GrantRefreshToken}, "client_id": {publicApp}, "refresh_token": {rt}})
	if c, err := fixed.Verify(a.doc["access_token"].(string)); err != nil || c.Audience != "https://outlook.office.com" {
		t.Errorf("aud with Options.Audience: %v %+v", err, c)
	}
}

func TestRefreshRotation(t *testing.T) {
	idp := newTestIdP(t, Options{})
	addAlice(idp)
	rt := idp.IssueRefreshToken(testTenant, publicApp, alice, []string{imapScope})
	form := func(rt string) url.Values {
		return url.Values{"grant_type": {GrantRefreshToken}, "client_id": {publicApp}, "refresh_token": {rt}, "scope": {imapScope + " offline_access openid profile"}}
	}
	a := mustPost(t, idp, testTenant, form(rt))
	if a.status != 200 {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	next, _ := a.doc["refresh_token"].(string)
	if next == "" || next == rt {
		t.Fatalf("no rotated refresh token: %s", a.raw)
	}
	if a.doc["id_token"] == nil || a.doc["client_info"] == nil {
		t.Errorf("delegated answer lacks id_token or client_info: %s", a.raw)
	}
	ci, _ := base64.RawURLEncoding.DecodeString(a.doc["client_info"].(string))
	if !strings.Contains(string(ci), `"utid":"`+testTenant+`"`) {
		t.Errorf("client_info = %s", ci)
	}
	// The redeemed token is dead.
	checkEntraError(t, mustPost(t, idp, testTenant, form(rt)), 400, "invalid_grant", 70000)
	// Another client cannot redeem it, and the attempt does not kill it.
	idp.AddApp(App{ClientID: "thief"})
	f := form(next)
	f.Set("client_id", "thief")
	checkEntraError(t, mustPost(t, idp, testTenant, f), 400, "invalid_grant", 70000)

	// Racing redemptions of one token: exactly one wins.
	var wins, losses atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := post(t, context.Background(), idp, testTenant, form(next))
			switch {
			case err != nil:
				t.Error(err)
			case a.status == 200:
				wins.Add(1)
			case a.doc["error"] == "invalid_grant":
				losses.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 || losses.Load() != 15 {
		t.Errorf("wins %d losses %d, want 1 and 15", wins.Load(), losses.Load())
	}
}

func TestRefreshTokenExpiry(t *testing.T) {
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	idp := newTestIdP(t, Options{Now: clock, RefreshTokenLifetime: time.Hour})
	addAlice(idp)
	rt := idp.IssueRefreshToken(testTenant, publicApp, alice, []string{imapScope})
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	a := mustPost(t, idp, testTenant, url.Values{"grant_type": {GrantRefreshToken}, "client_id": {publicApp}, "refresh_token": {rt}})
	checkEntraError(t, a, 400, "invalid_grant", 700082)
}

func TestAuthCodePKCE(t *testing.T) {
	idp := newTestIdP(t, Options{})
	addAlice(idp)
	verifier := "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	redirect := "http://localhost:8400/cb"
	authorize := func() string {
		q := url.Values{"client_id": {publicApp}, "response_type": {"code"}, "redirect_uri": {redirect}, "scope": {imapScope + " offline_access"},
			"state": {"st1"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}, "login_hint": {alice}}
		c := idp.HTTPClient()
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, err := c.Get(idp.AuthorizeURL(testTenant) + "?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, err := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(loc.String(), redirect+"?") || loc.Query().Get("state") != "st1" {
			t.Fatalf("authorize answered %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		return loc.Query().Get("code")
	}
	redeem := func(code, v string) answer {
		return mustPost(t, idp, testTenant, url.Values{"grant_type": {GrantAuthorizationCode}, "client_id": {publicApp}, "code": {code},
			"redirect_uri": {redirect}, "code_verifier": {v}, "scope": {imapScope + " offline_access"}})
	}
	code := authorize()
	checkEntraError(t, redeem(code, "wrong-verifier"), 400, "invalid_grant", 501481)
	checkEntraError(t, redeem(code, verifier), 400, "invalid_grant", 70000) // single use, even after a failure
	code = authorize()
	if a := redeem(code, verifier); a.status != 200 || a.doc["refresh_token"] == nil {
		t.Fatalf("good verifier: %d %s", a.status, a.raw)
	}
	checkEntraError(t, redeem(code, verifier), 400, "invalid_grant", 70000)
	if got := idp.Requests("authorize"); got != 2 {
		t.Errorf("authorize count = %d", got)
	}
	// A redirect URI that is not loopback is refused without a redirect.
	resp, err := idp.HTTPClient().Get(idp.AuthorizeURL(testTenant) + "?client_id=" + publicApp + "&response_type=code&redirect_uri=https%3A%2F%2Fevil.example%2F")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("foreign redirect_uri: status %d", resp.StatusCode)
	}
	if err := idp.Browse(context.Background(), "https://evil.example/"); err == nil {
		t.Error("Browse opened a foreign URL")
	}
}

func TestFaults(t *testing.T) {
	idp := newTestIdP(t, Options{})
	idp.AddApp(App{TenantID: testTenant, ClientID: testApp, Secret: testSecret})
	addAlice(idp)

	idp.InjectFaults(FaultServerError())
	checkEntraError(t, mustPost(t, idp, testTenant, ccForm()), 500, "server_error", 50000)

	idp.InjectFaults(FaultThrottled(1500 * time.Millisecond))
	a := mustPost(t, idp, testTenant, ccForm())
	checkEntraError(t, a, 429, "temporarily_unavailable", 50196)
	if got := a.header.Get("Retry-After"); got != "2" {
		t.Errorf("Retry-After = %q, want 2 (rounded up)", got)
	}

	idp.InjectFaults(FaultServiceUnavailable(3 * time.Second))
	a = mustPost(t, idp, testTenant, ccForm())
	if a.status != 503 || a.header.Get("Retry-After") != "3" {
		t.Errorf("503 fault: %d %v", a.status, a.header)
	}

	idp.InjectFaults(FaultInvalidJSON())
	a = mustPost(t, idp, testTenant, ccForm())
	var v any
	if a.status != 200 || json.Unmarshal(a.raw, &v) == nil {
		t.Errorf("invalid JSON fault: %d %s", a.status, a.raw)
	}

	// A refresh-only fault waits for a refresh request; other grants pass.
	idp.InjectFaults(FaultRefreshTokenExpired())
	if a := mustPost(t, idp, testTenant, ccForm()); a.status != 200 {
		t.Fatalf("client_credentials hit a refresh-only fault: %s", a.raw)
	}
	if idp.PendingFaults() != 1 {
		t.Fatalf("pending = %d, want 1", idp.PendingFaults())
	}
	rt := idp.IssueRefreshToken(testTenant, publicApp, alice, []string{imapScope})
	rf := url.Values{"grant_type": {GrantRefreshToken}, "client_id": {publicApp}, "refresh_token": {rt}}
	checkEntraError(t, mustPost(t, idp, testTenant, rf), 400, "invalid_grant", 70043)
	// The faulted request did not redeem the token.
	if a := mustPost(t, idp, testTenant, rf); a.status != 200 {
		t.Fatalf("refresh after fault: %s", a.raw)
	}

	idp.InjectFaults(FaultInteractionRequired())
	a = mustPost(t, idp, testTenant, ccForm())
	checkEntraError(t, a, 400, "invalid_grant", 50076)
	if a.doc["suberror"] != "basic_action" || a.doc["claims"] == nil {
		t.Errorf("interaction fault: %s", a.raw)
	}

	// A hang ends when the client gives up.
	idp.InjectFaults(FaultHang())
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if a, err := post(t, ctx, idp, testTenant, ccForm()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hang: err = %v, want deadline exceeded; answer %d %s after %s", err, a.status, a.raw, time.Since(start))
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("hang took %s", d)
	}

	// A slow answer is late but good.
	idp.InjectFaults(FaultSlow(80 * time.Millisecond))
	start = time.Now()
	if a := mustPost(t, idp, testTenant, ccForm()); a.status != 200 || time.Since(start) < 80*time.Millisecond {
		t.Errorf("slow: %d after %s", a.status, time.Since(start))
	}

	idp.InjectFaults(FaultServerError(), FaultServerError())
	idp.ClearFaults()
	if idp.PendingFaults() != 0 || mustPost(t, idp, testTenant, ccForm()).status != 200 {
		t.Error("ClearFaults left faults")
	}
}

func TestLatencyAndClose(t *testing.T) {
	idp, err := New(Options{Latency: 60 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	idp.AddApp(App{TenantID: testTenant, ClientID: testApp, Secret: testSecret})
	start := time.Now()
	if a := mustPost(t, idp, testTenant, ccForm()); a.status != 200 || time.Since(start) < 60*time.Millisecond {
		t.Errorf("latency: %d after %s", a.status, time.Since(start))
	}
	// Close ends a request that would hang forever.
	idp.InjectFaults(FaultHang())
	done := make(chan error, 1)
	go func() {
		_, err := post(t, context.Background(), idp, testTenant, ccForm())
		done <- err
	}()
	for idp.PendingFaults() != 0 {
		time.Sleep(time.Millisecond)
	}
	closed := make(chan struct{})
	go func() { idp.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close blocked on a hanging request")
	}
	<-done
	idp.Close() // twice is fine
}

func TestVerify(t *testing.T) {
	idp := newTestIdP(t, Options{})
	now := time.Now()
	good := Claims{Audience: "aud1", Issuer: "iss1", Subject: "sub1", TenantID: "t", OID: "o", AppID: "a", UPN: "u@x", PreferredUsername: "u@x",
		Scp: []string{"IMAP.AccessAsUser.All", "SMTP.Send"}, Roles: []string{"r1"}, IssuedAt: now, NotBefore: now, ExpiresAt: now.Add(time.Hour),
		Extra: map[string]any{"custom": "v"}}
	tok, err := idp.Mint(good)
	if err != nil {
		t.Fatal(err)
	}
	c, err := idp.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Audience != "aud1" || c.Issuer != "iss1" || c.Subject != "sub1" || c.UPN != "u@x" || !c.HasScope("SMTP.Send") || !c.HasRole("r1") ||
		c.ExpiresAt.Unix() != now.Add(time.Hour).Unix() || c.Extra["custom"] != "v" || c.AppID != "a" {
		t.Errorf("round trip: %+v", c)
	}
	expired := good
	expired.ExpiresAt = now.Add(-time.Minute)
	future := good
	future.NotBefore = now.Add(time.Hour)
	noExp := good
	noExp.ExpiresAt = time.Time{}
	other := newTestIdP(t, Options{})
	foreign, _ := other.Mint(good)
	mint := func(c Claims) string {
		s, err := idp.Mint(c)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	parts := strings.Split(tok, ".")
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"aud":"evil","exp":9999999999}`)) + "." + parts[2]
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT","kid":"`+idp.KeyID()+`"}`)) + "." + parts[1] + "."
	for _, tc := range []struct {
		name, token string
		want        error
	}{
		{"expired", mint(expired), ErrTokenExpired},
		{"not yet valid", mint(future), ErrTokenNotYetValid},
		{"no exp", mint(noExp), ErrTokenMalformed},
		{"other IdP", foreign, ErrTokenSignature},
		{"tampered", tampered, ErrTokenSignature},
		{"alg none", none, ErrTokenSignature},
		{"garbage", "not-a-jwt", ErrTokenMalformed},
		{"empty", "", ErrTokenMalformed},
	} {
		_, err := idp.Verify(tc.token)
		var te *TokenError
		if !errors.Is(err, tc.want) || !errors.As(err, &te) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
		if err != nil && tc.token != "" && strings.Contains(err.Error(), tc.token) {
			t.Errorf("%s: error contains the token", tc.name)
		}
	}
}

func TestDiscoveryAndJWKS(t *testing.T) {
	idp := newTestIdP(t, Options{})
	get := func(u string) map[string]any {
		resp, err := idp.HTTPClient().Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %d %v", u, resp.StatusCode, err)
		}
		return m
	}
	d := get(idp.Authority(testTenant) + "/v2.0/.well-known/openid-configuration")
	if d["issuer"] != idp.URL()+"/"+testTenant+"/v2.0" || d["token_endpoint"] != idp.TokenURL(testTenant) ||
		d["device_authorization_endpoint"] != idp.DeviceCodeURL(testTenant) || d["authorization_endpoint"] != idp.AuthorizeURL(testTenant) ||
		d["jwks_uri"] != idp.JWKSURL(testTenant) {
		t.Errorf("discovery = %v", d)
	}
	// The JWKS key verifies a minted token without the IdP.
	keys := get(d["jwks_uri"].(string))["keys"].([]any)
	k := keys[0].(map[string]any)
	n, _ := base64.RawURLEncoding.DecodeString(k["n"].(string))
	e, _ := base64.RawURLEncoding.DecodeString(k["e"].(string))
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	tok, _ := idp.Mint(Claims{Audience: "x", ExpiresAt: time.Now().Add(time.Minute)})
	parsed, err := jwt.Parse(tok, func(t *jwt.Token) (any, error) { return pub, nil }, jwt.WithValidMethods([]string{"RS256"}))
	if err != nil || !parsed.Valid || parsed.Header["kid"] != k["kid"] {
		t.Errorf("JWKS verification: %v", err)
	}
	if !bytes.Contains(idp.PublicKeyPEM(), []byte("BEGIN PUBLIC KEY")) {
		t.Error("PublicKeyPEM")
	}
	get(idp.URL() + "/discovery/v2.0/keys")
}

func TestRedaction(t *testing.T) {
	const secret = "Sup3rSecretValue"
	idp := newTestIdP(t, Options{})
	app := App{TenantID: testTenant, ClientID: testApp, Secret: secret}
	idp.AddApp(app)
	opts := Options{SigningKey: idp.key}
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	logger.Info("x", "app", app, "opts", opts, "idp", idp)
	keyDigits := idp.key.D.String()[:20]
	for _, s := range []string{
		fmt.Sprintf("%v %+v %#v %s", app, app, app, app),
		fmt.Sprintf("%v %+v %#v", &app, &app, &app),
		fmt.Sprintf("%v %+v %#v", opts, opts, opts),
		fmt.Sprintf("%v %+v %#v", idp, idp, idp),
		logs.String(),
	} {
		if strings.Contains(s, secret) || strings.Contains(s, keyDigits) {
			t.Errorf("secret material in %q", s)
		}
	}
	// Error answers never echo the secret that was sent.
	f := ccForm()
	f.Set("client_secret", secret+"x")
	if a := mustPost(t, idp, testTenant, f); bytes.Contains(a.raw, []byte(secret)) {
		t.Errorf("error answer echoes the secret: %s", a.raw)
	}
}

func TestLoggerAndBasicAuth(t *testing.T) {
	var logs bytes.Buffer
	idp := newTestIdP(t, Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	idp.AddApp(App{TenantID: testTenant, ClientID: testApp, Secret: testSecret})
	req, _ := http.NewRequest(http.MethodPost, idp.TokenURL(testTenant), strings.NewReader("grant_type=client_credentials&scope="+url.QueryEscape(exoDefault)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(testApp, testSecret)
	resp, err := idp.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("client_secret_basic: status %d", resp.StatusCode)
	}
	if !strings.Contains(logs.String(), "oauth2/v2.0/token") || strings.Contains(logs.String(), testSecret) {
		t.Errorf("log = %q", logs.String())
	}
}
