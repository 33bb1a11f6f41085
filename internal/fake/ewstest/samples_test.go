package ewstest

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modernauth/mailauth/internal/fake/fakeidp"
)

// skeleton renders doc's root element as one line per element:
// {namespace}name and the sorted names of its attributes (xmlns
// declarations dropped). Values are left out: ids, counts and dates differ
// between Microsoft's examples and this server; the shape must not.
func skeleton(t *testing.T, doc []byte) string {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	var b strings.Builder
	depth := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		switch tk := tok.(type) {
		case xml.StartElement:
			var attrs []string
			for _, a := range tk.Attr {
				if a.Name.Space == "xmlns" || a.Name.Local == "xmlns" {
					continue
				}
				attrs = append(attrs, a.Name.Local)
			}
			slices.Sort(attrs)
			b.WriteString(strings.Repeat("  ", depth) + "{" + tk.Name.Space + "}" + tk.Name.Local + " " + strings.Join(attrs, ",") + "\n")
			depth++
		case xml.EndElement:
			depth--
			if depth == 0 {
				return b.String()
			}
		}
	}
	return b.String()
}

func readSample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "samples", name))
	require.NoError(t, err)
	return b
}

// Microsoft's documented requests, sent verbatim, get answers shaped
// exactly like Microsoft's documented responses.
func TestResponsesMatchDocumentedSamples(t *testing.T) {
	idp, err := fakeidp.New(fakeidp.Options{})
	require.NoError(t, err)
	defer idp.Close()
	srv, err := New(Options{Verify: idp.Verify, Mailboxes: []string{"alice@contoso.test"}, Items: 2})
	require.NoError(t, err)
	defer srv.Close()
	tok, err := idp.Mint(fakeidp.Claims{Audience: "https://outlook.office365.com", UPN: "alice@contoso.test",
		Scp: []string{"EWS.AccessAsUser.All"}, ExpiresAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)

	// The FindItem example lists two messages in Deleted Items.
	srv.mu.Lock()
	mb := srv.mailboxes["alice@contoso.test"]
	for _, it := range slices.Clone(mb.folders[mb.distinguished["inbox"]].items) {
		srv.move(mb, it, mb.folders[mb.distinguished["deleteditems"]])
	}
	srv.mu.Unlock()

	client := &http.Client{Transport: srv.Transport()}
	post := func(body []byte) (int, []byte) {
		req, err := http.NewRequest("POST", srv.URL(), bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "text/xml; charset=utf-8")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		out, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		assert.Equal(t, "text/xml; charset=utf-8", resp.Header.Get("Content-Type"))
		return resp.StatusCode, out
	}

	tests := []struct {
		name, request, response string
		edit                    func(string) string
		busy                    bool
		status                  int
	}{
		{name: "GetFolder", request: "getfolder_request.xml", response: "getfolder_response.xml"},
		{name: "GetFolder error", request: "getfolder_request.xml", response: "getfolder_error_response.xml",
			edit: func(s string) string {
				return strings.Replace(s, `<t:DistinguishedFolderId Id="inbox"/>`, `<t:FolderId Id="AQApA="/>`, 1)
			}},
		{name: "FindItem", request: "finditem_request.xml", response: "finditem_response.xml"},
		{name: "CreateItem SendAndSaveCopy", request: "createitem_sendandsavecopy_request.xml", response: "createitem_sendandsavecopy_response.xml"},
		{name: "SyncFolderItems with a foreign sync state", request: "syncfolderitems_request.xml", response: "syncfolderitems_error_response.xml"},
		{name: "ErrorServerBusy fault", request: "getfolder_request.xml", response: "errorserverbusy_fault.xml", busy: true, status: 500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := string(readSample(t, tc.request))
			if tc.edit != nil {
				req = tc.edit(req)
			}
			if tc.busy {
				srv.SetBusy(1, 297749*time.Millisecond)
			}
			status, got := post([]byte(req))
			want := 200
			if tc.status != 0 {
				want = tc.status
			}
			require.Equal(t, want, status, string(got))
			assert.Equal(t, skeleton(t, readSample(t, tc.response)), skeleton(t, got))
		})
	}
	sent := srv.Sent()
	require.Len(t, sent, 1)
	assert.Equal(t, "Project Action", sent[0].Subject)
	assert.Equal(t, []string{"sschmidt@example.com"}, sent[0].To)
}
