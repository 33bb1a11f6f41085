package autodiscover_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth/autodiscover"
	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/internal/fake/autodtest"
)

// testCloud is a cloud whose hosts are served by autodtest.
var testCloud = cloud.Cloud{
	Name:             "test",
	AuthorityHost:    "https://login.cloud.test",
	Resource:         "https://outlook.cloud.test",
	IMAPHost:         "outlook.cloud.test",
	POPHost:          "outlook.cloud.test",
	SMTPHost:         "smtp.cloud.test",
	EWSURL:           "https://outlook.cloud.test/EWS/Exchange.asmx",
	EASURL:           "https://outlook.cloud.test/Microsoft-Server-ActiveSync",
	AutodiscoverHost: "outlook.cloud.test",
}

const (
	cloudEWS  = "https://outlook.cloud.test/EWS/Exchange.asmx"
	cloudEAS  = "https://outlook.cloud.test/Microsoft-Server-ActiveSync"
	onpremEWS = "https://mail.contoso.test/EWS/Exchange.asmx"
	onpremEAS = "https://mail.contoso.test/Microsoft-Server-ActiveSync"
)

// countingSource is an oauth2.TokenSource with Invalidate that counts calls.
type countingSource struct {
	token       string
	calls       atomic.Int64
	invalidated atomic.Int64
}

func (s *countingSource) Token() (*oauth2.Token, error) {
	s.calls.Add(1)
	return &oauth2.Token{AccessToken: s.token, TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)}, nil
}

func (s *countingSource) Invalidate(*oauth2.Token) { s.invalidated.Add(1) }

func startServer(t *testing.T, opts autodtest.Options) *autodtest.Server {
	t.Helper()
	srv, err := autodtest.New(opts)
	require.NoError(t, err, "autodtest.New")
	t.Cleanup(srv.Close)
	return srv
}

func newClient(t *testing.T, srv *autodtest.Server, opts autodiscover.Options) *autodiscover.Client {
	t.Helper()
	if opts.Cloud == (cloud.Cloud{}) {
		opts.Cloud = testCloud
	}
	opts.DialContext = srv.DialContext
	opts.TLSConfig = srv.ClientTLSConfig()
	opts.Resolver = srv
	opts.RequestTimeout = 5 * time.Second
	c, err := autodiscover.New(&opts)
	require.NoError(t, err, "autodiscover.New")
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func hostsOf(reqs []autodtest.Request) []string {
	var out []string
	for _, r := range reqs {
		out = append(out, r.Scheme+"://"+r.Host+r.Path)
	}
	return out
}

func TestLookupV2(t *testing.T) {
	t.Parallel()
	srv := startServer(t, autodtest.Options{Hosts: []autodtest.Host{
		{Name: "outlook.cloud.test", V2: true, Mailboxes: map[string]autodtest.Mailbox{
			"alice@contoso.test": {EWSURL: cloudEWS, EASURL: cloudEAS}}},
	}})
	c := newClient(t, srv, autodiscover.Options{})

	res, err := c.Lookup(ctx(t), "Alice@Contoso.test", autodiscover.EWS)
	require.NoError(t, err)
	assert.Equal(t, cloudEWS, res.URL)
	assert.Equal(t, autodiscover.MethodV2, res.Method)
	assert.Equal(t, "Alice@contoso.test", res.Email)
	assert.True(t, res.TokenAllowed, "a cloud host may receive the token")

	res, err = c.Lookup(ctx(t), "alice@contoso.test", autodiscover.ActiveSync)
	require.NoError(t, err)
	assert.Equal(t, cloudEAS, res.URL)

	reqs := srv.Requests()
	require.Len(t, reqs, 2, "one anonymous GET per lookup")
	assert.Equal(t, "GET", reqs[0].Method)
	assert.Equal(t, "/autodiscover/autodiscover.json/v1.0/Alice@contoso.test", reqs[0].Path)
	assert.Equal(t, "Protocol=EWS", reqs[0].RawQuery)
	assert.Equal(t, "Protocol=ActiveSync", reqs[1].RawQuery)
	assert.Empty(t, reqs[0].Token, "v2 is anonymous")
}

// An address Exchange Online does not host: v2 redirects to the
// Autodiscoverv1 form, then POX on the domain finds it.
func TestLookupFallsBackToPOX(t *testing.T) {
	t.Parallel()
	srv := startServer(t, autodtest.Options{Hosts: []autodtest.Host{
		{Name: "outlook.cloud.test", V2: true},
		{Name: "contoso.test", Status: 404},
		{Name: "autodiscover.contoso.test", POX: true, SOAP: true, Mailboxes: map[string]autodtest.Mailbox{
			"bob@contoso.test": {EWSURL: onpremEWS, EASURL: onpremEAS}}},
	}})
	c := newClient(t, srv, autodiscover.Options{})

	res, err := c.Lookup(ctx(t), "bob@contoso.test", autodiscover.EWS)
	require.NoError(t, err)
	assert.Equal(t, onpremEWS, res.URL)
	assert.Equal(t, autodiscover.MethodPOX, res.Method)
	assert.Equal(t, "https://autodiscover.contoso.test/autodiscover/autodiscover.xml", res.Endpoint)
	assert.Equal(t, []string{
		"https://outlook.cloud.test/autodiscover/autodiscover.json/v1.0/bob@contoso.test",
		"https://outlook.cloud.test/autodiscover/autodiscover.json", // the 302 of an unknown user
		"https://contoso.test/autodiscover/autodiscover.xml",
		"https://contoso.test/autodiscover/autodiscover.svc",
		"https://autodiscover.contoso.test/autodiscover/autodiscover.xml",
	}, hostsOf(srv.Requests()), "the documented candidate order")

	srv.Reset()
	res, err = c.Lookup(ctx(t), "bob@contoso.test", autodiscover.ActiveSync)
	require.NoError(t, err)
	assert.Equal(t, onpremEAS, res.URL)
	reqs := srv.Requests()
	last := reqs[len(reqs)-1]
	assert.Contains(t, last.Body, "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/requestschema/2006")
	for _, r := range reqs {
		assert.NotEqual(t, "/autodiscover/autodiscover.svc", r.Path, "SOAP is not used for ActiveSync")
	}
}

func TestLookupSOAP(t *testing.T) {
	t.Parallel()
	srv := startServer(t, autodtest.Options{Hosts: []autodtest.Host{
		{Name: "contoso.test", SOAP: true, Mailboxes: map[string]autodtest.Mailbox{
			"carol@contoso.test": {EWSURL: onpremEWS}}},
	}})
	c := newClient(t, srv, autodiscover.Options{Methods: []autodiscover.Method{autodiscover.MethodSOAP}})
	res, err := c.Lookup(ctx(t), "carol@contoso.test", autodiscover.EWS)
	require.NoError(t, err)
	assert.Equal(t, onpremEWS, res.URL)
	assert.Equal(t, autodiscover.MethodSOAP, res.Method)
	assert.Equal(t, "carol@contoso.test", res.Email)
}

// POX with bearer: anonymous first; after "401 WWW-Authenticate: Bearer" the
// same request again with the token and X-AnchorMailbox.
func TestLookupBearerWhenAsked(t *testing.T) {
	t.Parallel()
	src := &countingSource{token: "tok-123"}
	srv := startServer(t, autodtest.Options{
		Verify: func(tok string) error {
			if tok != "tok-123" {
				return errors.New("bad token")
			}
			return nil
		},
		Hosts: []autodtest.Host{
			{Name: "contoso.test", POX: true, RequireBearer: true, Mailboxes: map[string]autodtest.Mailbox{
				"dave@contoso.test": {EWSURL: onpremEWS}}},
		}})
	c := newClient(t, srv, autodiscover.Options{Token: src, AllowedDomains: []string{"contoso.test"}, Methods: []autodiscover.Method{autodiscover.MethodPOX}})
	res, err := c.Lookup(ctx(t), "dave@contoso.test", autodiscover.EWS)
	require.NoError(t, err)
	assert.Equal(t, onpremEWS, res.URL)

	reqs := srv.Requests()
	require.Len(t, reqs, 2)
	assert.Empty(t, reqs[0].Token, "first request is anonymous")
	assert.Equal(t, "tok-123", reqs[1].Token)
	assert.Equal(t, "dave@contoso.test", reqs[1].AnchorMailbox)
	assert.EqualValues(t, 1, src.calls.Load())
}

func TestLookupBearerAskedWithoutToken(t *testing.T) {
	t.Parallel()
	srv := startServer(t, autodtest.Options{Hosts: []autodtest.Host{
		{Name: "contoso.test", POX: true, RequireBearer: true, Mailboxes: map[string]autodtest.Mailbox{"*": {EWSURL: onpremEWS}}},
	}})
	c := newClient(t, srv, autodiscover.Options{Methods: []autodiscover.Method{autodiscover.MethodPOX}})
	_, err := c.Lookup(ctx(t), "erin@contoso.test", autodiscover.EWS)
	var he *autodiscover.HTTPError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, 401, he.StatusCode)
	assert.True(t, he.Bearer)
	assert.Contains(t, err.Error(), "set Options.Token")
	var le *autodiscover.LookupError
	require.ErrorAs(t, err, &le)
	assert.ErrorIs(t, err, autodiscover.ErrNotFound)
}

// The token goes nowhere but the host that asked, and a redirectUrl to a
// host outside the allow-list is refused before anything is sent to it.
func TestRedirectToOutsideHostRefused(t *testing.T) {
	t.Parallel()
	src := &countingSource{token: "secret-token"}
	srv := startServer(t, autodtest.Options{Hosts: []autodtest.Host{
		{Name: "contoso.test", POX: true, RequireBearer: true, Mailboxes: map[string]autodtest.Mailbox{
			"*": {RedirectURL: "https://autodiscover.evil.example/autodiscover/autodiscover.xml"}}},
		{Name: "autodiscover.evil.example", POX: true, RequireBearer: true, Mailboxes: map[string]autodtest.Mailbox{"*": {EWSURL: "https://autodiscover.evil.example/EWS/Exchange.asmx"}}},
	}})
	c := newClient(t, srv, autodiscover.Options{Token: src, AllowedDomains: []string{"contoso.test"}, Methods: []autodiscover.Method{autodiscover.MethodPOX}})
	_, err := c.Lookup(ctx(t), "frank@contoso.test", autodiscover.EWS)
	var re *autodiscover.RedirectError
	require.ErrorAs(t, err, &re)
	assert.ErrorIs(t, re, autodiscover.ErrHostNotAllowed)
	assert.Equal(t, "https://autodiscover.evil.example/autodiscover/autodiscover.xml", re.To)
	assert.Contains(t, err.Error(), "AllowedDomains", "the error says how to allow it")
	for _, r := range srv.Requests() {
		assert.NotEqual(t, "autodiscover.evil.example", r.Host)
	}
	for _, d := range srv.Dials() {
		assert.NotContains(t, d, "evil.example")
	}
	assert.NotContains(t, err.Error(), "secret-token")

	// Named by the caller, the same chain is followed (and the token goes there).
	srv.Reset()
	c = newClient(t, srv, autodiscover.Options{Token: src, Methods: []autodiscover.Method{autodiscover.MethodPOX}, AllowedDomains: []string{"contoso.test", "evil.example"}})
	res, err := c.Lookup(ctx(t), "frank@contoso.test", autodiscover.EWS)
	require.NoError(t, err)
	assert.Equal(t, "https://autodiscover.evil.example/EWS/Exchange.asmx", res.URL)
	assert.Equal(t, 1, res.Redirects)
}

// An HTTP 302 to another host: the redirected request carries no token
// unless that host asks for one and is allowed.
func TestHTTPRedirectCarriesNoToken(t *testing.T) {
	t.Parallel()
	src := &countingSource{token: "tok"}
	srv := startServer(t, autodtest.Options{Hosts: []autodtest.Host{
		{Name: "contoso.test", POX: true, RequireBearer: true, Mailboxes: map[string]autodtest.Mailbox{"*": {RedirectURL: "https://autodiscover.contoso.test/autodiscover/autodiscover.xml"}}},
		{Name: "autodiscover.contoso.test", HTTPSRedirect: "https://other.partner.example/autodiscover/autodiscover.xml"},
		{Name: "other.partner.example", POX: true, Mailboxes: map[string]autodtest.Mailbox{"*": {EWSURL: "https://other.partner.example/EWS/Exchange.asmx"}}},
	}})
	c := newClient(t, srv, autodiscover.Options{Token: src, Methods: []autodiscover.Method{autodiscover.MethodPOX}, AllowedDomains: []string{"partner.example"}})
	res, err := c.Lookup(ctx(t), "gina@contoso.test", autodiscover.EWS)
	require.NoError(t, err)
	assert.Equal(t, "https://other.partner.example/EWS/Exchange.asmx", res.URL)
	for _, r := range srv.Requests() {
		if r.Host != "contoso.test" {
			assert.Empty(t, r.Token, "no token to %s, which did not ask for one", r.Host)
		}
	}
}

func TestRedirectToHTTPRefused(t *testing.T) {
	t.Parallel()
	srv := startServer(t, autodtest.Options{Hosts: []autodtest.Host{
		{Name: "contoso.test", POX: true, Mailboxes: map[string]autodtest.Mailbox{"*": {RedirectURL: "http://mail.contoso.test/autodiscover/autodiscover.xml"}}},
		{Name: "mail.contoso.test", POX: true, Mailboxes: map[string]autodtest.Mailbox{"*": {EWSURL: onpremEWS}}},
	}})
	c := newClient(t, srv, autodiscover.Options{Methods: []autodiscover.Method{autodiscover.MethodPOX}})
	_, err := c.Lookup(ctx(t), "hank@contoso.test", autodiscover.EWS)
	var re *autodiscover.RedirectError
	require.ErrorAs(t, err, &re)
	assert.ErrorIs(t, err, autodiscover.ErrInsecureRedirect)
	for _, r := range srv.Requests() {
		assert.NotEqual(t, "mail.contoso.test", r.Host)
	}

	// A returned EWS URL over http is refused as well.
	srv2 := startServer(t, autodtest.Options{Hosts: []autodtest.Host{
		{Name: "contoso.test", POX: true, Mailboxes: map[string]autodtest.Mailbox{"*": {EWSURL: "http://mail.contoso.test/EWS/Exchange.asmx"}}},
	}})
	c = newClient(t, srv2, autodiscover.Options{Methods: []autodiscover.Method{autodiscover.MethodPOX}})
	_, err = c.Lookup(ctx(t), "hank@contoso.test", autodiscover.EWS)
	assert.ErrorIs(t, err, autodiscover.ErrInsecureRedirect)
}

func TestRedirectURLLoop(t *testing.T) {
	t.Parallel()
	a := "https://a.contoso.test/autodiscover/autodiscover.xml"
	b := "https://b.contoso.test/autodiscover/autodiscover.xml"
	srv := startServer(t, autodtest.Options{Hosts: []autodtest.Host{
		{Name: "contoso.test", POX: true, Mailboxes: map[string]autodtest.Mailbox{"*": {RedirectURL: a}}},
		{Name: "a.contoso.test", POX: true, Mailboxes: map[string]autodtest.Mailbox{"*": {RedirectURL: b}}},
		{Name: "b.contoso.test", POX: true, Mailboxes: map[string]autodtest.Mailbox{"*": {RedirectURL: a}}},
	}})
	c := newClient(t, srv, autodiscover.Options{Methods: []autodiscover.Method{autodiscover.MethodPOX}})
	_, err := c.Lookup(ctx(t), "ivan@contoso.test", autodiscover.EWS)
	var re *autodiscover.RedirectError
	require.ErrorAs(t, err, &re)
	assert.ErrorIs(t, re, autodiscover.ErrRedirectLoop)
	assert.Equal(t, a, re.To)
	n := 0
	for _, r := range srv.Requests() {
		if r.Host == "a.contoso.test" {
			n++
		}
	}
	assert.Equal(t, 1, n, "a.contoso.test asked once")
}

func TestRedirectAddrRestartsAndDetectsLoop(t *testing.T) {
	t.Parallel()
	srv := startServer(t, autodtest.Options{Hosts: []autodtest.Host{
		{Name: "contoso.test", POX: true, Mailboxes: map[string]autodtest.Mailbox{
			"jane@contoso.test":  {RedirectAddr: "jane@mail.contoso.test"},
			"loop1@contoso.test": {RedirectAddr: "loop2@contoso.test"},
			"loop2@contoso.test": {RedirectAddr: "loop1@contoso.test"},
		}},
		{Name: "mail.contoso.test", POX: true, Mailboxes: map[string]autodtest.Mailbox{
			"jane@mail.contoso.test": {EWSURL: onpremEWS}}},
	}})
	c := newClient(t, srv, autodiscover.Options{Methods: []autodiscover.Method{autodiscover.MethodPOX}})
	res, err := c.Lookup(ctx(t), "jane@contoso.test", autodiscover.EWS)
	require.NoError(t, err)
	assert.Equal(t, onpremEWS, res.URL)
	assert.Equal(t, "jane@mail.contoso.test", res.Email)
	assert.Equal(t, 1, res.Redirects)

	srv.Reset()
	_, err = c.Lookup(ctx(t), "loop1@contoso.test", autodiscover.EWS)
	var le *autodiscover.LookupError
	require.ErrorAs(t, err, &le)
	assert.ErrorIs(t, le.Err, autodiscover.ErrRedirectLoop, "the lookup stops on a circular redirectAddr")
	assert.LessOrEqual(t, len(srv.Requests()), 2)
}

func TestTooManyRedirects(t *testing.T) {
	t.Parallel()
	mb := map[string]autodtest.Mailbox{}
	for i := 0; i < 20; i++ {
		mb[addrN(i)] = autodtest.Mailbox{RedirectAddr: addrN(i + 1)}
	}
	srv := startServer(t, autodtest.Options{Hosts: []autodtest.Host{{Name: "contoso.test", POX: true, Mailboxes: mb}}})
	c := newClient(t, srv, autodiscover.Options{Methods: []autodiscover.Method{autodiscover.MethodPOX}})
	_, err := c.Lookup(ctx(t), addrN(0), autodiscover.EWS)
	var le *autodiscover.LookupError
	require.ErrorAs(t, err, &le)
	assert.ErrorIs(t, le.Err, autodiscover.ErrTooManyRedirects)
	assert.Equal(t, 11, len(srv.Requests()), "the original request and 10 redirects")
}

func addrN(i int) string { return "u" + strings.Repeat("x", i) + "@contoso.test" }

// The http probe is the only plain-http request; its redirect is followed
// only to https (here a cloud host, as Exchange Online domains do).
func TestHTTPProbe(t *testing.T) {
	t.Parallel()
	src := &countingSource{token: "tok"}
	srv := startServer(t, autodtest.Options{Hosts: []autodtest.Host{
		{Name: "autodiscover.contoso.test", ProbeRedirect: "https://outlook.cloud.test/autodiscover/autodiscover.xml"},
		{Name: "outlook.cloud.test", POX: true, RequireBearer: true, Mailboxes: map[string]autodtest.Mailbox{"*": {EWSURL: cloudEWS}}},
	}})
	c := newClient(t, srv, autodiscover.Options{Token: src, Methods: []autodiscover.Method{autodiscover.MethodPOX}})
	res, err := c.Lookup(ctx(t), "kim@contoso.test", autodiscover.EWS)
	require.NoError(t, err)
	assert.Equal(t, cloudEWS, res.URL)
	for _, r := range srv.Requests() {
		if r.Scheme == "http" {
			assert.Equal(t, "GET", r.Method)
			assert.Empty(t, r.Token)
			assert.Empty(t, r.Body)
		}
	}

	// A probe redirect to http is not followed.
	srv2 := startServer(t, autodtest.Options{Hosts: []autodtest.Host{
		{Name: "autodiscover.contoso.test", ProbeRedirect: "http://mail.contoso.test/autodiscover/autodiscover.xml"},
		{Name: "mail.contoso.test", POX: true, Mailboxes: map[string]autodtest.Mailbox{"*": {EWSURL: onpremEWS}}},
	}})
	c = newClient(t, srv2, autodiscover.Options{Methods: []autodiscover.Method{autodiscover.MethodPOX}})
	_, err = c.Lookup(ctx(t), "kim@contoso.test", autodiscover.EWS)
	assert.ErrorIs(t, err, autodiscover.ErrInsecureRedirect)
	for _, r := range srv2.Requests() {
		assert.NotEqual(t, "mail.contoso.test", r.Host)
	}
}

func TestSRV(t *testing.T) {
	t.Parallel()
	srv := startServer(t, autodtest.Options{
		SRV: map[string][]*net.SRV{"_autodiscover._tcp.contoso.test": {
			{Target: "evil.example.", Port: 443, Priority: 0},
			{Target: "mail.contoso.test.", Port: 443, Priority: 10},
		}},
		Hosts: []autodtest.Host{
			{Name: "evil.example", POX: true, Mailboxes: map[string]autodtest.Mailbox{"*": {EWSURL: "https://evil.example/EWS/Exchange.asmx"}}},
			{Name: "mail.contoso.test", POX: true, Mailboxes: map[string]autodtest.Mailbox{"*": {EWSURL: onpremEWS}}},
		}})
	c := newClient(t, srv, autodiscover.Options{Methods: []autodiscover.Method{autodiscover.MethodPOX}})
	res, err := c.Lookup(ctx(t), "lee@contoso.test", autodiscover.EWS)
	require.NoError(t, err)
	assert.Equal(t, onpremEWS, res.URL)
	assert.Equal(t, "https://mail.contoso.test/autodiscover/autodiscover.xml", res.Endpoint)
	for _, d := range srv.Dials() {
		assert.NotContains(t, d, "evil.example", "an SRV target outside the allow-list is never dialled")
	}
}

// Acceptance (issue 4, security item 2): for user@mail.contoso.test no
// request ever goes to a host outside contoso.test, whatever the servers
// answer; and the client never walks up the domain tree.
func TestNoRequestOutsideDomain(t *testing.T) {
	t.Parallel()
	inside := cloud.Cloud{Name: "inside", Resource: "https://outlook.contoso.test", AutodiscoverHost: "outlook.contoso.test",
		EWSURL: "https://outlook.contoso.test/EWS/Exchange.asmx"}
	src := &countingSource{token: "tok"}
	everything := map[string]autodtest.Mailbox{"*": {EWSURL: "https://ews.evil.example/EWS/Exchange.asmx"}}
	srv := startServer(t, autodtest.Options{
		SRV: map[string][]*net.SRV{"_autodiscover._tcp.mail.contoso.test": {
			{Target: "autodiscover.evil.example.", Port: 443},
			{Target: "autodiscover.test.", Port: 443},
		}},
		Hosts: []autodtest.Host{
			{Name: "outlook.contoso.test", V2: true},
			{Name: "mail.contoso.test", POX: true, SOAP: true, RequireBearer: true, Mailboxes: map[string]autodtest.Mailbox{
				"user@mail.contoso.test": {RedirectURL: "https://autodiscover.evil.example/autodiscover/autodiscover.xml"}}},
			{Name: "autodiscover.mail.contoso.test", POX: true, SOAP: true, HTTPSRedirect: "https://autodiscover.test/autodiscover/autodiscover.xml",
				ProbeRedirect: "https://autodiscover.evil.example/autodiscover/autodiscover.xml"},
			// What a client walking up the tree would find: answers that work.
			{Name: "contoso.test", POX: true, SOAP: true, Mailboxes: everything},
			{Name: "autodiscover.contoso.test", POX: true, SOAP: true, Mailboxes: everything},
			{Name: "autodiscover.test", POX: true, SOAP: true, Mailboxes: everything},
			{Name: "autodiscover.evil.example", POX: true, SOAP: true, Mailboxes: everything},
			{Name: "ews.evil.example", POX: true, SOAP: true, Mailboxes: everything},
		}})
	for _, p := range []autodiscover.Protocol{autodiscover.EWS, autodiscover.ActiveSync} {
		c := newClient(t, srv, autodiscover.Options{Cloud: inside, Token: src})
		_, err := c.Lookup(ctx(t), "user@mail.contoso.test", p)
		require.Error(t, err, "nothing inside contoso.test answers with settings")
		assert.ErrorIs(t, err, autodiscover.ErrNotFound)
		assert.ErrorIs(t, err, autodiscover.ErrHostNotAllowed)
	}
	dials := srv.Dials()
	require.NotEmpty(t, dials)
	for _, d := range dials {
		host, _, err := net.SplitHostPort(d)
		require.NoError(t, err)
		assert.True(t, strings.HasSuffix(host, ".contoso.test"), "dialled %s", d)
		assert.NotEqual(t, "contoso.test", host, "walked up the domain tree: %s", d)
		assert.NotEqual(t, "autodiscover.contoso.test", host, "walked up the domain tree: %s", d)
	}
	for _, r := range srv.Requests() {
		if r.Token != "" {
			assert.Equal(t, "mail.contoso.test", r.Host, "token only to the host that asked")
		}
	}

	// Even with the parent domain allowed, the candidate list does not
	// climb to it: only redirects may lead there.
	srv.Reset()
	c := newClient(t, srv, autodiscover.Options{Cloud: inside, Token: src, AllowedDomains: []string{"contoso.test"}})
	_, err := c.Lookup(ctx(t), "nobody@mail.contoso.test", autodiscover.EWS)
	require.Error(t, err)
	for _, d := range srv.Dials() {
		host, _, _ := net.SplitHostPort(d)
		assert.True(t, host == "outlook.contoso.test" || strings.HasSuffix(host, "mail.contoso.test"), "dialled %s", d)
	}
}

func TestCache(t *testing.T) {
	t.Parallel()
	srv := startServer(t, autodtest.Options{Hosts: []autodtest.Host{
		{Name: "outlook.cloud.test", V2: true, Mailboxes: map[string]autodtest.Mailbox{"*": {EWSURL: cloudEWS}}},
	}})
	c := newClient(t, srv, autodiscover.Options{})
	res, err := c.Lookup(ctx(t), "mo@contoso.test", autodiscover.EWS)
	require.NoError(t, err)
	assert.False(t, res.Cached)
	res, err = c.Lookup(ctx(t), "MO@contoso.test", autodiscover.EWS)
	require.NoError(t, err)
	assert.True(t, res.Cached)
	assert.Equal(t, cloudEWS, res.URL)
	assert.Len(t, srv.Requests(), 1, "the second lookup is served from the cache")

	c.Forget("mo@contoso.test", autodiscover.EWS)
	_, err = c.Lookup(ctx(t), "mo@contoso.test", autodiscover.EWS)
	require.NoError(t, err)
	assert.Len(t, srv.Requests(), 2)

	// Disabled cache.
	srv.Reset()
	c = newClient(t, srv, autodiscover.Options{CacheTTL: -1})
	for i := 0; i < 2; i++ {
		_, err = c.Lookup(ctx(t), "mo@contoso.test", autodiscover.EWS)
		require.NoError(t, err)
	}
	assert.Len(t, srv.Requests(), 2)
}

func TestConcurrentLookups(t *testing.T) {
	t.Parallel()
	srv := startServer(t, autodtest.Options{Hosts: []autodtest.Host{
		{Name: "outlook.cloud.test", V2: true, Mailboxes: map[string]autodtest.Mailbox{"*": {EWSURL: cloudEWS}}},
	}})
	c := newClient(t, srv, autodiscover.Options{})
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := c.Lookup(ctx(t), addrN(i%4), autodiscover.EWS)
			if assert.NoError(t, err) {
				assert.Equal(t, cloudEWS, res.URL)
			}
		}()
	}
	wg.Wait()
}

func TestInvalidInput(t *testing.T) {
	t.Parallel()
	srv := startServer(t, autodtest.Options{})
	c := newClient(t, srv, autodiscover.Options{})
	for _, e := range []string{"user@test", "nobody", "a@b/c.test", ""} {
		_, err := c.Lookup(ctx(t), e, autodiscover.EWS)
		assert.ErrorIs(t, err, autodiscover.ErrInvalidEmail, e)
	}
	_, err := c.Lookup(ctx(t), "a@contoso.test", autodiscover.Protocol("IMAP"))
	assert.Error(t, err)
	assert.Empty(t, srv.Dials(), "nothing dialled for bad input")

	_, err = autodiscover.New(&autodiscover.Options{AllowedDomains: []string{"com"}})
	assert.Error(t, err, "a top-level domain cannot be allowed")
	_, err = autodiscover.New(&autodiscover.Options{Methods: []autodiscover.Method{"ldap"}})
	assert.Error(t, err)
}

func TestContextCanceled(t *testing.T) {
	t.Parallel()
	srv := startServer(t, autodtest.Options{Hosts: []autodtest.Host{{Name: "outlook.cloud.test", V2: true}}})
	c := newClient(t, srv, autodiscover.Options{})
	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Lookup(cctx, "a@contoso.test", autodiscover.EWS)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Empty(t, srv.Requests())
}

func TestParseProtocol(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]autodiscover.Protocol{"ews": autodiscover.EWS, "EWS": autodiscover.EWS, "activesync": autodiscover.ActiveSync, "eas": autodiscover.ActiveSync} {
		got, err := autodiscover.ParseProtocol(in)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
	_, err := autodiscover.ParseProtocol("imap")
	assert.Error(t, err)
}

func TestOneFlightPerAddress(t *testing.T) {
	t.Parallel()
	srv := startServer(t, autodtest.Options{Hosts: []autodtest.Host{
		{Name: "outlook.cloud.test", V2: true, Mailboxes: map[string]autodtest.Mailbox{"*": {EWSURL: cloudEWS}}},
	}})
	c := newClient(t, srv, autodiscover.Options{})
	var wg sync.WaitGroup
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := c.Lookup(ctx(t), "same@contoso.test", autodiscover.EWS)
			if assert.NoError(t, err) {
				assert.Equal(t, cloudEWS, res.URL)
			}
		}()
	}
	wg.Wait()
	assert.Len(t, srv.Requests(), 1, "32 callers, one request")
}

func TestCacheExpires(t *testing.T) {
	t.Parallel()
	srv := startServer(t, autodtest.Options{Hosts: []autodtest.Host{
		{Name: "outlook.cloud.test", V2: true, Mailboxes: map[string]autodtest.Mailbox{"*": {EWSURL: cloudEWS}}},
	}})
	c := newClient(t, srv, autodiscover.Options{CacheTTL: time.Minute})
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	autodiscover.SetNow(c, func() time.Time { return now })
	_, err := c.Lookup(ctx(t), "ttl@contoso.test", autodiscover.EWS)
	require.NoError(t, err)
	now = now.Add(59 * time.Second)
	res, err := c.Lookup(ctx(t), "ttl@contoso.test", autodiscover.EWS)
	require.NoError(t, err)
	assert.True(t, res.Cached)
	now = now.Add(time.Second)
	res, err = c.Lookup(ctx(t), "ttl@contoso.test", autodiscover.EWS)
	require.NoError(t, err)
	assert.False(t, res.Cached, "expired after the TTL")
	assert.Len(t, srv.Requests(), 2)
}

// A v2 redirect to another Microsoft cloud is refused with a hint naming it.
func TestOtherCloudHint(t *testing.T) {
	t.Parallel()
	srv := startServer(t, autodtest.Options{Hosts: []autodtest.Host{
		{Name: "outlook.cloud.test", V2: true, HTTPSRedirect: "https://outlook.office365.us/autodiscover/autodiscover.json/v1.0/gov@contoso.test?Protocol=EWS"},
	}})
	c := newClient(t, srv, autodiscover.Options{Methods: []autodiscover.Method{autodiscover.MethodV2}})
	_, err := c.Lookup(ctx(t), "gov@contoso.test", autodiscover.EWS)
	var re *autodiscover.RedirectError
	require.ErrorAs(t, err, &re)
	assert.ErrorIs(t, re, autodiscover.ErrHostNotAllowed)
	assert.Contains(t, re.Error(), "usgov cloud")
	for _, d := range srv.Dials() {
		assert.NotContains(t, d, "office365.us")
	}
}

// A caller that gives up leaves at once; the shared flight goes on for
// the others.
func TestCallerLeavesOnOwnContext(t *testing.T) {
	t.Parallel()
	srv := startServer(t, autodtest.Options{Hosts: []autodtest.Host{
		{Name: "outlook.cloud.test", V2: true, Latency: time.Second, Mailboxes: map[string]autodtest.Mailbox{"*": {EWSURL: cloudEWS}}},
	}})
	c := newClient(t, srv, autodiscover.Options{})
	done := make(chan error, 1)
	go func() {
		res, err := c.Lookup(ctx(t), "gone@contoso.test", autodiscover.EWS)
		if err == nil && res.URL != cloudEWS {
			err = errors.New("wrong URL " + res.URL)
		}
		done <- err
	}()
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Lookup(short, "gone@contoso.test", autodiscover.EWS)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 700*time.Millisecond, "left on its own deadline")
	require.NoError(t, <-done, "the other caller still gets the answer")
	assert.Len(t, srv.Requests(), 1)
}

// A token the server keeps refusing: one invalidation, one retry, never more.
func TestBearerRefusedRetriesOnce(t *testing.T) {
	t.Parallel()
	src := &countingSource{token: "tok-SECRET-1"}
	srv := startServer(t, autodtest.Options{
		Verify: func(string) error { return errors.New("revoked") },
		Hosts: []autodtest.Host{
			{Name: "contoso.test", POX: true, RequireBearer: true, Mailboxes: map[string]autodtest.Mailbox{"*": {EWSURL: onpremEWS}}},
		}})
	c := newClient(t, srv, autodiscover.Options{Token: src, AllowedDomains: []string{"contoso.test"}, Methods: []autodiscover.Method{autodiscover.MethodPOX}})
	_, err := c.Lookup(ctx(t), "nina@contoso.test", autodiscover.EWS)
	var he *autodiscover.HTTPError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, 401, he.StatusCode)
	assert.Contains(t, he.Hint, "token was refused")
	n := 0
	for _, r := range srv.Requests() {
		if r.Host == "contoso.test" {
			n++
		}
	}
	assert.Equal(t, 3, n, "anonymous, with token, with a fresh token")
	assert.EqualValues(t, 1, src.invalidated.Load())
	assert.EqualValues(t, 2, src.calls.Load())
	assert.NotContains(t, err.Error(), "tok-SECRET")
}

// The domain of the address may be asked, but an endpoint there that wants
// a token gets none unless the caller named the domain.
func TestTokenNotSentToOwnDomainByDefault(t *testing.T) {
	t.Parallel()
	src := &countingSource{token: "tok"}
	srv := startServer(t, autodtest.Options{Hosts: []autodtest.Host{
		{Name: "contoso.tset", POX: true, RequireBearer: true, Mailboxes: map[string]autodtest.Mailbox{"*": {EWSURL: "https://contoso.tset/EWS/Exchange.asmx"}}},
	}})
	c := newClient(t, srv, autodiscover.Options{Token: src, Methods: []autodiscover.Method{autodiscover.MethodPOX}})
	_, err := c.Lookup(ctx(t), "typo@contoso.tset", autodiscover.EWS)
	var te *autodiscover.TokenNotAllowedError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, "contoso.tset", te.Host)
	assert.Contains(t, err.Error(), "AllowedDomains")
	assert.EqualValues(t, 0, src.calls.Load(), "no token was even fetched")
	for _, r := range srv.Requests() {
		assert.Empty(t, r.Token)
	}
}

// A web site on the bare domain that redirects everything to its home page
// costs no redirect budget and does not stop the candidate list; a probe
// that points at a candidate already tried is not a loop.
func TestWebsiteRedirectSkipped(t *testing.T) {
	t.Parallel()
	srv := startServer(t, autodtest.Options{Hosts: []autodtest.Host{
		{Name: "contoso.test", HTTPSRedirect: "https://www.contoso.test/"},
		{Name: "autodiscover.contoso.test", POX: true, ProbeRedirect: "https://autodiscover.contoso.test/autodiscover/autodiscover.xml",
			Mailboxes: map[string]autodtest.Mailbox{"web@contoso.test": {EWSURL: onpremEWS}}},
	}})
	c := newClient(t, srv, autodiscover.Options{Methods: []autodiscover.Method{autodiscover.MethodPOX}})
	res, err := c.Lookup(ctx(t), "web@contoso.test", autodiscover.EWS)
	require.NoError(t, err)
	assert.Equal(t, onpremEWS, res.URL)
	assert.Equal(t, 0, res.Redirects)
	for _, r := range srv.Requests() {
		assert.NotEqual(t, "www.contoso.test", r.Host)
	}

	_, err = c.Lookup(ctx(t), "missing@contoso.test", autodiscover.EWS)
	require.Error(t, err)
	assert.NotErrorIs(t, err, autodiscover.ErrRedirectLoop, "the probe's target was simply tried already")
	assert.ErrorIs(t, err, autodiscover.ErrNotFound)
}

// CheckRedirect sees each redirect and SRV target before anything is sent
// there, and can refuse it.
func TestCheckRedirect(t *testing.T) {
	t.Parallel()
	srv := startServer(t, autodtest.Options{
		SRV: map[string][]*net.SRV{"_autodiscover._tcp.contoso.test": {{Target: "srv.contoso.test.", Port: 443}}},
		Hosts: []autodtest.Host{
			{Name: "contoso.test", POX: true, Mailboxes: map[string]autodtest.Mailbox{"*": {RedirectURL: "https://mail.contoso.test/autodiscover/autodiscover.xml"}}},
			{Name: "mail.contoso.test", POX: true, Mailboxes: map[string]autodtest.Mailbox{"*": {EWSURL: onpremEWS}}},
			{Name: "srv.contoso.test", POX: true, Mailboxes: map[string]autodtest.Mailbox{"*": {EWSURL: onpremEWS}}},
		}})
	var asked []string
	refuse := errors.New("user said no")
	c := newClient(t, srv, autodiscover.Options{Methods: []autodiscover.Method{autodiscover.MethodPOX},
		CheckRedirect: func(from, to string) error {
			asked = append(asked, from+" -> "+to)
			return refuse
		}})
	_, err := c.Lookup(ctx(t), "quinn@contoso.test", autodiscover.EWS)
	require.ErrorIs(t, err, refuse)
	var re *autodiscover.RedirectError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, []string{
		"https://contoso.test/autodiscover/autodiscover.xml -> https://mail.contoso.test/autodiscover/autodiscover.xml",
		"_autodiscover._tcp.contoso.test -> https://srv.contoso.test/autodiscover/autodiscover.xml",
	}, asked)
	for _, r := range srv.Requests() {
		assert.NotEqual(t, "mail.contoso.test", r.Host)
		assert.NotEqual(t, "srv.contoso.test", r.Host)
	}
}

type valueSource struct{ tok string }

func (v valueSource) Token() (*oauth2.Token, error) { return &oauth2.Token{AccessToken: v.tok}, nil }

func TestNoTokenInFormatting(t *testing.T) {
	t.Parallel()
	opts := autodiscover.Options{Cloud: testCloud, Token: valueSource{tok: "SECRET-TOKEN-VALUE"}, AllowedDomains: []string{"contoso.test"}}
	c, err := autodiscover.New(&opts)
	require.NoError(t, err)
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "opts", opts, "client", c)
	for _, s := range []string{fmt.Sprintf("%v %+v %#v %s", opts, opts, opts, opts), fmt.Sprintf("%v %+v %#v %s", c, c, c, c), logged.String()} {
		assert.NotContains(t, s, "SECRET-TOKEN-VALUE")
		assert.Contains(t, s, "redacted")
	}
}

// Hybrid: the on-premises service sends a migrated mailbox to its cloud
// routing address; v2 on the cloud host knows it. The routing domain
// itself is never asked, since nobody named it.
func TestHybridRedirectAddrToCloud(t *testing.T) {
	t.Parallel()
	srv := startServer(t, autodtest.Options{Hosts: []autodtest.Host{
		{Name: "outlook.cloud.test", V2: true, Mailboxes: map[string]autodtest.Mailbox{
			"rita@contoso.mail.onmicrosoft.test": {EWSURL: cloudEWS}}},
		{Name: "autodiscover.contoso.test", POX: true, SOAP: true, Mailboxes: map[string]autodtest.Mailbox{
			"rita@contoso.test": {RedirectAddr: "rita@contoso.mail.onmicrosoft.test"}}},
		{Name: "contoso.mail.onmicrosoft.test", POX: true, Mailboxes: map[string]autodtest.Mailbox{"*": {EWSURL: "https://contoso.mail.onmicrosoft.test/EWS/Exchange.asmx"}}},
	}})
	c := newClient(t, srv, autodiscover.Options{})
	res, err := c.Lookup(ctx(t), "rita@contoso.test", autodiscover.EWS)
	require.NoError(t, err)
	assert.Equal(t, cloudEWS, res.URL)
	assert.Equal(t, "rita@contoso.mail.onmicrosoft.test", res.Email)
	assert.Equal(t, autodiscover.MethodV2, res.Method)
	for _, r := range srv.Requests() {
		assert.NotEqual(t, "contoso.mail.onmicrosoft.test", r.Host)
	}
}

// A URL on the address's own domain is found, but the result says the token may not go
// there unless the caller named the domain: README hands res.URL to ews/eas only then.
func TestResultSaysWhetherTokenMayGo(t *testing.T) {
	t.Parallel()
	hosts := []autodtest.Host{
		{Name: "outlook.cloud.test", V2: true},
		{Name: "contoso.test", Status: 404},
		{Name: "autodiscover.contoso.test", POX: true, SOAP: true, Mailboxes: map[string]autodtest.Mailbox{
			"bob@contoso.test": {EWSURL: onpremEWS, EASURL: onpremEAS}}},
	}
	srv := startServer(t, autodtest.Options{Hosts: hosts})
	res, err := newClient(t, srv, autodiscover.Options{}).Lookup(ctx(t), "bob@contoso.test", autodiscover.EWS)
	require.NoError(t, err)
	assert.Equal(t, onpremEWS, res.URL)
	assert.False(t, res.TokenAllowed, "nobody allowed contoso.test to receive an Exchange Online token")

	c := newClient(t, srv, autodiscover.Options{AllowedDomains: []string{"contoso.test"}})
	res, err = c.Lookup(ctx(t), "bob@contoso.test", autodiscover.EWS)
	require.NoError(t, err)
	assert.True(t, res.TokenAllowed)
	res, err = c.Lookup(ctx(t), "bob@contoso.test", autodiscover.EWS)
	require.NoError(t, err)
	assert.True(t, res.Cached)
	assert.True(t, res.TokenAllowed, "cached results carry the policy too")
}

type replacedTransport struct{}

func (replacedTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("not used")
}

// A program that replaced http.DefaultTransport (with a tracing wrapper, say) can still
// create a client: New used to panic on the type assertion.
func TestNewWithReplacedDefaultTransport(t *testing.T) {
	old := http.DefaultTransport
	http.DefaultTransport = replacedTransport{}
	defer func() { http.DefaultTransport = old }()
	c, err := autodiscover.New(nil)
	require.NoError(t, err)
	require.NotNil(t, c)
}
