package fakeidp

import (
	"encoding/json"
	"net/http"
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
