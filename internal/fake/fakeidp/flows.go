package fakeidp

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha1" // #nosec G505 -- x5t is defined as a SHA-1 thumbprint (RFC 7515 §4.1.7)
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// checkAssertion verifies a client_assertion JWT against app's registered
// certificate. It returns 0 when the assertion is good, else the AADSTS code
// and a message.
func (p *IdP) checkAssertion(app App, assertion string, r *http.Request) (int, string) {
	if app.FederatedTokenFile != "" {
		return p.checkFederated(app, assertion)
	}
	if app.Cert == nil {
		return 700027, "Client assertion failed signature validation: no certificate is registered for app '" + app.ClientID + "'."
	}
	now := p.now()
	if now.Before(app.Cert.NotBefore) || now.After(app.Cert.NotAfter) {
		return 700027, "The registered certificate is outside its validity period."
	}
	methods := []string{"PS256", "RS256"}
	if _, ok := app.Cert.PublicKey.(*ecdsa.PublicKey); ok {
		methods = []string{"ES256", "ES384"}
	}
	tokenURL := p.url + r.URL.Path
	parser := jwt.NewParser(
		jwt.WithValidMethods(methods),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(p.now),
		jwt.WithLeeway(5*time.Minute),
		jwt.WithIssuer(app.ClientID),
		jwt.WithSubject(app.ClientID),
	)
	mc := jwt.MapClaims{}
	_, err := parser.ParseWithClaims(assertion, mc, func(t *jwt.Token) (any, error) {
		s256 := sha256.Sum256(app.Cert.Raw)
		s1 := sha1.Sum(app.Cert.Raw) // #nosec G401 -- thumbprint, not security
		x5tS256, _ := t.Header["x5t#S256"].(string)
		x5t, _ := t.Header["x5t"].(string)
		if !thumbprintMatches(x5tS256, s256[:]) && !thumbprintMatches(x5t, s1[:]) {
			return nil, errors.New("thumbprint mismatch")
		}
		switch k := app.Cert.PublicKey.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey:
			return k, nil
		}
		return nil, errors.New("unsupported key")
	})
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return 700024, "Client assertion is not within its valid time range."
	case err != nil && strings.Contains(err.Error(), "thumbprint mismatch"):
		return 700027, "Client assertion contains an invalid signature: the key identifier (x5t#S256 or x5t) does not name the registered certificate."
	case err != nil:
		return 700027, "Client assertion failed signature validation."
	}
	if !audienceMatches(mc, tokenURL, p.url+"/"+strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 2)[0]+"/v2.0") {
		return 700021, "Client assertion audience claim does not match the token endpoint '" + tokenURL + "'."
	}
	return 0, ""
}

// thumbprintMatches compares a thumbprint header (standard or URL-safe base64,
// as clients differ) with sum.
func thumbprintMatches(h string, sum []byte) bool {
	if h == "" {
		return false
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(h); err == nil && string(b) == string(sum) {
			return true
		}
	}
	return false
}

func audienceMatches(mc jwt.MapClaims, want ...string) bool {
	auds, err := mc.GetAudience()
	if err != nil {
		return false
	}
	for _, a := range auds {
		for _, w := range want {
			if strings.EqualFold(strings.TrimRight(a, "/"), w) {
				return true
			}
		}
	}
	return false
}

// userCodeAlphabet avoids letters that read alike.
const userCodeAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

func (p *IdP) serveDeviceCode(w http.ResponseWriter, r *http.Request, tenant string) {
	p.count("devicecode", false)
	if !p.parseForm(w, r) {
		return
	}
	app, ok := p.lookupApp(w, r, tenant, false)
	if !ok {
		return
	}
	scopes := strings.Fields(r.PostForm.Get("scope"))
	if len(scopes) == 0 {
		p.oauthError(w, r, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'.", "")
		return
	}
	raw := []byte(randomToken("", 9))
	for i := range raw {
		raw[i] = userCodeAlphabet[int(raw[i])%len(userCodeAlphabet)]
	}
	d := &device{
		tenant:   tenant,
		clientID: app.ClientID,
		scopes:   scopes,
		userCode: string(raw[:9]),
		expires:  p.now().Add(DefaultDeviceCodeLifetime),
	}
	dc := randomToken("DAQABAAEAAAD", 48)
	p.mu.Lock()
	if p.opts.AutoApproveDevice {
		d.approvedUPN = p.opts.DefaultUser
	}
	p.devices[dc] = d
	p.byUser[d.userCode] = d
	p.mu.Unlock()
	interval := int64((p.opts.DeviceCodeInterval + time.Second - 1) / time.Second)
	if interval <= 0 {
		interval = 5
	}
	verify := p.url + "/devicelogin"
	writeJSON(w, http.StatusOK, map[string]any{
		"user_code":        d.userCode,
		"device_code":      dc,
		"verification_uri": verify,
		"expires_in":       int64(DefaultDeviceCodeLifetime / time.Second),
		"interval":         interval,
		"message":          "To sign in, use a web browser to open the page " + verify + " and enter the code " + d.userCode + " to authenticate.",
	})
}

// ApproveDevice signs upn in on the device code shown as userCode, as a
// person would on the verification page. It fails when the code is unknown
// or the user was not added.
func (p *IdP) ApproveDevice(userCode, upn string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	d, ok := p.byUser[userCode]
	if !ok {
		return fmt.Errorf("fakeidp: no device code with user code %q", userCode)
	}
	if _, ok := p.users[strings.ToLower(upn)]; !ok {
		return fmt.Errorf("fakeidp: user %q was not added with AddUser", upn)
	}
	d.approvedUPN = upn
	return nil
}

// DenyDevice declines the device code shown as userCode: the next poll gets
// authorization_declined.
func (p *IdP) DenyDevice(userCode string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	d, ok := p.byUser[userCode]
	if !ok {
		return fmt.Errorf("fakeidp: no device code with user code %q", userCode)
	}
	d.denied = true
	return nil
}

// serveDeviceLogin is the verification page: GET or POST with user_code and
// login_hint (a UPN) approves the device code, as [IdP.ApproveDevice] does;
// without them it shows what to send.
func (p *IdP) serveDeviceLogin(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "malformed form", http.StatusBadRequest)
		return
	}
	code, upn := r.Form.Get("user_code"), r.Form.Get("login_hint")
	if code == "" || upn == "" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "fakeidp device login: send user_code=<code>&login_hint=<upn> to this page to sign in.\n")
		return
	}
	if err := p.ApproveDevice(code, upn); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "Signed in. You can return to the application.\n")
}

func (p *IdP) deviceCodeGrant(w http.ResponseWriter, r *http.Request, tenant string) {
	app, ok := p.lookupApp(w, r, tenant, false)
	if !ok {
		return
	}
	dc := r.PostForm.Get("device_code")
	p.mu.Lock()
	d, ok := p.devices[dc]
	var upn string
	var redeemed, denied bool
	if ok {
		upn, redeemed, denied = d.approvedUPN, d.redeemed, d.denied
		if upn != "" && !denied && !redeemed && d.clientID == app.ClientID {
			d.redeemed = true
		}
	}
	p.mu.Unlock()
	switch {
	case !ok || d.clientID != app.ClientID:
		p.oauthError(w, r, http.StatusBadRequest, "invalid_grant", 70000, "The provided device_code is unknown.", "")
	case redeemed:
		p.oauthError(w, r, http.StatusBadRequest, "invalid_grant", 54005, "The device code was already redeemed.", "")
	case !p.now().Before(d.expires):
		p.oauthError(w, r, http.StatusBadRequest, "expired_token", 70020, "The device code expired before the user signed in.", "")
	case denied:
		p.oauthError(w, r, http.StatusBadRequest, "authorization_declined", 70019, "The user declined the sign-in.", "")
	case upn == "":
		p.oauthError(w, r, http.StatusBadRequest, "authorization_pending", 70016, "OAuth 2.0 device flow error. Authorization is pending. Continue polling.", "")
	default:
		p.issueDelegated(w, r, tenant, app, upn, d.scopes)
	}
}

// serveAuthorize signs in the login_hint user (or Options.DefaultUser) at
// once and redirects to redirect_uri with code and state; it shows no page.
func (p *IdP) serveAuthorize(w http.ResponseWriter, r *http.Request, tenant string) {
	p.count("authorize", false)
	q := r.URL.Query()
	clientID := q.Get("client_id")
	p.mu.Lock()
	app, ok := p.apps[clientID]
	p.mu.Unlock()
	if !ok {
		http.Error(w, "AADSTS700016: Application with identifier '"+clientID+"' was not found in the directory '"+tenant+"'.", http.StatusBadRequest)
		return
	}
	redirect := q.Get("redirect_uri")
	ru, err := url.Parse(redirect)
	if err != nil || redirect == "" || !redirectAllowed(app, ru) {
		http.Error(w, "AADSTS50011: The redirect URI specified in the request does not match the redirect URIs configured for the application '"+clientID+"'.", http.StatusBadRequest)
		return
	}
	mode := q.Get("response_mode")
	if mode == "" {
		mode = "query"
	}
	respond := func(v url.Values) {
		if s := q.Get("state"); s != "" {
			v.Set("state", s)
		}
		if mode == "form_post" {
			writeFormPost(w, redirect, v)
			return
		}
		rv := ru.Query()
		for k, vs := range v {
			rv[k] = vs
		}
		ru.RawQuery = rv.Encode()
		http.Redirect(w, r, ru.String(), http.StatusFound)
	}
	fail := func(errCode string, aadsts int, desc string) {
		respond(url.Values{"error": {errCode}, "error_description": {fmt.Sprintf("AADSTS%d: %s", aadsts, desc)}})
	}
	if mode != "query" && mode != "form_post" {
		mode = "query"
		fail("invalid_request", 900144, "response_mode must be 'query' or 'form_post'.")
		return
	}
	if q.Get("response_type") != "code" {
		fail("unsupported_response_type", 700054, "response_type must be 'code' here.")
		return
	}
	method := q.Get("code_challenge_method")
	challenge := q.Get("code_challenge")
	if challenge != "" && method == "" {
		method = "plain"
	}
	if challenge != "" && method != "S256" && method != "plain" {
		fail("invalid_request", 501491, "Invalid code_challenge_method.")
		return
	}
	upn := q.Get("login_hint")
	if upn == "" {
		upn = p.opts.DefaultUser
	}
	p.mu.Lock()
	_, known := p.users[strings.ToLower(upn)]
	p.mu.Unlock()
	if upn == "" || !known {
		fail("login_required", 50058, "No user is signed in: pass a login_hint naming an added user, or set Options.DefaultUser.")
		return
	}
	code := randomToken("0.AAAAcode", 48)
	p.mu.Lock()
	p.codes[code] = &authCode{
		tenant: tenant, clientID: clientID, upn: upn, scopes: strings.Fields(q.Get("scope")),
		redirectURI: redirect, challenge: challenge, method: method, expires: p.now().Add(10 * time.Minute),
	}
	p.mu.Unlock()
	respond(url.Values{"code": {code}, "session_state": {newID()}})
}

// writeFormPost answers with the self-submitting HTML form Entra sends for
// response_mode=form_post.
func writeFormPost(w http.ResponseWriter, action string, v url.Values) {
	var b strings.Builder
	b.WriteString("<html><head><title>Working...</title></head><body>\n")
	b.WriteString(`<form method="POST" name="hiddenform" action="` + html.EscapeString(action) + "\">\n")
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.WriteString(`<input type="hidden" name="` + html.EscapeString(k) + `" value="` + html.EscapeString(v.Get(k)) + "\" />\n")
	}
	b.WriteString("<noscript><p>Script is disabled. Click Submit to continue.</p><input type=\"submit\" value=\"Submit\" /></noscript>\n")
	b.WriteString("</form>\n<script language=\"javascript\">document.forms[0].submit();</script>\n</body></html>\n")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store, no-cache")
	_, _ = io.WriteString(w, b.String())
}

func redirectAllowed(app App, u *url.URL) bool {
	if len(app.RedirectURIs) > 0 {
		for _, allowed := range app.RedirectURIs {
			if strings.EqualFold(strings.TrimRight(allowed, "/"), strings.TrimRight(u.Scheme+"://"+u.Host+u.Path, "/")) {
				return true
			}
		}
		return false
	}
	h := u.Hostname()
	return u.Scheme == "http" && (h == "localhost" || h == "127.0.0.1" || h == "::1")
}

// IssueRefreshToken creates a live refresh token for upn and clientID in
// tenant, as if the user had signed in earlier, for import tests. The user
// and app must be added for it to be redeemable.
func (p *IdP) IssueRefreshToken(tenant, clientID, upn string, scopes []string) string {
	rt := randomToken("0.AAAA", 96)
	sc := append([]string(nil), scopes...)
	hasOffline := false
	for _, s := range sc {
		hasOffline = hasOffline || s == "offline_access"
	}
	if !hasOffline {
		sc = append(sc, "offline_access")
	}
	p.mu.Lock()
	p.rts[rt] = &grant{tenant: tenant, clientID: clientID, upn: upn, scopes: sc, expires: p.now().Add(p.rtLifetime())}
	p.mu.Unlock()
	return rt
}

// LiveRefreshTokens reports how many refresh tokens can still be redeemed.
func (p *IdP) LiveRefreshTokens() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.rts)
}
