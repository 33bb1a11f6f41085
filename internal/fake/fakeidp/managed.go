package fakeidp

import (
	"crypto/subtle"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
)

// GrantManagedIdentity counts requests to the managed identity endpoint in
// [IdP.Requests] (they are not token endpoint requests, so TotalRequests
// leaves them out). Faults whose Grant is GrantManagedIdentity answer them.
const GrantManagedIdentity = "managed_identity"

// ManagedIdentity is an Azure managed identity: the service principal of
// an Azure resource, which has no secret and gets tokens from the local
// identity endpoint of the resource it runs on.
type ManagedIdentity struct {
	// System marks the resource's system-assigned identity, served when
	// the request names no identity. At most one should be set.
	System bool
	// TenantID is the tenant of the identity (tid of its tokens).
	TenantID string
	// ClientID, ObjectID and ResourceID (an ARM id such as
	// "/subscriptions/.../userAssignedIdentities/name") select a
	// user-assigned identity by client_id, object_id (or principal_id)
	// and mi_res_id (or msi_res_id).
	ClientID, ObjectID, ResourceID string
	// Roles are the application permissions granted to it.
	Roles []string
}

type managedIdentities struct {
	srv    *httptest.Server
	secret string
	ids    []ManagedIdentity
}

// ManagedIdentityEndpoint starts (once) the App Service managed identity
// endpoint on a plain-HTTP loopback port, as App Service runs it, and
// returns the values of IDENTITY_ENDPOINT and IDENTITY_HEADER. It follows
// Microsoft's documented request shape: GET with api-version=2019-08-01,
// resource, an optional client_id, object_id/principal_id or mi_res_id, and
// the X-IDENTITY-HEADER header; the reply holds access_token, expires_on
// (Unix seconds), resource, token_type and client_id.
func (p *IdP) ManagedIdentityEndpoint() (endpoint, header string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mi == nil {
		mi := &managedIdentities{secret: randomToken("idh-", 16)}
		mi.srv = httptest.NewUnstartedServer(http.HandlerFunc(p.serveManagedIdentity))
		mi.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
		mi.srv.Start()
		p.mi = mi
	}
	return p.mi.srv.URL + "/msi/token", p.mi.secret
}

// AddManagedIdentity registers a managed identity on the endpoint (started
// by [IdP.ManagedIdentityEndpoint] if needed).
func (p *IdP) AddManagedIdentity(m ManagedIdentity) {
	p.ManagedIdentityEndpoint()
	m.Roles = append([]string(nil), m.Roles...)
	if m.ObjectID == "" {
		m.ObjectID = derivedID("mi", m.ClientID+m.ResourceID)
	}
	if m.ClientID == "" {
		m.ClientID = derivedID("mi-client", m.ObjectID)
	}
	p.mu.Lock()
	p.mi.ids = append(p.mi.ids, m)
	p.mu.Unlock()
}

func miError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"statusCode": status, "message": msg, "correlationId": newID()})
}

func (p *IdP) serveManagedIdentity(w http.ResponseWriter, r *http.Request) {
	p.count(GrantManagedIdentity, false)
	if !p.wait(r, p.opts.Latency) {
		return
	}
	if f, ok := p.nextFault(GrantManagedIdentity); ok && p.applyFault(w, r, f) {
		return
	}
	p.mu.Lock()
	mi := p.mi
	ids := append([]ManagedIdentity(nil), mi.ids...)
	p.mu.Unlock()
	q := r.URL.Query()
	switch {
	case r.URL.Path != "/msi/token":
		http.NotFound(w, r)
		return
	case r.Method != http.MethodGet:
		miError(w, http.StatusMethodNotAllowed, "The managed identity endpoint only accepts GET.")
		return
	case subtle.ConstantTimeCompare([]byte(r.Header.Get("X-IDENTITY-HEADER")), []byte(mi.secret)) != 1:
		miError(w, http.StatusUnauthorized, "The X-IDENTITY-HEADER header is missing or wrong.")
		return
	case q.Get("api-version") != "2019-08-01":
		miError(w, http.StatusBadRequest, "api-version must be 2019-08-01.")
		return
	case q.Get("resource") == "":
		miError(w, http.StatusBadRequest, "Required query parameter resource is missing.")
		return
	}
	var found *ManagedIdentity
	for i := range ids {
		m := &ids[i]
		var match bool
		switch {
		case q.Get("client_id") != "":
			match = strings.EqualFold(q.Get("client_id"), m.ClientID)
		case q.Get("object_id") != "" || q.Get("principal_id") != "":
			match = strings.EqualFold(q.Get("object_id")+q.Get("principal_id"), m.ObjectID)
		case q.Get("mi_res_id") != "" || q.Get("msi_res_id") != "":
			match = strings.EqualFold(q.Get("mi_res_id")+q.Get("msi_res_id"), m.ResourceID)
		default:
			match = m.System
		}
		if match {
			found = m
			break
		}
	}
	if found == nil {
		miError(w, http.StatusBadRequest, "No User Assigned or Delegated Managed Identity found for specified ClientId/ResourceId/PrincipalId.")
		return
	}
	resource := strings.TrimSuffix(q.Get("resource"), "/.default")
	now := p.now()
	exp := now.Add(p.lifetime())
	at, err := p.Mint(Claims{
		Audience: p.audience(resource), Issuer: p.issuer(found.TenantID), Subject: found.ObjectID,
		TenantID: found.TenantID, OID: found.ObjectID, AppID: found.ClientID, Roles: found.Roles,
		IssuedAt: now, NotBefore: now, ExpiresAt: exp,
		Extra: map[string]any{"idtyp": "app", "appidacr": "2", "ver": "1.0", "xms_mirid": found.ResourceID},
	})
	if err != nil {
		miError(w, http.StatusInternalServerError, "There was an error issuing a token.")
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": at,
		"expires_on":   strconv.FormatInt(exp.Unix(), 10),
		"resource":     q.Get("resource"),
		"token_type":   "Bearer",
		"client_id":    found.ClientID,
	})
}
