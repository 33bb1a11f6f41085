package fakeidp

import (
	"crypto/subtle"
	"os"
	"strings"
)

// checkFederated accepts assertion only if it is the current content of the
// app's federated token file, as Entra accepts only the token the trusted
// issuer currently vouches for. It records the assertion.
func (p *IdP) checkFederated(app App, assertion string) (int, string) {
	p.mu.Lock()
	p.assertions = append(p.assertions, assertion)
	p.mu.Unlock()
	b, err := os.ReadFile(app.FederatedTokenFile)
	if err != nil {
		return 700211, "No matching federated identity record found for presented assertion issuer: the token file cannot be read."
	}
	want := strings.TrimSpace(string(b))
	if want == "" || subtle.ConstantTimeCompare([]byte(assertion), []byte(want)) != 1 {
		return 700213, "No matching federated identity record found for presented assertion subject: the assertion is not the token file's current content."
	}
	return 0, ""
}

// FederatedAssertions returns the client assertions presented for apps with
// a FederatedTokenFile, oldest first.
func (p *IdP) FederatedAssertions() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.assertions...)
}
