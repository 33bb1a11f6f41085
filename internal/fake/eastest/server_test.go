package eastest

import (
	"bytes"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modernauth/mailauth/eas/wbxml"
	"github.com/modernauth/mailauth/internal/fake/fakeidp"
)

// folderSyncKey0 is libwbxml's FolderSync request with SyncKey 0 (the
// published vector libwbxml_foldersync_request.wbxml).
var folderSyncKey0 = []byte{0x03, 0x01, 0x6a, 0x00, 0x00, 0x07, 0x56, 0x52, 0x03, 0x30, 0x00, 0x01, 0x01}

type fixture struct {
	idp *fakeidp.IdP
	srv *Server
	hc  *http.Client
}

func newFixture(t *testing.T, o Options) *fixture {
	t.Helper()
	idp, err := fakeidp.New(fakeidp.Options{})
	require.NoError(t, err)
	t.Cleanup(idp.Close)
	o.Verify = idp.Verify
	srv, err := New(o)
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	return &fixture{idp: idp, srv: srv, hc: &http.Client{Transport: srv.Transport()}}
}

func (f *fixture) token(t *testing.T, c fakeidp.Claims) string {
	t.Helper()
	if c.Audience == "" {
		c.Audience = "https://outlook.office365.com"
	}
	c.IssuedAt, c.ExpiresAt = time.Now(), time.Now().Add(time.Hour)
	tok, err := f.idp.Mint(c)
	require.NoError(t, err)
	return tok
}

func (f *fixture) do(t *testing.T, method, query, tok string, body []byte, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, f.srv.URL()+query, bytes.NewReader(body))
	require.NoError(t, err)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := f.hc.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

var alice = fakeidp.Claims{UPN: "alice@contoso.test", Scp: []string{"EAS.AccessAsUser.All"}}

func TestOptionsHeaders(t *testing.T) {
	f := newFixture(t, Options{})
	resp := f.do(t, http.MethodOptions, "", f.token(t, alice), nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "2.5,12.0,12.1,14.0,14.1,16.0,16.1", resp.Header.Get("MS-ASProtocolVersions"))
	assert.Contains(t, resp.Header.Get("MS-ASProtocolCommands"), "ItemOperations")
	assert.Equal(t, "OPTIONS,POST", resp.Header.Get("Allow"))
}

func TestAuthentication(t *testing.T) {
	f := newFixture(t, Options{})
	q := "?Cmd=FolderSync&User=alice%40contoso.test&DeviceId=Dev1&DeviceType=Test"
	h := map[string]string{"Content-Type": contentTypeWBXML, "MS-ASProtocolVersion": "14.1"}
	for _, tc := range []struct {
		name string
		tok  string
		want int
	}{
		{"no token", "", 401},
		{"garbage", "not.a.jwt", 401},
		{"graph audience", f.token(t, fakeidp.Claims{Audience: "https://graph.microsoft.com", UPN: alice.UPN, Scp: alice.Scp}), 401},
		{"other user", f.token(t, fakeidp.Claims{UPN: "mallory@contoso.test", Scp: alice.Scp}), 401},
		{"IMAP scope only", f.token(t, fakeidp.Claims{UPN: alice.UPN, Scp: []string{"IMAP.AccessAsUser.All"}}), 403},
		{"app-only", f.token(t, fakeidp.Claims{Roles: []string{"full_access_as_app"}}), 401},
		{"good, not provisioned", f.token(t, alice), 449},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := f.do(t, http.MethodPost, q, tc.tok, folderSyncKey0, h)
			assert.Equal(t, tc.want, resp.StatusCode)
			if tc.want == 401 {
				assert.Contains(t, resp.Header.Get("WWW-Authenticate"), "Bearer")
			}
		})
	}
	g := newFixture(t, Options{AllowAppOnly: true})
	resp := g.do(t, http.MethodPost, q, g.token(t, fakeidp.Claims{Roles: []string{"full_access_as_app"}}), folderSyncKey0, h)
	assert.Equal(t, 449, resp.StatusCode, "app-only accepted when allowed")
}

func TestRequestChecks(t *testing.T) {
	f := newFixture(t, Options{})
	tok := f.token(t, alice)
	q := "?Cmd=FolderSync&User=alice%40contoso.test&DeviceId=Dev1&DeviceType=Test"
	resp := f.do(t, http.MethodPost, q, tok, folderSyncKey0, map[string]string{"Content-Type": "text/xml", "MS-ASProtocolVersion": "14.1"})
	assert.Equal(t, 400, resp.StatusCode, "wrong Content-Type")
	resp = f.do(t, http.MethodPost, q, tok, folderSyncKey0, map[string]string{"Content-Type": contentTypeWBXML, "MS-ASProtocolVersion": "9.9"})
	assert.Equal(t, 400, resp.StatusCode, "unknown version")
	resp = f.do(t, http.MethodPost, "?Cmd=Sync&User=alice%40contoso.test&DeviceId=Dev1&DeviceType=Test", tok, folderSyncKey0,
		map[string]string{"Content-Type": contentTypeWBXML, "MS-ASProtocolVersion": "14.1"})
	assert.Equal(t, 400, resp.StatusCode, "Cmd does not match the body")
	resp = f.do(t, http.MethodPost, q, tok, []byte{0x03, 0x01, 0x6a, 0x00, 0x00, 0x07, 0x56}, map[string]string{"Content-Type": contentTypeWBXML, "MS-ASProtocolVersion": "14.1"})
	assert.Equal(t, 400, resp.StatusCode, "truncated WBXML")
}

// TestBase64QuerySpecExample: the server reads the example of [MS-ASHTTP]
// 2.2.1.1.1.1 (14.0, Sync, v140Device, SmartPhone).
func TestBase64QuerySpecExample(t *testing.T) {
	r, err := http.NewRequest(http.MethodPost, "https://h/Microsoft-Server-ActiveSync?jAAJBAp2MTQwRGV2aWNlAApTbWFydFBob25l", nil)
	require.NoError(t, err)
	var req Request
	require.True(t, parseQuery(r, &req))
	assert.Equal(t, Request{Command: "Sync", DeviceID: "v140Device", DeviceType: "SmartPhone", ProtocolVersion: "14.0", Base64: true}, req)
	r.URL.RawQuery = "jAAJBAp2MTQwRGV2aWNlAApTbWFydFBob2" // truncated
	assert.False(t, parseQuery(r, &Request{}))
}

// TestProvisionAndFolderSyncRaw provisions with hand-built requests, then
// sends the published FolderSync vector and checks the hierarchy.
func TestProvisionAndFolderSyncRaw(t *testing.T) {
	f := newFixture(t, Options{})
	tok := f.token(t, alice)
	h := map[string]string{"Content-Type": contentTypeWBXML, "MS-ASProtocolVersion": "14.1"}
	post := func(cmd string, n *wbxml.Node, key string) *wbxml.Node {
		b, err := wbxml.Marshal(n)
		require.NoError(t, err)
		h["X-MS-PolicyKey"] = key
		resp := f.do(t, http.MethodPost, "?Cmd="+cmd+"&User=alice%40contoso.test&DeviceId=Dev1&DeviceType=Test", tok, b, h)
		require.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, contentTypeWBXML, resp.Header.Get("Content-Type"))
		raw, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		doc, err := wbxml.Unmarshal(raw)
		require.NoError(t, err)
		return doc
	}
	// Without DeviceInformation a 14.1 initial Provision is refused.
	r := post("Provision", wbxml.Elem("Provision", "Provision", wbxml.Elem("Provision", "Policies",
		wbxml.Elem("Provision", "Policy", wbxml.Text("Provision", "PolicyType", policyType)))), "")
	assert.Equal(t, "2", r.ChildText("Status"))

	r = post("Provision", wbxml.Elem("Provision", "Provision",
		wbxml.Elem("Settings", "DeviceInformation", wbxml.Elem("Settings", "Set", wbxml.Text("Settings", "Model", "test"))),
		wbxml.Elem("Provision", "Policies", wbxml.Elem("Provision", "Policy", wbxml.Text("Provision", "PolicyType", policyType)))), "")
	require.Equal(t, "1", r.ChildText("Status"))
	temp := r.Child("Policies").Child("Policy").ChildText("PolicyKey")
	require.NotEmpty(t, temp)
	assert.Empty(t, f.srv.PolicyKey(alice.UPN, "Dev1"), "the temporary key is not yet valid")

	r = post("Provision", wbxml.Elem("Provision", "Provision", wbxml.Elem("Provision", "Policies", wbxml.Elem("Provision", "Policy",
		wbxml.Text("Provision", "PolicyType", policyType), wbxml.Text("Provision", "PolicyKey", "12345"), wbxml.Text("Provision", "Status", "1")))), "12345")
	assert.Equal(t, "5", r.Child("Policies").Child("Policy").ChildText("Status"), "acknowledging the wrong key")

	r = post("Provision", wbxml.Elem("Provision", "Provision", wbxml.Elem("Provision", "Policies", wbxml.Elem("Provision", "Policy",
		wbxml.Text("Provision", "PolicyType", policyType), wbxml.Text("Provision", "PolicyKey", temp), wbxml.Text("Provision", "Status", "1")))), temp)
	final := r.Child("Policies").Child("Policy").ChildText("PolicyKey")
	require.NotEmpty(t, final)
	assert.Equal(t, final, f.srv.PolicyKey(alice.UPN, "Dev1"))

	h["X-MS-PolicyKey"] = final
	resp := f.do(t, http.MethodPost, "?Cmd=FolderSync&User=alice%40contoso.test&DeviceId=Dev1&DeviceType=Test", tok, folderSyncKey0, h)
	require.Equal(t, 200, resp.StatusCode)
	raw, _ := io.ReadAll(resp.Body)
	doc, err := wbxml.Unmarshal(raw)
	require.NoError(t, err)
	assert.Equal(t, "1", doc.ChildText("Status"))
	assert.Equal(t, "7", doc.Child("Changes").ChildText("Count"))
	assert.Len(t, doc.Child("Changes").All("Add"), 7)
}

// FuzzParseQuery: the server's query parser never panics on any query.
func FuzzParseQuery(f *testing.F) {
	f.Add("jAAJBAp2MTQwRGV2aWNlAApTbWFydFBob25l")
	f.Add("Cmd=Sync&User=a%40b.c&DeviceId=d&DeviceType=t")
	f.Add("oQAJBA5NYWlsQXV0aFRlc3QwMQTmWNtpCE1haWxBdXRoCBJhbGljZUBjb250b3NvLnRlc3Q%3D")
	f.Fuzz(func(t *testing.T, q string) {
		r, err := http.NewRequest(http.MethodPost, "https://h/Microsoft-Server-ActiveSync", nil)
		if err != nil {
			t.Skip()
		}
		r.URL.RawQuery = q
		var req Request
		_ = parseQuery(r, &req)
	})
}
