// Package autodtest is an in-process Autodiscover service for tests,
// benchmarks and the quickstart: one TLS listener and one plain-http
// listener on 127.0.0.1 that answer for any number of host names (chosen
// by the Host header), in the formats Microsoft documents — Autodiscover v2
// JSON, POX in the Outlook and MobileSync schemas, and SOAP
// GetUserSettings — with knobs for redirects, loops, plain http, outside
// hosts and bearer authentication.
//
// Clients reach the host names through [Server.DialContext], which maps
// "name:443" to the TLS listener and "name:80" to the http listener and
// records every dial, also of names the server does not serve (those
// fail). [Server.LookupSRV] answers SRV queries from [Options.SRV].
//
// Playing Exchange Online for a client of package autodiscover:
//
//	srv, _ := autodtest.New(autodtest.Options{
//		Verify: func(tok string) error { _, err := idp.Verify(tok); return err }, // a *fakeidp.IdP
//		Hosts: []autodtest.Host{{Name: "outlook.office365.com", V2: true, POX: true, RequireBearer: true,
//			Mailboxes: map[string]autodtest.Mailbox{"*": {EWSURL: ewsURL, EASURL: easURL}}}},
//	})
//	c, _ := autodiscover.New(&autodiscover.Options{DialContext: srv.DialContext,
//		TLSConfig: srv.ClientTLSConfig(), Resolver: srv})
//
// A program that cannot take a dialer (examples/autodiscover) is pointed
// at it with -connect-to outlook.office365.com:443:<TLSAddr> and -ca-file
// holding CA().CertPEM().
//
// The answers follow the samples in Microsoft's documentation ([MS-OXDSCLI],
// [MS-ASCMD] 4.2.4, the POX and SOAP reference pages) and the Exchange Online
// v2 capture in the research notes: an address Exchange Online does not host
// gets a 302 to the query-string form and then {"Protocol":"Autodiscoverv1",...};
// an unknown address gets POX error 500 or SOAP InvalidUser; a malformed POX
// request gets error 600, a wrong AcceptableResponseSchema 601.
package autodtest

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/modernauth/mailauth/internal/fake/testpki"
)

// Mailbox says how a host answers for one address. Exactly one of the
// fields that decide the answer is normally set; with none set the host
// answers "unknown user".
type Mailbox struct {
	EWSURL string // settings: the EWS URL (Outlook schema EXPR+EXCH, SOAP ExternalEwsUrl, v2 Protocol=EWS)
	EASURL string // settings: the ActiveSync URL (MobileSync schema, v2 Protocol=ActiveSync)
	// RedirectAddr answers redirectAddr (POX Outlook), Action/Redirect
	// (POX MobileSync) or RedirectAddress (SOAP).
	RedirectAddr string
	// RedirectURL answers redirectUrl (POX Outlook) or RedirectUrl (SOAP);
	// MobileSync has no such element, so there it is an HTTP 302.
	RedirectURL string
	// ErrorCode answers a POX Error (e.g. "500", "600") or a SOAP
	// UserResponse ErrorCode (e.g. "InvalidUser", "ServerBusy").
	ErrorCode string
}

// Host configures one host name the server answers for.
type Host struct {
	Name string // e.g. "autodiscover.contoso.test"
	// V2 makes the host answer Autodiscover v2 JSON, as outlook.office365.com does.
	V2 bool
	// POX and SOAP make the host answer /autodiscover/autodiscover.xml
	// and /autodiscover/autodiscover.svc; otherwise they are 404.
	POX, SOAP bool
	// RequireBearer makes POX and SOAP answer 401 with
	// "WWW-Authenticate: Bearer" unless the request carries a bearer
	// token that Options.Verify accepts.
	RequireBearer bool
	// Status, if non-zero, is the status of every https request (e.g.
	// 404, 500, 503).
	Status int
	// Latency delays every https answer (cut short when the client
	// goes away).
	Latency time.Duration
	// HTTPSRedirect, if set, answers every https request with a 302 to it.
	HTTPSRedirect string
	// ProbeRedirect, if set, answers the plain-http GET of
	// /autodiscover/autodiscover.xml with a 302 to it; otherwise the http
	// listener answers 404 for this host.
	ProbeRedirect string
	// Mailboxes maps a lower-case address to its answer; the key "*"
	// answers for any address not listed.
	Mailboxes map[string]Mailbox
}

// Options configures a [Server].
type Options struct {
	// CA issues the server certificate; nil means a new one.
	CA *testpki.CA
	// Hosts are the names served; the certificate covers all of them.
	Hosts []Host
	// Verify checks a bearer token for hosts with RequireBearer; nil
	// accepts any non-empty token.
	Verify func(token string) error
	// SRV maps a query name ("_autodiscover._tcp.contoso.test") to records.
	SRV map[string][]*net.SRV
}

// Request is one request the server received.
type Request struct {
	Scheme, Host, Method, Path, RawQuery string
	Token                                string // the bearer token, or ""
	AnchorMailbox                        string // X-AnchorMailbox
	Body                                 string
}

// Server is the running fake. It is safe for concurrent use.
type Server struct {
	ca     *testpki.CA
	verify func(string) error
	hosts  map[string]*Host
	srv    map[string][]*net.SRV

	tlsLn, httpLn   net.Listener
	tlsSrv, httpSrv *http.Server

	mu       sync.Mutex // guards requests, dials
	requests []Request
	dials    []string
}

// New starts the server on two 127.0.0.1 ports.
func New(opts Options) (*Server, error) {
	s := &Server{ca: opts.CA, verify: opts.Verify, hosts: map[string]*Host{}, srv: map[string][]*net.SRV{}}
	if s.ca == nil {
		ca, err := testpki.New()
		if err != nil {
			return nil, err
		}
		s.ca = ca
	}
	names := []string{"localhost", "127.0.0.1"}
	for i := range opts.Hosts {
		h := opts.Hosts[i]
		h.Name = strings.ToLower(h.Name)
		if h.Name == "" {
			return nil, errors.New("autodtest: a Host has no Name")
		}
		mb := map[string]Mailbox{}
		for k, v := range h.Mailboxes {
			mb[strings.ToLower(k)] = v
		}
		h.Mailboxes = mb
		s.hosts[h.Name] = &h
		names = append(names, h.Name)
	}
	for k, v := range opts.SRV {
		s.srv[strings.ToLower(strings.TrimSuffix(k, "."))] = v
	}
	var err error
	if s.tlsLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, err
	}
	if s.httpLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		s.tlsLn.Close()
		return nil, err
	}
	s.tlsSrv = &http.Server{Handler: http.HandlerFunc(s.serveHTTPS), TLSConfig: s.ca.ServerConfig(names...)}
	s.httpSrv = &http.Server{Handler: http.HandlerFunc(s.serveHTTP)}
	go s.tlsSrv.ServeTLS(s.tlsLn, "", "")
	go s.httpSrv.Serve(s.httpLn)
	return s, nil
}

// Close stops both listeners.
func (s *Server) Close() {
	s.tlsSrv.Close()
	s.httpSrv.Close()
}

// CA returns the CA that issued the server certificate.
func (s *Server) CA() *testpki.CA { return s.ca }

// TLSAddr returns the address of the https listener.
func (s *Server) TLSAddr() string { return s.tlsLn.Addr().String() }

// HTTPAddr returns the address of the plain-http listener.
func (s *Server) HTTPAddr() string { return s.httpLn.Addr().String() }

// ClientTLSConfig returns a TLS config that trusts the server.
func (s *Server) ClientTLSConfig() *tls.Config { return s.ca.ClientConfig() }

// DialContext records addr and connects a served "name:443" to the TLS
// listener and "name:80" to the http listener. Any other address fails
// without leaving the machine.
func (s *Server) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	s.mu.Lock()
	s.dials = append(s.dials, addr)
	s.mu.Unlock()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var target string
	if _, ok := s.hosts[strings.ToLower(host)]; ok {
		switch port {
		case "443":
			target = s.TLSAddr()
		case "80":
			target = s.HTTPAddr()
		}
	}
	if target == "" {
		return nil, &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf("autodtest: no server for %s", addr)}
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", target)
}

// LookupSRV answers from Options.SRV; it has the signature of
// [net.Resolver.LookupSRV].
func (s *Server) LookupSRV(_ context.Context, service, proto, name string) (string, []*net.SRV, error) {
	q := "_" + service + "._" + proto + "." + strings.ToLower(strings.TrimSuffix(name, "."))
	recs, ok := s.srv[q]
	if !ok {
		return "", nil, &net.DNSError{Err: "no such host", Name: q, IsNotFound: true}
	}
	out := make([]*net.SRV, len(recs))
	for i, r := range recs {
		c := *r
		out[i] = &c
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Priority < out[j].Priority })
	return q + ".", out, nil
}

// Dials returns every address dialled through DialContext, in order.
func (s *Server) Dials() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.dials...)
}

// Requests returns every request received, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Reset forgets the recorded dials and requests.
func (s *Server) Reset() {
	s.mu.Lock()
	s.requests, s.dials = nil, nil
	s.mu.Unlock()
}

func (s *Server) note(r *http.Request, scheme string, body []byte) {
	rec := Request{Scheme: scheme, Host: strings.ToLower(hostOnly(r.Host)), Method: r.Method, Path: r.URL.Path,
		RawQuery: r.URL.RawQuery, AnchorMailbox: r.Header.Get("X-AnchorMailbox"), Body: string(body)}
	if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		rec.Token = a[7:]
	}
	s.mu.Lock()
	s.requests = append(s.requests, rec)
	s.mu.Unlock()
}

func hostOnly(hp string) string {
	if h, _, err := net.SplitHostPort(hp); err == nil {
		return h
	}
	return hp
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.note(r, "http", nil)
	h := s.hosts[strings.ToLower(hostOnly(r.Host))]
	if h == nil || h.ProbeRedirect == "" || r.Method != http.MethodGet ||
		!strings.EqualFold(r.URL.Path, "/autodiscover/autodiscover.xml") {
		http.NotFound(w, r)
		return
	}
	http.Redirect(w, r, h.ProbeRedirect, http.StatusFound)
}

func (s *Server) serveHTTPS(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	s.note(r, "https", body)
	h := s.hosts[strings.ToLower(hostOnly(r.Host))]
	if h == nil {
		http.Error(w, "unknown host", http.StatusMisdirectedRequest)
		return
	}
	if h.Latency > 0 {
		select {
		case <-time.After(h.Latency):
		case <-r.Context().Done():
			return
		}
	}
	if h.Status != 0 {
		http.Error(w, http.StatusText(h.Status), h.Status)
		return
	}
	if h.HTTPSRedirect != "" {
		http.Redirect(w, r, h.HTTPSRedirect, http.StatusFound)
		return
	}
	path := strings.ToLower(r.URL.Path)
	switch {
	case h.V2 && strings.HasPrefix(path, "/autodiscover/autodiscover.json"):
		s.serveV2(w, r, h)
	case h.POX && path == "/autodiscover/autodiscover.xml" && r.Method == http.MethodPost:
		if s.authorized(w, r, h) {
			s.servePOX(w, r, h, body)
		}
	case h.SOAP && path == "/autodiscover/autodiscover.svc" && r.Method == http.MethodPost:
		if s.authorized(w, r, h) {
			s.serveSOAP(w, r, h, body)
		}
	default:
		http.NotFound(w, r)
	}
}

func (s *Server) authorized(w http.ResponseWriter, r *http.Request, h *Host) bool {
	if !h.RequireBearer {
		return true
	}
	a := r.Header.Get("Authorization")
	if len(a) > 7 && strings.EqualFold(a[:7], "bearer ") && a[7:] != "" {
		if s.verify == nil || s.verify(a[7:]) == nil {
			return true
		}
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	} else {
		// Exchange offers Bearer next to its other schemes; the
		// authorization_uri lets on-premises clients find the authority.
		w.Header().Add("WWW-Authenticate", `Bearer client_id="00000002-0000-0ff1-ce00-000000000000", trusted_issuers="00000001-0000-0000-c000-000000000000@*", token_types="app_asserted_user_v1 service_asserted_app_v1", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize"`)
		w.Header().Add("WWW-Authenticate", `Basic realm="`+h.Name+`"`)
	}
	http.Error(w, "401 - Unauthorized", http.StatusUnauthorized)
	return false
}

func (h *Host) mailbox(addr string) (Mailbox, bool) {
	if m, ok := h.Mailboxes[strings.ToLower(addr)]; ok {
		return m, true
	}
	m, ok := h.Mailboxes["*"]
	return m, ok
}

// serveV2 answers both v2 forms: /autodiscover/autodiscover.json/v1.0/{addr}?Protocol=P
// and /autodiscover/autodiscover.json?Email=addr&Protocol=P&RedirectCount=N.
func (s *Server) serveV2(w http.ResponseWriter, r *http.Request, h *Host) {
	q := r.URL.Query()
	proto := q.Get("Protocol")
	var addr string
	const prefix = "/autodiscover/autodiscover.json/v1.0/"
	if p := r.URL.Path; len(p) > len(prefix) && strings.EqualFold(p[:len(prefix)], prefix) {
		addr = p[len(prefix):]
	} else {
		addr = q.Get("Email")
	}
	m, known := h.mailbox(addr)
	var u string
	switch {
	case strings.EqualFold(proto, "EWS"):
		u = m.EWSURL
	case strings.EqualFold(proto, "ActiveSync"):
		u = m.EASURL
	}
	if known && u != "" {
		writeJSON(w, map[string]string{"Protocol": proto, "Url": u})
		return
	}
	if q.Get("RedirectCount") == "" {
		// Exchange Online sends an address it does not host to the
		// query-string form, asking for Autodiscoverv1.
		loc := "https://" + h.Name + "/autodiscover/autodiscover.json?Email=" + url.QueryEscape(addr) +
			"&Protocol=Autodiscoverv1&RedirectCount=1"
		http.Redirect(w, r, loc, http.StatusFound)
		return
	}
	writeJSON(w, map[string]string{"Protocol": "Autodiscoverv1", "Url": "https://" + h.Name + "/autodiscover/autodiscover.xml"})
}

func writeJSON(w http.ResponseWriter, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Write(b)
}

const (
	nsResponse        = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
	nsOutlookRequest  = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
	nsOutlookResponse = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
	nsMobileRequest   = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/requestschema/2006"
	nsMobileResponse  = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006"
	nsSOAP            = "http://schemas.microsoft.com/exchange/2010/Autodiscover"
)

type poxRequest struct {
	XMLName xml.Name `xml:"Autodiscover"`
	Request []struct {
		EMailAddress             string `xml:"EMailAddress"`
		AcceptableResponseSchema string `xml:"AcceptableResponseSchema"`
	} `xml:"Request"`
}

func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

func writeXML(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	io.WriteString(w, `<?xml version="1.0" encoding="utf-8"?>`+"\n"+body)
}

func poxError(code, msg string) string {
	return `<Autodiscover xmlns="` + nsResponse + `">
  <Response>
    <Error Time="12:00:00.0000000" Id="2477272013">
      <ErrorCode>` + esc(code) + `</ErrorCode>
      <Message>` + esc(msg) + `</Message>
      <DebugData />
    </Error>
  </Response>
</Autodiscover>
`
}

func (s *Server) servePOX(w http.ResponseWriter, r *http.Request, h *Host, body []byte) {
	var req poxRequest
	err := xml.Unmarshal(body, &req)
	// [MS-ASCMD] / the POX docs: one Request element; a known schema pair.
	if err != nil || len(req.Request) != 1 || req.XMLName.Space != nsOutlookRequest && req.XMLName.Space != nsMobileRequest {
		writeXML(w, poxError("600", "Invalid Request"))
		return
	}
	mobile := req.XMLName.Space == nsMobileRequest
	want := nsOutlookResponse
	if mobile {
		want = nsMobileResponse
	}
	if strings.TrimSpace(req.Request[0].AcceptableResponseSchema) != want {
		writeXML(w, poxError("601", "Provider is not available"))
		return
	}
	addr := strings.TrimSpace(req.Request[0].EMailAddress)
	m, ok := h.mailbox(addr)
	switch {
	case !ok:
		writeXML(w, poxError("500", "The e-mail address cannot be found."))
	case m.ErrorCode != "":
		writeXML(w, poxError(m.ErrorCode, "Error "+m.ErrorCode))
	case mobile && m.RedirectURL != "":
		http.Redirect(w, r, m.RedirectURL, http.StatusFound)
	case mobile:
		writeXML(w, mobileAnswer(addr, m))
	default:
		writeXML(w, outlookAnswer(addr, m))
	}
}

func mobileAnswer(addr string, m Mailbox) string {
	var action string
	switch {
	case m.RedirectAddr != "":
		action = "      <Redirect>" + esc(m.RedirectAddr) + "</Redirect>\n"
	case m.EASURL != "":
		action = `      <Settings>
        <Server>
          <Type>MobileSync</Type>
          <Url>` + esc(m.EASURL) + `</Url>
          <Name>` + esc(m.EASURL) + `</Name>
        </Server>
      </Settings>
`
	default:
		action = `      <Error>
        <Status>1</Status>
        <Message>The directory service could not be reached</Message>
        <DebugData>MailUser</DebugData>
      </Error>
`
	}
	return `<Autodiscover xmlns="` + nsResponse + `">
  <Response xmlns="` + nsMobileResponse + `">
    <Culture>en:us</Culture>
    <User>
      <DisplayName>` + esc(addr) + `</DisplayName>
      <EMailAddress>` + esc(addr) + `</EMailAddress>
    </User>
    <Action>
` + action + `    </Action>
  </Response>
</Autodiscover>
`
}

func outlookAnswer(addr string, m Mailbox) string {
	var account string
	switch {
	case m.RedirectAddr != "":
		account = "      <Action>redirectAddr</Action>\n      <RedirectAddr>" + esc(m.RedirectAddr) + "</RedirectAddr>\n"
	case m.RedirectURL != "":
		account = "      <Action>redirectUrl</Action>\n      <RedirectURL>" + esc(m.RedirectURL) + "</RedirectURL>\n"
	default:
		account = "      <AccountType>email</AccountType>\n      <Action>settings</Action>\n"
		if m.EWSURL != "" {
			for _, t := range []string{"EXCH", "EXPR"} {
				account += "      <Protocol>\n        <Type>" + t + "</Type>\n        <EwsUrl>" + esc(m.EWSURL) + "</EwsUrl>\n      </Protocol>\n"
			}
		}
	}
	return `<Autodiscover xmlns="` + nsResponse + `">
  <Response xmlns="` + nsOutlookResponse + `">
    <User>
      <AutoDiscoverSMTPAddress>` + esc(addr) + `</AutoDiscoverSMTPAddress>
    </User>
    <Account>
` + account + `    </Account>
  </Response>
</Autodiscover>
`
}

type soapRequest struct {
	XMLName xml.Name `xml:"http://schemas.xmlsoap.org/soap/envelope/ Envelope"`
	Body    struct {
		Message struct {
			Request struct {
				Users []struct {
					Mailbox string `xml:"http://schemas.microsoft.com/exchange/2010/Autodiscover Mailbox"`
				} `xml:"http://schemas.microsoft.com/exchange/2010/Autodiscover Users>User"`
				Settings []string `xml:"http://schemas.microsoft.com/exchange/2010/Autodiscover RequestedSettings>Setting"`
			} `xml:"http://schemas.microsoft.com/exchange/2010/Autodiscover Request"`
		} `xml:"http://schemas.microsoft.com/exchange/2010/Autodiscover GetUserSettingsRequestMessage"`
	} `xml:"http://schemas.xmlsoap.org/soap/envelope/ Body"`
}

func (s *Server) serveSOAP(w http.ResponseWriter, r *http.Request, h *Host, body []byte) {
	var req soapRequest
	if err := xml.Unmarshal(body, &req); err != nil || len(req.Body.Message.Request.Users) != 1 {
		w.WriteHeader(http.StatusInternalServerError)
		writeXML(w, `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring xml:lang="en-US">The request is not a valid GetUserSettings request.</faultstring></s:Fault></s:Body></s:Envelope>`)
		return
	}
	addr := strings.TrimSpace(req.Body.Message.Request.Users[0].Mailbox)
	m, ok := h.mailbox(addr)
	code, msg, target := "NoError", "No error.", ""
	var settings []string
	switch {
	case !ok:
		code, msg = "InvalidUser", "Invalid user: '"+addr+"'"
	case m.ErrorCode != "":
		code, msg = m.ErrorCode, "Error "+m.ErrorCode
	case m.RedirectAddr != "":
		code, msg, target = "RedirectAddress", "Redirection address.", m.RedirectAddr
	case m.RedirectURL != "":
		code, msg, target = "RedirectUrl", "Redirection URL.", m.RedirectURL
	default:
		for _, name := range req.Body.Message.Request.Settings {
			var v string
			switch name {
			case "AutoDiscoverSMTPAddress":
				v = addr
			case "ExternalEwsUrl", "InternalEwsUrl":
				v = m.EWSURL
			}
			if v != "" {
				settings = append(settings, `          <UserSetting i:type="StringSetting">
            <Name>`+esc(name)+`</Name>
            <Value>`+esc(v)+`</Value>
          </UserSetting>
`)
			}
		}
	}
	targetXML := `<RedirectTarget i:nil="true" />`
	if target != "" {
		targetXML = "<RedirectTarget>" + esc(target) + "</RedirectTarget>"
	}
	writeXML(w, `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:a="http://www.w3.org/2005/08/addressing">
  <s:Header>
    <a:Action s:mustUnderstand="1">`+nsSOAP+`/Autodiscover/GetUserSettingsResponse</a:Action>
    <h:ServerVersionInfo xmlns:h="`+nsSOAP+`" xmlns:i="http://www.w3.org/2001/XMLSchema-instance">
      <h:MajorVersion>15</h:MajorVersion>
      <h:MinorVersion>20</h:MinorVersion>
      <h:MajorBuildNumber>8606</h:MajorBuildNumber>
      <h:MinorBuildNumber>0</h:MinorBuildNumber>
      <h:Version>Exchange2015</h:Version>
    </h:ServerVersionInfo>
  </s:Header>
  <s:Body>
    <GetUserSettingsResponseMessage xmlns="`+nsSOAP+`">
      <Response xmlns:i="http://www.w3.org/2001/XMLSchema-instance">
        <ErrorCode>NoError</ErrorCode>
        <ErrorMessage />
        <UserResponses>
          <UserResponse>
            <ErrorCode>`+esc(code)+`</ErrorCode>
            <ErrorMessage>`+esc(msg)+`</ErrorMessage>
            `+targetXML+`
            <UserSettingErrors />
            <UserSettings>
`+strings.Join(settings, "")+`            </UserSettings>
          </UserResponse>
        </UserResponses>
      </Response>
    </GetUserSettingsResponseMessage>
  </s:Body>
</s:Envelope>
`)
}
