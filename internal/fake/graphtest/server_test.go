package graphtest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modernauth/mailauth/internal/fake/fakeidp"
)

type harness struct {
	t   *testing.T
	srv *Server
	tok string
	hc  *http.Client
}

func start(t *testing.T, opts Options) *harness {
	idp, err := fakeidp.New(fakeidp.Options{})
	require.NoError(t, err)
	t.Cleanup(idp.Close)
	opts.Verify = idp.Verify
	if opts.Mailboxes == nil {
		opts.Mailboxes = []string{"alice@contoso.test"}
	}
	srv, err := New(opts)
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	tok, err := idp.Mint(fakeidp.Claims{Audience: "https://graph.microsoft.com", UPN: "alice@contoso.test", Scp: []string{"Mail.ReadWrite", "Mail.Send"}, ExpiresAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	return &harness{t: t, srv: srv, tok: tok, hc: &http.Client{Transport: srv.Transport()}}
}

func (h *harness) do(method, url, ctype string, body []byte, hdr ...string) (*http.Response, []byte) {
	h.t.Helper()
	if strings.HasPrefix(url, "/") {
		url = h.srv.URL() + url
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	require.NoError(h.t, err)
	if h.tok != "" && !strings.Contains(url, "/api/v2.0/") {
		req.Header.Set("Authorization", "Bearer "+h.tok)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := h.hc.Do(req)
	require.NoError(h.t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, b
}

// The list answer has the documented shape: @odata.context, then an absolute nextLink,
// then value, each message starting with @odata.etag and id.
func TestListShape(t *testing.T) {
	h := start(t, Options{Items: 3})
	resp, b := h.do("GET", "/v1.0/me/mailFolders/inbox/messages?$select=subject,isRead&$top=2", "", nil)
	require.Equal(t, 200, resp.StatusCode)
	want := `{"@odata.context":"` + h.srv.URL() + `/v1.0/$metadata#me/mailFolders('inbox')/messages(subject,isRead)","@odata.nextLink":"` + h.srv.URL() +
		`/v1.0/me/mailFolders/inbox/messages?%24select=subject%2CisRead&%24skip=2&%24top=2","value":[{"@odata.etag":"W/\"`
	assert.True(t, strings.HasPrefix(string(b), want), "got %s", b)
	var page struct {
		NextLink string `json:"@odata.nextLink"`
		Value    []map[string]any
	}
	require.NoError(t, json.Unmarshal(b, &page))
	assert.Equal(t, []string{"@odata.etag", "id", "isRead", "subject"}, keys(page.Value[0]))
	resp, b = h.do("GET", page.NextLink, "", nil)
	require.Equal(t, 200, resp.StatusCode)
	assert.NotContains(t, string(b), "nextLink")
	assert.Contains(t, string(b), `"subject":"Message 3"`)
	assert.Contains(t, resp.Header.Get("Content-Type"), "application/json")
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sortStrings(out)
	return out
}

func sortStrings(s []string) {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
}

// Errors have Graph's body and echo client-request-id.
func TestErrorShape(t *testing.T) {
	h := start(t, Options{})
	resp, b := h.do("GET", "/v1.0/me/messages/AAMkNOPE", "", nil, "client-request-id", "c-123")
	assert.Equal(t, 404, resp.StatusCode)
	var e struct {
		Error struct {
			Code, Message string
			InnerError    map[string]string `json:"innerError"`
		} `json:"error"`
	}
	require.NoError(t, json.Unmarshal(b, &e))
	assert.Equal(t, "ErrorItemNotFound", e.Error.Code)
	assert.Equal(t, "c-123", e.Error.InnerError["client-request-id"])
	assert.Equal(t, resp.Header.Get("request-id"), e.Error.InnerError["request-id"])
	assert.NotEmpty(t, e.Error.InnerError["date"])
	assert.Equal(t, "c-123", resp.Header.Get("client-request-id"))

	h.tok = ""
	resp, b = h.do("GET", "/v1.0/me/mailFolders", "", nil)
	assert.Equal(t, 401, resp.StatusCode)
	assert.Contains(t, string(b), `"code":"InvalidAuthenticationToken"`)
	assert.Contains(t, resp.Header.Get("WWW-Authenticate"), "Bearer")
}

func TestSendAndUploadShapes(t *testing.T) {
	h := start(t, Options{Items: -1})
	mime := "From: alice@contoso.test\r\nTo: bob@contoso.test\r\nSubject: s\r\n\r\nx\r\n"
	resp, b := h.do("POST", "/v1.0/me/sendMail", "text/plain", []byte(base64.StdEncoding.EncodeToString([]byte(mime))))
	assert.Equal(t, http.StatusAccepted, resp.StatusCode)
	assert.Empty(t, b)
	require.Len(t, h.srv.Sent(), 1)
	assert.Equal(t, mime, string(h.srv.Sent()[0].MIME))

	resp, b = h.do("POST", "/v1.0/me/messages", "application/json", []byte(`{"subject":"d","toRecipients":[{"emailAddress":{"address":"bob@contoso.test"}}]}`))
	require.Equal(t, 201, resp.StatusCode)
	var draft struct{ ID string }
	require.NoError(t, json.Unmarshal(b, &draft))

	resp, b = h.do("POST", "/v1.0/me/messages/"+draft.ID+"/attachments/createUploadSession", "application/json",
		[]byte(`{"AttachmentItem":{"attachmentType":"file","name":"f.bin","size":10}}`))
	require.Equal(t, 201, resp.StatusCode)
	var us map[string]any
	require.NoError(t, json.Unmarshal(b, &us))
	assert.Equal(t, []string{"@odata.context", "expirationDateTime", "nextExpectedRanges", "uploadUrl"}, keys(us))
	assert.Equal(t, []any{"0-"}, us["nextExpectedRanges"])
	up := us["uploadUrl"].(string)
	assert.True(t, strings.HasPrefix(up, "https://localhost:"), up)
	assert.Contains(t, up, "authtoken=")

	put := func(rng string, body string) (*http.Response, []byte) {
		return h.do("PUT", up, "application/octet-stream", []byte(body), "Content-Range", rng)
	}
	resp, b = put("bytes 0-3/10", "0123")
	require.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, string(b), `"nextExpectedRanges":["4"]`)
	assert.Contains(t, string(b), `"ExpirationDateTime":"`)
	resp, _ = put("bytes 6-9/10", "6789")
	assert.Equal(t, http.StatusRequestedRangeNotSatisfiable, resp.StatusCode)
	resp, _ = put("bytes 4-9/10", "456789")
	require.Equal(t, 201, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("Location"), "/Attachments('")
	assert.Zero(t, h.srv.UploadsWithAuthorization())

	resp, _ = h.do("POST", "/v1.0/me/messages/"+draft.ID+"/send", "", nil)
	assert.Equal(t, 202, resp.StatusCode)
	s := h.srv.Sent()[1]
	assert.Equal(t, "draft", s.Via)
	assert.Equal(t, "0123456789", string(s.Attachments[0].Data))

	big := bytes.Repeat([]byte("x"), MaxRequestBytes+1)
	resp, _ = h.do("POST", "/v1.0/me/sendMail", "text/plain", big)
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
}

func TestDeltaBatchAndThrottle(t *testing.T) {
	h := start(t, Options{Items: 3})
	resp, b := h.do("GET", "/v1.0/me/mailFolders/inbox/messages/delta", "", nil, "Prefer", "odata.maxpagesize=2")
	require.Equal(t, 200, resp.StatusCode)
	var p struct {
		Next  string `json:"@odata.nextLink"`
		Delta string `json:"@odata.deltaLink"`
		Value []json.RawMessage
	}
	require.NoError(t, json.Unmarshal(b, &p))
	assert.Len(t, p.Value, 2)
	require.NotEmpty(t, p.Next)
	_, b = h.do("GET", p.Next, "", nil, "Prefer", "odata.maxpagesize=2")
	p.Next = ""
	require.NoError(t, json.Unmarshal(b, &p))
	assert.Empty(t, p.Next)
	assert.Contains(t, p.Delta, "$deltatoken=")

	var reqs []string
	for i := 0; i < 21; i++ {
		reqs = append(reqs, fmt.Sprintf(`{"id":"%d","method":"GET","url":"/me/mailFolders/inbox"}`, i))
	}
	resp, _ = h.do("POST", "/v1.0/$batch", "application/json", []byte(`{"requests":[`+strings.Join(reqs, ",")+`]}`))
	assert.Equal(t, 400, resp.StatusCode)
	resp, b = h.do("POST", "/v1.0/$batch", "application/json", []byte(`{"requests":[`+strings.Join(reqs[:2], ",")+`]}`))
	require.Equal(t, 200, resp.StatusCode)
	assert.True(t, strings.HasPrefix(string(b), `{"responses":[{"id":"0","status":200,"headers":{"Content-Type":`), string(b))

	h.srv.Throttle(1, 429, 2*time.Second)
	resp, b = h.do("GET", "/v1.0/me/mailFolders", "", nil)
	assert.Equal(t, 429, resp.StatusCode)
	assert.Equal(t, "2", resp.Header.Get("Retry-After"))
	assert.Contains(t, string(b), "ApplicationThrottled")
	resp, _ = h.do("GET", "/v1.0/me/mailFolders", "", nil)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Positive(t, h.srv.RequestsByHost()[h.srv.Addr()])
}
