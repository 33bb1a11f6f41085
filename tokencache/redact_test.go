package tokencache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/internal/fake/fakeidp"
)

// TestRedaction formats every exported type and every error path with
// %v, %+v, %#v, %s and through slog (text and JSON) and looks for any
// secret: client secret, refresh tokens, access tokens, private key,
// assertion, stored record data.
func TestRedaction(t *testing.T) {
	idp, cl := newIdP(t, fakeidp.Options{})
	cert, pemData := selfSignedPEM(t)
	idp.AddApp(fakeidp.App{TenantID: tTenant, ClientID: "certapp", Cert: cert})
	const assertion = "eyJASSERTION-secret-assertion-value"
	ms := NewMemoryStore()
	c := newTestCache(idp, &Options{Store: ms})

	secrets := []string{tSecret, assertion, "very-secret-record-bytes"}
	for _, l := range strings.Split(string(pemData), "\n") {
		if len(l) == 64 && !strings.HasPrefix(l, "-----") {
			secrets = append(secrets, l) // lines of the PEM key and certificate
		}
	}
	addTok := func(s string) {
		if len(s) > 40 {
			secrets = append(secrets, s[len(s)-40:]) // the signature part of a JWT
		} else if s != "" {
			secrets = append(secrets, s)
		}
	}

	secretCred := ClientSecret(tSecret)
	app, err := c.AppOnly(AppOnlyConfig{Cloud: cl, TenantID: tTenant, ClientID: tApp, Credential: secretCred})
	require.NoError(t, err)
	appSrc := app.Source(cl.AppOnlyScope())
	tok, err := appSrc.TokenContext(t.Context())
	require.NoError(t, err)
	addTok(tok.AccessToken)

	certCred, err := CertificatePEM(pemData, "")
	require.NoError(t, err)
	assertCred := Assertion(func(context.Context, AssertionRequest) (string, error) { return assertion, nil })

	u := delegatedUser(t, c, cl)
	rt := idp.IssueRefreshToken(tTenant, tPublic, tUser, u.scopes)
	secrets = append(secrets, rt)
	require.NoError(t, u.ImportRefreshToken(t.Context(), rt))
	userSrc := u.Source(cl.DelegatedScopes(cloud.IMAP)...)
	utok, err := userSrc.TokenContext(t.Context())
	require.NoError(t, err)
	addTok(utok.AccessToken)
	rec, err := ms.Load(t.Context(), u.p.name)
	require.NoError(t, err)
	var pd struct {
		MSAL struct {
			RefreshToken map[string]struct {
				Secret string `json:"secret"`
			}
		} `json:"msal"`
	}
	require.NoError(t, jsonUnmarshal(rec.Data, &pd))
	for _, r := range pd.MSAL.RefreshToken {
		secrets = append(secrets, r.Secret) // the rotated refresh token
	}

	// error paths
	var errs []error
	bad, err := c.AppOnly(AppOnlyConfig{Cloud: cl, TenantID: tTenant, ClientID: "nobody", Credential: ClientSecret(tSecret)})
	require.NoError(t, err)
	_, err = bad.Source(cl.AppOnlyScope()).TokenContext(t.Context())
	errs = append(errs, err)
	err = u.ImportRefreshToken(t.Context(), rt) // spent
	errs = append(errs, err)
	idp.InjectFaults(fakeidp.FaultInteractionRequired())
	userSrc.Invalidate(utok)
	_, err = userSrc.TokenContext(t.Context())
	errs = append(errs, err)
	u2, err := c.Delegated(DelegatedConfig{Cloud: cl, TenantID: tTenant, ClientID: tPublic, Account: "bob@contoso.test"})
	require.NoError(t, err)
	_, err = u2.Source().TokenContext(t.Context())
	errs = append(errs, err)
	form := url.Values{"client_secret": {tSecret}, "refresh_token": {rt}}.Encode()
	req, _ := http.NewRequest("POST", idp.TokenURL(tTenant), strings.NewReader(form))
	errs = append(errs, classifyOAuth2(&oauth2.RetrieveError{Response: &http.Response{StatusCode: 400, Request: req, Header: http.Header{}},
		Body: []byte(`{"error":"invalid_grant","error_description":"AADSTS70043: expired"}`)}))
	errs = append(errs, classifyOAuth2(&url.Error{Op: "Post", URL: idp.TokenURL(tTenant), Err: errors.New("connection refused")}))
	for _, e := range errs {
		require.Error(t, e)
	}

	fs, err := NewFileStore(filepath.Join(t.TempDir(), "tokens"))
	require.NoError(t, err)
	es, err := NewEncryptedStore(fs, bytes.Repeat([]byte("k"), 32))
	require.NoError(t, err)
	values := []any{
		c, appSrc, userSrc, app, u, u2, secretCred, certCred, assertCred,
		AppOnlyConfig{Cloud: cl, TenantID: tTenant, ClientID: tApp, Credential: secretCred},
		DelegatedConfig{Cloud: cl, TenantID: tTenant, ClientID: tPublic, Account: tUser},
		Options{Store: ms}, &Options{Store: es}, ms, fs, es,
		Record{Generation: 3, Data: []byte("very-secret-record-bytes")}, rec,
		c.Stats(), DeviceCode{UserCode: "ABCD"}, struct{ S *Source }{appSrc},
	}
	for _, e := range errs {
		values = append(values, e)
	}
	var out strings.Builder
	for _, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			fmt.Fprintf(&out, verb+"\n", v)
		}
		if e, ok := v.(error); ok {
			out.WriteString(e.Error() + "\n")
		}
		slog.New(slog.NewTextHandler(&out, nil)).Info("x", "v", v)
		slog.New(slog.NewJSONHandler(&out, nil)).Info("x", "v", v)
	}
	text := out.String()
	for _, s := range secrets {
		require.NotEmpty(t, s)
		if strings.Contains(text, s) {
			i := strings.Index(text, s)
			t.Fatalf("secret %.12q... leaked in: %q", s, text[max(0, i-200):i])
		}
	}
	t.Logf("checked %d values against %d secrets; sample:\n%s", len(values), len(secrets), firstLines(text, 12))
}

func firstLines(s string, n int) string {
	l := strings.SplitN(s, "\n", n+1)
	return strings.Join(l[:min(n, len(l))], "\n")
}
