package main

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/internal/fake/lab"
)

func (f *fixture) graphToken(t *testing.T, upn string, scp ...string) string {
	return f.token(t, fakeidp.Claims{Audience: "https://graph.microsoft.com", UPN: upn, PreferredUsername: upn, AppID: lab.PublicClientID, Scp: scp})
}

func TestGraphPass(t *testing.T) {
	f := newFixture(t)
	code, out, errOut := f.run(t, "-access-token-file", f.graphToken(t, lab.User, "Mail.ReadWrite"), "-mailbox", lab.Shared,
		"-protocols", "graph", "-graph-url", f.lab.Graph.URL())
	if code != 0 || !strings.Contains(out, "graph") || !strings.Contains(out, "12 items") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
}

func TestGraphWithExchangeToken(t *testing.T) {
	f := newFixture(t)
	failure(t, f, "graph", "not Microsoft Graph", "-access-token-file", f.delegated(t, lab.User), "-mailbox", lab.User, "-graph-url", f.lab.Graph.URL())
}

func TestGraphAccessDenied(t *testing.T) {
	f := newFixture(t)
	// bob's Graph token for alice's mailbox.
	failure(t, f, "graph", "ErrorAccessDenied", "-access-token-file", f.graphToken(t, lab.Other, "Mail.ReadWrite"), "-mailbox", lab.User, "-graph-url", f.lab.Graph.URL())
}

// Exchange Online answers 403 Forbidden when EWS is switched off for the tenant or the
// mailbox; mailcheck says so and names Graph as the fix.
func TestEWSSwitchedOff(t *testing.T) {
	f := newFixture(t)
	off := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	off.Listener = ln
	off.TLS = f.lab.CA.ServerConfig()
	off.StartTLS()
	defer off.Close()
	args := []string{"-access-token-file", f.delegated(t, lab.User), "-mailbox", lab.User, "-ews-url", off.URL + "/EWS/Exchange.asmx"}
	failure(t, f, "ews", "EWS is switched off for the tenant", args...)
	_, out, _ := f.run(t, append(args, "-protocols", "ews")...)
	if !strings.Contains(out, "-protocols graph") || !strings.Contains(out, "EWSEnabled") {
		t.Errorf("the fix does not point at Graph:\n%s", out)
	}
}

// One static token is for one API: "all" checks Graph alone for a Graph token and
// everything else for an Exchange token.
func TestStaticTokenChecksItsOwnAPI(t *testing.T) {
	f := newFixture(t)
	protocols := func(tok string) []string {
		_, out, _ := f.run(t, "-access-token-file", tok, "-mailbox", lab.User, "-graph-url", f.lab.Graph.URL(), "-json", "-timeout", "30s")
		var rep struct{ Results []struct{ Protocol string } }
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		var ps []string
		for _, r := range rep.Results {
			ps = append(ps, r.Protocol)
		}
		return ps
	}
	if got := protocols(f.graphToken(t, lab.User, "Mail.ReadWrite")); strings.Join(got, ",") != "graph" {
		t.Errorf("Graph token: checked %v", got)
	}
	if got := protocols(f.delegated(t, lab.User)); strings.Contains(strings.Join(got, ","), "graph") || len(got) != 6 {
		t.Errorf("Exchange token: checked %v", got)
	}
}
