package eas

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// A Microsoft Graph token is refused before anything is sent, with a hint naming the
// Exchange scope.
func TestGraphTokenRefusedUpFront(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	enc := base64.RawURLEncoding.EncodeToString
	tok := enc([]byte(`{"alg":"none"}`)) + "." + enc([]byte(`{"aud":"00000003-0000-0000-c000-000000000000","upn":"alice@contoso.test"}`)) + ".c2ln"
	c, err := New(&Options{URL: srv.URL + "/Microsoft-Server-ActiveSync", Mailbox: "alice@contoso.test", DeviceID: "dev0001",
		Token: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok}), Transport: srv.Client().Transport})
	require.NoError(t, err)
	_, err = c.Folders(t.Context())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "(Microsoft Graph), not Exchange Online")
	assert.NotContains(t, err.Error(), tok)
	assert.Zero(t, hits.Load(), "the request reached the server")
}
