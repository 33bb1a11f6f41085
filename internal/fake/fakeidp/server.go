package fakeidp

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// grant is a live refresh token.
type grant struct {
	tenant, clientID, upn string
	scopes                []string
	expires               time.Time
}

// authCode is an issued authorization code.
type authCode struct {
	tenant, clientID, upn string
	scopes                []string
	redirectURI           string
	challenge, method     string
	expires               time.Time
}

// device is an issued device code.
type device struct {
	tenant, clientID string
	scopes           []string
	userCode         string
	expires          time.Time
	approvedUPN      string
	denied           bool
	redeemed         bool
}

const maxFormBytes = 1 << 20

// tenantless are authority segments that name no tenant.
var tenantless = map[string]bool{"common": true, "organizations": true, "consumers": true}

func (p *IdP) serveHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	defer func() {
		if p.opts.Logger != nil {
			p.opts.Logger.Debug("fakeidp request", "method", r.Method, "path", r.URL.Path, "status", rec.status)
		}
	}()
	w = rec
	path := r.URL.Path
	if id := r.Header.Get("client-request-id"); id != "" && len(id) <= 64 {
		w.Header().Set("client-request-id", id) // Entra echoes the caller's correlation id
	}
	w.Header().Set("x-ms-request-id", newID())
	switch path {
	case "/discovery/v2.0/keys", "/common/discovery/keys":
		p.serveJWKS(w)
		return
	case "/devicelogin":
		p.serveDeviceLogin(w, r)
		return
	}
	tenant, rest, ok := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if !ok || tenant == "" {
		http.NotFound(w, r)
		return
	}
	switch rest {
	case "v2.0/.well-known/openid-configuration", ".well-known/openid-configuration":
		p.serveDiscovery(w, r, tenant)
	case "discovery/v2.0/keys", "discovery/keys":
		p.serveJWKS(w)
	case "oauth2/v2.0/token":
		p.serveToken(w, r, tenant)
	case "oauth2/v2.0/devicecode":
		p.serveDeviceCode(w, r, tenant)
	case "oauth2/v2.0/authorize":
		p.serveAuthorize(w, r, tenant)
	default:
		http.NotFound(w, r)
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (p *IdP) serveDiscovery(w http.ResponseWriter, r *http.Request, tenant string) {
	if r.Method != http.MethodGet {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	base := p.url + "/" + tenant
	iss := p.url + "/{tenantid}/v2.0"
	if !tenantless[tenant] {
		iss = p.url + "/" + tenant + "/v2.0"
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                iss,
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint":         base + "/oauth2/v2.0/devicecode",
		"jwks_uri":                              base + "/discovery/v2.0/keys",
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"code_challenge_methods_supported":      []string{"plain", "S256"},
		"tenant_region_scope":                   "WW",
		"cloud_instance_name":                   "127.0.0.1",
	})
}

func (p *IdP) serveJWKS(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(p.jwks())
}

func (p *IdP) count(name string, token bool) {
	p.mu.Lock()
	p.counts[name]++
	if token {
		p.total++
	}
	p.mu.Unlock()
}

// wait sleeps d, or until the request or the IdP ends; it reports whether
// the full time passed.
func (p *IdP) wait(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
	case <-p.closed:
	}
	return false
}

func (p *IdP) parseForm(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodPost {
		p.oauthError(w, r, http.StatusMethodNotAllowed, "invalid_request", 900561, "The endpoint only accepts POST requests.", "")
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		p.oauthError(w, r, http.StatusBadRequest, "invalid_request", 900144, "The request body must be an application/x-www-form-urlencoded form.", "")
		return false
	}
	return true
}

func (p *IdP) serveToken(w http.ResponseWriter, r *http.Request, tenant string) {
	if r.Method != http.MethodPost {
		p.count("", true)
		p.oauthError(w, r, http.StatusMethodNotAllowed, "invalid_request", 900561, "The endpoint only accepts POST requests.", "")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	formErr := r.ParseForm()
	gt := r.PostForm.Get("grant_type")
	if gt == "device_code" { // MSAL's short form; Entra takes both
		gt = GrantDeviceCode
	}
	p.count(gt, true)
	p.recordClaims(r.PostForm.Get("claims"))
	if !p.wait(r, p.opts.Latency) {
		panic(http.ErrAbortHandler) // the client left or the IdP closed: no answer, not an empty 200
	}
	if f, ok := p.nextFault(gt); ok {
		if p.applyFault(w, r, f) {
			return
		}
	}
	if formErr != nil {
		p.oauthError(w, r, http.StatusBadRequest, "invalid_request", 900144, "The request body must be an application/x-www-form-urlencoded form.", "")
		return
	}
	switch gt {
	case GrantClientCredentials:
		p.clientCredentials(w, r, tenant)
	case GrantRefreshToken:
		p.refreshToken(w, r, tenant)
	case GrantAuthorizationCode:
		p.authorizationCode(w, r, tenant)
	case GrantDeviceCode:
		p.deviceCodeGrant(w, r, tenant)
	case "":
		p.oauthError(w, r, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.", "")
	default:
		p.oauthError(w, r, http.StatusBadRequest, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.", "")
	}
}

// lookupApp finds the client and, when it presents a credential or must
// (confidential), checks it. It writes the error and returns false on failure.
func (p *IdP) lookupApp(w http.ResponseWriter, r *http.Request, tenant string, needCredential bool) (App, bool) {
	id := r.PostForm.Get("client_id")
	if id == "" {
		if u, _, ok := r.BasicAuth(); ok {
			id, _ = url.QueryUnescape(u)
		}
	}
	p.mu.Lock()
	app, ok := p.apps[id]
	p.mu.Unlock()
	if id == "" {
		p.oauthError(w, r, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.", "")
		return App{}, false
	}
	if !ok || (app.TenantID != "" && !tenantless[tenant] && !strings.EqualFold(app.TenantID, tenant)) {
		p.oauthError(w, r, http.StatusBadRequest, "unauthorized_client", 700016,
			"Application with identifier '"+id+"' was not found in the directory '"+tenant+"'. The app must be added with AddApp in this tenant.", "")
		return App{}, false
	}
	secret := r.PostForm.Get("client_secret")
	if secret == "" {
		if _, pw, ok := r.BasicAuth(); ok {
			secret, _ = url.QueryUnescape(pw)
		}
	}
	assertion := r.PostForm.Get("client_assertion")
	switch {
	case secret != "":
		if app.Secret == "" || subtle.ConstantTimeCompare([]byte(secret), []byte(app.Secret)) != 1 {
			p.oauthError(w, r, http.StatusUnauthorized, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '"+id+"'.", "")
			return App{}, false
		}
	case assertion != "":
		if r.PostForm.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
			p.oauthError(w, r, http.StatusBadRequest, "invalid_request", 90002, "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer.", "")
			return App{}, false
		}
		if code, msg := p.checkAssertion(app, assertion, r); code != 0 {
			p.oauthError(w, r, http.StatusUnauthorized, "invalid_client", code, msg, "")
			return App{}, false
		}
	case needCredential:
		p.oauthError(w, r, http.StatusUnauthorized, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.", "")
		return App{}, false
	}
	return app, true
}

func (p *IdP) clientCredentials(w http.ResponseWriter, r *http.Request, tenant string) {
	if tenantless[tenant] {
		p.oauthError(w, r, http.StatusBadRequest, "invalid_request", 50059, "No tenant-identifying information found in the request. App-only tokens need a tenant ID in the authority, not '"+tenant+"'.", "")
		return
	}
	app, ok := p.lookupApp(w, r, tenant, true)
	if !ok {
		return
	}
	var scopes []string // Entra ignores the OIDC scopes MSAL always appends
	for _, s := range strings.Fields(r.PostForm.Get("scope")) {
		switch s {
		case "openid", "profile", "offline_access", "email":
		default:
			scopes = append(scopes, s)
		}
	}
	if len(scopes) != 1 || !strings.HasSuffix(scopes[0], "/.default") {
		p.oauthError(w, r, http.StatusBadRequest, "invalid_scope", 1002012, "The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", "")
		return
	}
	resource := strings.TrimSuffix(scopes[0], "/.default")
	now := p.now()
	acr := "1"
	if r.PostForm.Get("client_assertion") != "" {
		acr = "2"
	}
	c := Claims{
		Audience:  p.audience(resource),
		Issuer:    p.issuer(tenant),
		Subject:   app.OID,
		TenantID:  tenant,
		OID:       app.OID,
		AppID:     app.ClientID,
		Roles:     app.Roles,
		IssuedAt:  now,
		NotBefore: now,
		ExpiresAt: now.Add(p.lifetime()),
		Extra:     p.claimsExtra(r, map[string]any{"idtyp": "app", "appidacr": acr, "ver": "1.0"}),
	}
	if len(app.Roles) == 0 {
		c.Roles = nil
	}
	if p.opts.DovecotClaims && app.Mailbox != "" {
		c.Email, c.Scope = app.Mailbox, strings.Join(app.Roles, " ")
	}
	at, err := p.Mint(c)
	if err != nil {
		p.oauthError(w, r, http.StatusInternalServerError, "server_error", 50000, "There was an error issuing a token.", "")
		return
	}
	writeJSON(w, http.StatusOK, p.tokenResponse(at, ""))
}

func (p *IdP) audience(resource string) string {
	switch {
	case p.opts.Audience != "":
		return p.opts.Audience
	case resource != "":
		return resource
	default:
		return DefaultAudience
	}
}

func (p *IdP) tokenResponse(at, scope string) map[string]any {
	secs := int64(p.lifetime() / time.Second)
	resp := map[string]any{
		"token_type":     "Bearer",
		"expires_in":     secs,
		"ext_expires_in": secs,
		"access_token":   at,
	}
	if scope != "" {
		resp["scope"] = scope
	}
	if ri := int64(p.opts.RefreshIn / time.Second); ri > 0 {
		resp["refresh_in"] = ri
	}
	return resp
}

// splitScopes separates the OIDC scopes from resource scopes and returns the
// single resource the scopes name ("" when none) and the permission names.
func splitScopes(scopes []string) (resource string, perms, granted []string, oidc map[string]bool, mixed bool) {
	oidc = map[string]bool{}
	for _, s := range scopes {
		switch s {
		case "openid", "profile", "offline_access", "email":
			oidc[s] = true
			continue
		}
		res, perm := "https://graph.microsoft.com", s
		if i := strings.LastIndex(s, "/"); i > 0 && strings.Contains(s, "://") {
			res, perm = s[:i], s[i+1:]
		}
		if resource != "" && !strings.EqualFold(resource, res) {
			mixed = true
		}
		if resource == "" {
			resource = res
		}
		if perm != ".default" {
			perms = append(perms, perm)
		}
		granted = append(granted, s)
	}
	return resource, perms, granted, oidc, mixed
}

// issueDelegated answers a delegated grant with an access token for user,
// a fresh refresh token and, when openid was asked for, an ID token.
func (p *IdP) issueDelegated(w http.ResponseWriter, r *http.Request, tenant string, app App, upn string, scopes []string) {
	p.mu.Lock()
	user, ok := p.users[strings.ToLower(upn)]
	p.mu.Unlock()
	if !ok {
		p.oauthError(w, r, http.StatusBadRequest, "invalid_grant", 50034, "The user account '"+upn+"' does not exist in the directory. Add it with AddUser.", "")
		return
	}
	if !tenantless[tenant] && user.TenantID != "" && !strings.EqualFold(user.TenantID, tenant) {
		p.oauthError(w, r, http.StatusBadRequest, "invalid_grant", 50020, "User account '"+upn+"' from its home tenant does not exist in tenant '"+tenant+"'.", "")
		return
	}
	if code, msg := consumersCheck(tenant, user); code != 0 {
		p.oauthError(w, r, http.StatusBadRequest, "invalid_grant", code, msg, "")
		return
	}
	resource, perms, granted, oidc, mixed := splitScopes(scopes)
	if mixed {
		p.oauthError(w, r, http.StatusBadRequest, "invalid_request", 28000, "Provided value for the input parameter scope is not valid because it contains more than one resource.", "")
		return
	}
	tid := user.TenantID
	if tid == "" {
		tid = tenant
	}
	now := p.now()
	c := Claims{
		Audience:          p.audience(resource),
		Issuer:            p.issuer(tid),
		Subject:           derivedID("sub", app.ClientID+"/"+user.OID),
		TenantID:          tid,
		OID:               user.OID,
		AppID:             app.ClientID,
		UPN:               user.UPN,
		PreferredUsername: user.UPN,
		Scp:               perms,
		IssuedAt:          now,
		NotBefore:         now,
		ExpiresAt:         now.Add(p.lifetime()),
		Extra:             p.claimsExtra(r, map[string]any{"name": user.Name, "unique_name": user.UPN, "ver": "1.0", "appidacr": "0"}),
	}
	if p.opts.DovecotClaims {
		c.Email = user.UPN
		c.Scope = strings.Join(perms, " ")
	}
	at, err := p.Mint(c)
	if err != nil {
		p.oauthError(w, r, http.StatusInternalServerError, "server_error", 50000, "There was an error issuing a token.", "")
		return
	}
	resp := p.tokenResponse(at, strings.Join(granted, " "))
	if oidc["offline_access"] {
		rt := randomToken("0.AAAA", 96)
		p.mu.Lock()
		p.rts[rt] = &grant{tenant: tenant, clientID: app.ClientID, upn: user.UPN, scopes: scopes, expires: now.Add(p.rtLifetime())}
		p.mu.Unlock()
		resp["refresh_token"] = rt
	}
	if oidc["openid"] {
		idt, err := p.sign(map[string]any{
			"aud": app.ClientID, "iss": p.url + "/" + tid + "/v2.0", "iat": now.Unix(), "nbf": now.Unix(),
			"exp": now.Add(p.lifetime()).Unix(), "name": user.Name, "oid": user.OID, "sub": c.Subject,
			"tid": tid, "preferred_username": user.UPN, "ver": "2.0",
		})
		if err != nil {
			p.oauthError(w, r, http.StatusInternalServerError, "server_error", 50000, "There was an error issuing a token.", "")
			return
		}
		resp["id_token"] = idt
	}
	ci, _ := json.Marshal(map[string]string{"uid": user.OID, "utid": tid})
	resp["client_info"] = base64.RawURLEncoding.EncodeToString(ci)
	writeJSON(w, http.StatusOK, resp)
}

func (p *IdP) refreshToken(w http.ResponseWriter, r *http.Request, tenant string) {
	app, ok := p.lookupApp(w, r, tenant, false)
	if !ok {
		return
	}
	rt := r.PostForm.Get("refresh_token")
	if rt == "" {
		p.oauthError(w, r, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'refresh_token'.", "")
		return
	}
	p.mu.Lock()
	g, ok := p.rts[rt]
	if ok && g.clientID == app.ClientID {
		delete(p.rts, rt) // rotation: a redeemed refresh token is dead
	}
	p.mu.Unlock()
	switch {
	case !ok:
		p.oauthError(w, r, http.StatusBadRequest, "invalid_grant", 70000, "The provided value for the input parameter 'refresh_token' or 'assertion' is not valid. It is unknown or was already redeemed.", "")
		return
	case g.clientID != app.ClientID:
		p.oauthError(w, r, http.StatusBadRequest, "invalid_grant", 70000, "The refresh token was issued to a different client ID.", "")
		return
	case !p.now().Before(g.expires):
		p.oauthError(w, r, http.StatusBadRequest, "invalid_grant", 700082, "The refresh token has expired due to inactivity.", "")
		return
	}
	scopes := strings.Fields(r.PostForm.Get("scope"))
	if len(scopes) == 0 {
		scopes = g.scopes
	}
	if !hasScope(scopes, "offline_access") {
		scopes = append(scopes, "offline_access") // the rotated refresh token
	}
	p.issueDelegated(w, r, tenant, app, g.upn, scopes)
}

func (p *IdP) authorizationCode(w http.ResponseWriter, r *http.Request, tenant string) {
	app, ok := p.lookupApp(w, r, tenant, false)
	if !ok {
		return
	}
	code := r.PostForm.Get("code")
	p.mu.Lock()
	ac, ok := p.codes[code]
	delete(p.codes, code) // single use, even when the redemption fails
	p.mu.Unlock()
	const bad = "The provided authorization code is unknown, expired or already redeemed."
	switch {
	case !ok || ac.clientID != app.ClientID:
		p.oauthError(w, r, http.StatusBadRequest, "invalid_grant", 70000, bad, "")
		return
	case !p.now().Before(ac.expires):
		p.oauthError(w, r, http.StatusBadRequest, "invalid_grant", 70008, "The provided authorization code has expired.", "")
		return
	case r.PostForm.Get("redirect_uri") != ac.redirectURI:
		p.oauthError(w, r, http.StatusBadRequest, "invalid_grant", 50148, "The redirect_uri does not match the one the authorization code was issued for.", "")
		return
	}
	if ac.challenge != "" {
		v := r.PostForm.Get("code_verifier")
		want := v
		if ac.method == "S256" {
			sum := sha256.Sum256([]byte(v))
			want = base64.RawURLEncoding.EncodeToString(sum[:])
		}
		if v == "" || subtle.ConstantTimeCompare([]byte(want), []byte(ac.challenge)) != 1 {
			p.oauthError(w, r, http.StatusBadRequest, "invalid_grant", 501481, "The code_verifier does not match the code_challenge supplied in the authorization request.", "")
			return
		}
	}
	scopes := strings.Fields(r.PostForm.Get("scope"))
	if len(scopes) == 0 {
		scopes = ac.scopes
	}
	p.issueDelegated(w, r, tenant, app, ac.upn, scopes)
}

func hasScope(scopes []string, s string) bool {
	for _, v := range scopes {
		if v == s {
			return true
		}
	}
	return false
}
