package graph_test

import (
	"encoding/base64"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth/graph"
	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/internal/fake/graphtest"
)

const (
	alice  = "alice@contoso.test"
	bob    = "bob@contoso.test"
	shared = "shared@contoso.test"
	appID  = "11111111-2222-3333-4444-555555555555"
	tenant = "contoso.test"
	graphA = "https://graph.microsoft.com"
)

var (
	idpOnce sync.Once
	idpVal  *fakeidp.IdP
)

// sharedIdP is one fake Entra ID for the package's tests (its RSA key is costly to make).
func sharedIdP(t testing.TB) *fakeidp.IdP {
	idpOnce.Do(func() {
		var err error
		idpVal, err = fakeidp.New(fakeidp.Options{})
		if err != nil {
			panic(err)
		}
	})
	return idpVal
}

type env struct {
	idp *fakeidp.IdP
	srv *graphtest.Server
}

func newEnv(t testing.TB, opts graphtest.Options) *env {
	t.Helper()
	idp := sharedIdP(t)
	opts.Verify = idp.Verify
	if opts.Mailboxes == nil {
		opts.Mailboxes = []string{alice, bob, shared}
	}
	srv, err := graphtest.New(opts)
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	srv.Grant(shared, alice)
	return &env{idp: idp, srv: srv}
}

// token mints a token; roles make it app-only, scp delegated.
func (e *env) token(t testing.TB, aud, upn string, scp, roles []string) oauth2.TokenSource {
	t.Helper()
	c := fakeidp.Claims{Audience: aud, TenantID: tenant, UPN: upn, Scp: scp, Roles: roles, ExpiresAt: time.Now().Add(time.Hour)}
	if len(roles) > 0 {
		c.AppID = appID
	}
	tok, err := e.idp.Mint(c)
	require.NoError(t, err)
	return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok, TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)})
}

func (e *env) userToken(t testing.TB) oauth2.TokenSource {
	return e.token(t, graphA, alice, []string{"Mail.ReadWrite", "Mail.Send"}, nil)
}

func (e *env) appToken(t testing.TB) oauth2.TokenSource {
	return e.token(t, graphA, "", nil, []string{"Mail.ReadWrite", "Mail.Send"})
}

func (e *env) client(t testing.TB, src oauth2.TokenSource, mailbox string, tune func(*graph.Options)) *graph.Client {
	t.Helper()
	o := &graph.Options{Token: src, Mailbox: mailbox, URL: e.srv.URL(), Transport: e.srv.Transport()}
	if tune != nil {
		tune(o)
	}
	c, err := graph.New(o)
	require.NoError(t, err)
	return c
}

func (e *env) userClient(t testing.TB, tune func(*graph.Options)) *graph.Client {
	return e.client(t, e.userToken(t), "", tune)
}

// statuses returns the HTTP status of every recorded request, oldest first.
func (e *env) statuses() []int {
	var out []int
	for _, r := range e.srv.Requests() {
		out = append(out, r.Status)
	}
	return out
}

// base64Lines encodes data as MIME base64 with 76-character lines.
func base64Lines(data []byte) string {
	enc := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	b.Grow(len(enc) + len(enc)/76*2 + 2)
	for len(enc) > 76 {
		b.WriteString(enc[:76])
		b.WriteString("\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc)
	b.WriteString("\r\n")
	return b.String()
}
