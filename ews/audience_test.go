package ews

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// A Microsoft Graph token is refused before anything is sent, with a hint naming the
// Exchange scope (it used to go out and come back as a bare 401).
func TestGraphTokenRefusedUpFront(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	enc := base64.RawURLEncoding.EncodeToString
	tok := enc([]byte(`{"alg":"none"}`)) + "." + enc([]byte(`{"aud":"https://graph.microsoft.com","upn":"alice@contoso.test"}`)) + ".c2ln"
	c, err := New(&Options{URL: srv.URL + "/EWS/Exchange.asmx", Token: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok}),
		Mailbox: "alice@contoso.test", Transport: srv.Client().Transport})
	require.NoError(t, err)
	_, err = c.GetFolder(t.Context(), Inbox)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "(Microsoft Graph), not Exchange Online")
	assert.Contains(t, err.Error(), "https://outlook.office365.com/.default")
	assert.False(t, strings.Contains(err.Error(), tok))
	assert.Zero(t, hits.Load(), "the request reached the server")
}
