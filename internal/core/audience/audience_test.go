package audience

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth"
)

func jwt(aud string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none"}`)) + "." + enc([]byte(`{"aud":"`+aud+`","upn":"alice@contoso.test"}`)) + ".c2ln"
}

type counting struct {
	tok         *oauth2.Token
	invalidated int
}

func (c *counting) Token() (*oauth2.Token, error) { return c.tok, nil }
func (c *counting) Invalidate(*oauth2.Token)      { c.invalidated++ }

func TestGuard(t *testing.T) {
	graphTok := &oauth2.Token{AccessToken: jwt("https://graph.microsoft.com")}
	exoTok := &oauth2.Token{AccessToken: jwt("https://outlook.office365.com")}
	other := &oauth2.Token{AccessToken: jwt("https://mail.contoso.test")}
	opaque := &oauth2.Token{AccessToken: "opaque-token-value"}
	for _, tc := range []struct {
		name string
		tok  *oauth2.Token
		want API
		err  bool
	}{
		{"graph token to graph", graphTok, Graph, false},
		{"exchange token to graph", exoTok, Graph, true},
		{"graph token to exchange", graphTok, Exchange, true},
		{"exchange token to exchange", exoTok, Exchange, false},
		{"on-premises audience", other, Exchange, false},
		{"opaque", opaque, Graph, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := Guard(oauth2.StaticTokenSource(tc.tok), tc.want)
			tok, err := g.Token()
			if !tc.err {
				require.NoError(t, err)
				assert.Same(t, tc.tok, tok)
				return
			}
			var ae *Error
			require.True(t, errors.As(err, &ae), "%v", err)
			assert.Nil(t, tok)
			assert.Equal(t, tc.want, ae.Want)
			assert.NotContains(t, err.Error(), tc.tok.AccessToken)
			if tc.want == Graph {
				assert.Contains(t, err.Error(), "https://graph.microsoft.com/.default")
			} else {
				assert.Contains(t, err.Error(), "https://outlook.office365.com/.default")
			}
		})
	}
}

func TestGuardKeepsOptionalMethods(t *testing.T) {
	plain := Guard(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "x"}), Graph)
	_, ok := plain.(mailauth.Invalidator)
	assert.False(t, ok, "a source without Invalidate must not gain one")
	_, ok = plain.(mailauth.ContextTokenSource)
	assert.True(t, ok)

	c := &counting{tok: &oauth2.Token{AccessToken: jwt("https://graph.microsoft.com")}}
	g := Guard(c, Graph)
	require.True(t, mailauth.Invalidate(g, c.tok))
	assert.Equal(t, 1, c.invalidated)
	assert.Same(t, g, Guard(g, Graph), "guarding twice wraps once")
	assert.Nil(t, Guard(nil, Graph))
	assert.True(t, strings.HasPrefix(g.(interface{ String() string }).String(), "audience.Guard"))

	_, err := Guard(c, Graph).(mailauth.ContextTokenSource).TokenContext(canceled())
	assert.ErrorIs(t, err, context.Canceled)
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func TestHostAllowed(t *testing.T) {
	for _, tc := range []struct {
		aud  []string
		host string
		want bool
	}{
		{nil, "mail.fabrikam.test", true},
		{[]string{"https://outlook.office365.com"}, "outlook.office365.com", true},
		{[]string{"https://outlook.office365.com/"}, "OUTLOOK.office365.com:443", true},
		{[]string{"https://outlook.office365.com"}, "autodiscover-s.outlook.com", true},
		{[]string{"00000002-0000-0ff1-ce00-000000000000"}, "outlook.office365.us", true},
		{[]string{"https://outlook.office365.com"}, "mail.fabrikam.test", false},
		{[]string{"https://outlook.office365.com"}, "outlook.office365.com.fabrikam.test", false},
		{[]string{"https://mail.contoso.test"}, "mail.contoso.test", true},
		{[]string{"https://mail.contoso.test"}, "mail.fabrikam.test", false},
		{[]string{"https://mail.contoso.test"}, "127.0.0.1:8443", true},
		{[]string{"https://mail.contoso.test"}, "[::1]:8443", true},
		{[]string{"api://not-a-host-we-know"}, "mail.fabrikam.test", false},
	} {
		if got := HostAllowed(tc.aud, tc.host); got != tc.want {
			t.Errorf("HostAllowed(%q, %q) = %v, want %v", tc.aud, tc.host, got, tc.want)
		}
	}
}
