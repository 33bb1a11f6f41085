package fakeidp

import (
	"encoding/json"
	"net/http"
	"strings"
)

func (p *IdP) recordClaims(claims string) {
	if claims == "" {
		return
	}
	p.mu.Lock()
	p.claimsSeen = append(p.claimsSeen, claims)
	p.mu.Unlock()
}

// Claims returns the claims parameters of token requests (the JSON claims
// request a client sends after a claims challenge, merged with its client
// capabilities), oldest first.
func (p *IdP) Claims() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.claimsSeen...)
}

// claimsExtra adds what a token request's claims parameter asks for to the
// claims of the access token, as Entra does: xms_cc lists the client
// capabilities ("cp1"), and xms_claims holds the claims request of a
// challenge (access_token part), so a test resource can check that a new
// token answers its challenge.
func (p *IdP) claimsExtra(r *http.Request, extra map[string]any) map[string]any {
	raw := r.PostForm.Get("claims")
	if raw == "" {
		return extra
	}
	var req struct {
		AccessToken map[string]json.RawMessage `json:"access_token"`
	}
	if json.Unmarshal([]byte(raw), &req) != nil {
		return extra
	}
	if cc, ok := req.AccessToken["xms_cc"]; ok {
		var v struct {
			Values []string `json:"values"`
		}
		if json.Unmarshal(cc, &v) == nil {
			extra["xms_cc"] = v.Values
		}
		delete(req.AccessToken, "xms_cc")
	}
	if len(req.AccessToken) > 0 {
		b, _ := json.Marshal(req.AccessToken)
		extra["xms_claims"] = string(b)
	}
	return extra
}

// ConsumersTenantID is the tenant id of personal Microsoft accounts: a
// [User] with this TenantID is a personal (outlook.com) account.
const ConsumersTenantID = "9188040d-6c67-4c5b-b112-36a304b66dad"

// consumersCheck applies Entra's rule for the tenantless authorities: only
// personal accounts sign in through "consumers", and personal accounts do
// not sign in through "organizations".
func consumersCheck(tenant string, u User) (int, string) {
	personal := strings.EqualFold(u.TenantID, ConsumersTenantID)
	switch {
	case strings.EqualFold(tenant, "consumers") && !personal:
		return 50020, "User account '" + u.UPN + "' is a work or school account; the consumers authority accepts only personal Microsoft accounts."
	case strings.EqualFold(tenant, "organizations") && personal:
		return 50020, "User account '" + u.UPN + "' is a personal Microsoft account; the organizations authority accepts only work or school accounts."
	}
	return 0, ""
}
