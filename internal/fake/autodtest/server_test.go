package autodtest

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func client(s *Server) *http.Client {
	tr := &http.Transport{DialContext: s.DialContext, TLSClientConfig: s.ClientTLSConfig()}
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func post(t *testing.T, c *http.Client, url, body string) (int, string) {
	t.Helper()
	resp, err := c.Post(url, "text/xml", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The fake checks requests as the documents say: one Request element
// ([MS-ASCMD] 2.2.3.150.1: more than one is error 600), a known schema
// pair, the MobileSync AcceptableResponseSchema.
func TestPOXValidation(t *testing.T) {
	s, err := New(Options{Hosts: []Host{{Name: "a.contoso.test", POX: true, Mailboxes: map[string]Mailbox{"*": {EASURL: "https://a.contoso.test/Microsoft-Server-ActiveSync"}}}}})
	require.NoError(t, err)
	defer s.Close()
	c := client(s)
	u := "https://a.contoso.test/autodiscover/autodiscover.xml"

	const ns = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/"
	one := `<Request><EMailAddress>x@contoso.test</EMailAddress><AcceptableResponseSchema>` + ns + `responseschema/2006</AcceptableResponseSchema></Request>`
	code, body := post(t, c, u, `<Autodiscover xmlns="`+ns+`requestschema/2006">`+one+`</Autodiscover>`)
	assert.Equal(t, 200, code)
	assert.Contains(t, body, "<Type>MobileSync</Type>")

	_, body = post(t, c, u, `<Autodiscover xmlns="`+ns+`requestschema/2006">`+one+one+`</Autodiscover>`)
	assert.Contains(t, body, "<ErrorCode>600</ErrorCode>")
	_, body = post(t, c, u, `<Autodiscover xmlns="urn:wrong">`+one+`</Autodiscover>`)
	assert.Contains(t, body, "<ErrorCode>600</ErrorCode>")
	_, body = post(t, c, u, `<Autodiscover xmlns="`+ns+`requestschema/2006"><Request><EMailAddress>x@contoso.test</EMailAddress><AcceptableResponseSchema>urn:other</AcceptableResponseSchema></Request></Autodiscover>`)
	assert.Contains(t, body, "<ErrorCode>601</ErrorCode>")

	code, _ = post(t, c, "https://a.contoso.test/autodiscover/autodiscover.svc", "x")
	assert.Equal(t, 404, code, "SOAP not enabled on this host")
}

func TestDialsAndSRV(t *testing.T) {
	s, err := New(Options{Hosts: []Host{{Name: "a.contoso.test", ProbeRedirect: "https://a.contoso.test/autodiscover/autodiscover.xml"}}})
	require.NoError(t, err)
	defer s.Close()
	c := client(s)
	resp, err := c.Get("http://a.contoso.test/autodiscover/autodiscover.xml")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 302, resp.StatusCode)
	assert.Equal(t, "https://a.contoso.test/autodiscover/autodiscover.xml", resp.Header.Get("Location"))

	_, err = c.Get("https://elsewhere.example/")
	require.Error(t, err, "unknown names are not served")
	assert.Equal(t, []string{"a.contoso.test:80", "elsewhere.example:443"}, s.Dials())

	_, _, err = s.LookupSRV(context.Background(), "autodiscover", "tcp", "contoso.test")
	assert.Error(t, err)
}
