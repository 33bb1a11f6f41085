// Package ewstest is an in-process Exchange Web Services server for tests,
// benchmarks and the quickstart. It listens on 127.0.0.1 over TLS (a
// certificate from internal/fake/testpki), validates bearer tokens with a
// caller-supplied function (normally (*fakeidp.IdP).Verify), and answers
// GetFolder, FindFolder, FindItem, GetItem, CreateItem, SyncFolderItems,
// MoveItem, DeleteItem and UpdateItem with the XML shapes of the examples
// in Microsoft's EWS reference documentation.
//
// It behaves like Exchange where clients get it wrong:
//
//   - app-only tokens (roles, no scp) must carry the ExchangeImpersonation
//     SOAP header, else a fault "ExchangeImpersonation SOAP header must be
//     present for this type of OAuth token."; delegated tokens must not;
//   - impersonating an unknown address is a fault ErrorNonExistentMailbox;
//   - knobs reproduce ErrorServerBusy with BackOffMilliseconds, a 401 on the
//     next requests, denied impersonation and a FindItem page limit
//     (EWSFindCountLimit).
//
// Every request is recorded (operation, X-AnchorMailbox, impersonated
// address, cookies) for assertions.
package ewstest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/internal/fake/testpki"
)

// Path is the EWS endpoint path the server answers on.
const Path = "/EWS/Exchange.asmx"

// Options configures a [Server].
type Options struct {
	// Verify validates a bearer token and returns its claims. Required;
	// normally (*fakeidp.IdP).Verify.
	Verify func(token string) (*fakeidp.Claims, error)

	// TLS is the server's TLS configuration. Nil means a fresh in-memory CA
	// (see [Server.CA]) with a leaf for 127.0.0.1 and localhost.
	TLS *tls.Config

	// Audiences are the accepted aud claims. Empty means
	// "https://outlook.office365.com" and Exchange's application id
	// "00000002-0000-0ff1-ce00-000000000000".
	Audiences []string

	// Mailboxes are the SMTP addresses that exist. Each gets the folders
	// msgfolderroot, inbox (with a subfolder "Projects"), drafts,
	// sentitems, deleteditems and junkemail, and Items messages in its
	// inbox. More can be added with [Server.AddMailbox].
	Mailboxes []string

	// Items is the number of messages seeded in each inbox. Zero means 25;
	// negative means none.
	Items int

	// FindCountLimit caps the items of one FindItem page, like Exchange's
	// EWSFindCountLimit. Zero means 1000.
	FindCountLimit int
}

// Request is what the server recorded about one request.
type Request struct {
	Op            string // "FindItem", ...; "" when the body was not parsed
	AnchorMailbox string // X-AnchorMailbox
	Impersonated  string // the ExchangeImpersonation address, if any
	ServerVersion string // RequestServerVersion Version
	AppOnly       bool   // the token was an app-only token
	Affinity      bool   // X-PreferServerAffinity: true
	BackEndCookie string // the X-BackEndOverrideCookie cookie sent, if any
	Status        int    // HTTP status of the answer
}

// SentMail is a message sent with CreateItem.
type SentMail struct {
	From        string // the mailbox that sent it
	Disposition string // SendAndSaveCopy, SendOnly or SaveOnly
	Subject     string
	Body        string
	To, Cc, Bcc []string
	MIME        []byte
}

// Server is a running EWS server. Its methods are safe for concurrent use.
type Server struct {
	srv       *httptest.Server
	ca        *testpki.CA
	verify    func(string) (*fakeidp.Claims, error)
	audiences []string
	seedItems int
	findLimit int

	mu           sync.Mutex
	mailboxes    map[string]*mailbox // by lower-case address
	requests     []Request
	sent         []SentMail
	busy         int           // guarded by mu: next requests answered ErrorServerBusy
	busyBackOff  time.Duration // guarded by mu
	unauthorized int           // guarded by mu: next requests answered 401
	denyImp      bool          // guarded by mu
	throttle     int           // guarded by mu: next requests answered throttleCode
	throttleCode int           // guarded by mu: 429 or 503
	retryAfter   time.Duration // guarded by mu: Retry-After of throttled answers
	nextID       int           // guarded by mu
}

// New starts a Server on 127.0.0.1.
func New(opts Options) (*Server, error) {
	if opts.Verify == nil {
		return nil, errors.New("ewstest: Options.Verify must be set")
	}
	s := &Server{
		verify:    opts.Verify,
		audiences: opts.Audiences,
		seedItems: opts.Items,
		findLimit: opts.FindCountLimit,
		mailboxes: map[string]*mailbox{},
	}
	if len(s.audiences) == 0 {
		s.audiences = []string{"https://outlook.office365.com", "00000002-0000-0ff1-ce00-000000000000"}
	}
	if s.seedItems == 0 {
		s.seedItems = 25
	}
	if s.findLimit <= 0 {
		s.findLimit = 1000
	}
	cfg := opts.TLS
	if cfg == nil {
		ca, err := testpki.New()
		if err != nil {
			return nil, fmt.Errorf("ewstest: %w", err)
		}
		s.ca = ca
		cfg = ca.ServerConfig()
	}
	for _, m := range opts.Mailboxes {
		s.AddMailbox(m)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("ewstest: %w", err)
	}
	s.srv = &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(s.serveHTTP)}, TLS: cfg}
	s.srv.StartTLS()
	return s, nil
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// URL returns the EWS endpoint, "https://127.0.0.1:PORT/EWS/Exchange.asmx".
func (s *Server) URL() string { return s.srv.URL + Path }

// Addr returns the listening address, "127.0.0.1:PORT".
func (s *Server) Addr() string { return s.srv.Listener.Addr().String() }

// CA returns the CA that issued the server's certificate, or nil when
// Options.TLS was given.
func (s *Server) CA() *testpki.CA { return s.ca }

// Transport returns an http.Transport that trusts the server's certificate
// (the CA's when the server made its own, else httptest's view of it).
func (s *Server) Transport() *http.Transport {
	if s.ca != nil {
		return &http.Transport{TLSClientConfig: s.ca.ClientConfig(), ForceAttemptHTTP2: true}
	}
	return s.srv.Client().Transport.(*http.Transport).Clone()
}

// SetBusy makes the next n requests fail with an ErrorServerBusy SOAP fault
// (HTTP 500) carrying BackOffMilliseconds = backOff (omitted when zero).
func (s *Server) SetBusy(n int, backOff time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.busy, s.busyBackOff = n, backOff
}

// SetUnauthorized makes the next n requests fail with HTTP 401 and
// Exchange's WWW-Authenticate Bearer challenge (error="invalid_token"),
// whatever their token.
func (s *Server) SetUnauthorized(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unauthorized = n
}

// SetThrottle makes the next n requests fail at the HTTP level with status
// (429 or 503, as IIS and Exchange Online's front ends do), with a
// Retry-After of retryAfter in whole seconds (omitted when negative).
func (s *Server) SetThrottle(n, status int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle, s.throttleCode, s.retryAfter = n, status, retryAfter
}

// SetDenyImpersonation makes impersonation fail with the
// ErrorImpersonateUserDenied fault, as when the app lacks
// full_access_as_app or an access policy excludes the mailbox.
func (s *Server) SetDenyImpersonation(deny bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denyImp = deny
}

// Requests returns the requests recorded so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// ResetRequests forgets the recorded requests.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

// Sent returns the messages sent with CreateItem so far.
func (s *Server) Sent() []SentMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sent)
}

// AddMailbox creates a mailbox (if it does not exist) with its folders and
// the seeded inbox messages.
func (s *Server) AddMailbox(addr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := strings.ToLower(addr)
	if _, ok := s.mailboxes[key]; ok {
		return
	}
	s.mailboxes[key] = s.newMailbox(addr)
}

// AddMessage delivers a message to a mailbox's inbox and returns its id.
func (s *Server) AddMessage(addr, from, subject, body string, received time.Time) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb := s.mailboxes[strings.ToLower(addr)]
	if mb == nil {
		return "", fmt.Errorf("ewstest: no mailbox %q", addr)
	}
	it := s.newItem(mb, mb.distinguished["inbox"])
	it.from, it.fromName, it.subject, it.body, it.received = from, from, subject, body, received
	it.to = []string{mb.addr}
	mb.insert(it)
	return it.id, nil
}

func (s *Server) record(r Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, r)
}

// challenge is Exchange Online's 401 challenge.
const challenge = `Bearer client_id="00000002-0000-0ff1-ce00-000000000000", trusted_issuers="00000001-0000-0000-c000-000000000000@*", token_types="app_asserted_user_v1 service_asserted_app_v1", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="invalid_token"`

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	rec := Request{
		AnchorMailbox: r.Header.Get("X-AnchorMailbox"),
		Affinity:      strings.EqualFold(r.Header.Get("X-PreferServerAffinity"), "true"),
	}
	if ck, err := r.Cookie("X-BackEndOverrideCookie"); err == nil {
		rec.BackEndCookie = ck.Value
	}
	status := s.handle(w, r, &rec)
	rec.Status = status
	s.record(rec)
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request, rec *Request) int {
	if !strings.EqualFold(r.URL.Path, Path) {
		http.NotFound(w, r)
		return http.StatusNotFound
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return http.StatusMethodNotAllowed
	}
	s.mu.Lock()
	throttled, code, ra := s.throttle > 0, s.throttleCode, s.retryAfter
	if throttled {
		s.throttle--
	}
	s.mu.Unlock()
	if throttled {
		if ra >= 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(ra/time.Second)))
		}
		http.Error(w, http.StatusText(code), code)
		return code
	}
	s.mu.Lock()
	forced401 := s.unauthorized > 0
	if forced401 {
		s.unauthorized--
	}
	s.mu.Unlock()
	claims, ok := s.authenticate(r)
	if forced401 || !ok {
		w.Header().Set("WWW-Authenticate", challenge)
		w.WriteHeader(http.StatusUnauthorized)
		return http.StatusUnauthorized
	}
	appOnly := len(claims.Scp) == 0 && len(claims.Roles) > 0
	rec.AppOnly = appOnly
	if appOnly && !claims.HasRole("full_access_as_app") || !appOnly && !claims.HasScope("EWS.AccessAsUser.All") {
		w.WriteHeader(http.StatusForbidden)
		return http.StatusForbidden
	}

	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		return http.StatusBadRequest
	}
	env, err := parseEnvelope(body)
	if err != nil {
		return writeFault(w, "ErrorSchemaValidation", "The request failed schema validation: "+err.Error(), 0)
	}
	rec.Op = env.op.name()
	rec.ServerVersion = env.version
	rec.Impersonated = env.impersonated

	s.mu.Lock()
	busy := s.busy > 0
	backOff := s.busyBackOff
	if busy {
		s.busy--
	}
	denyImp := s.denyImp
	s.mu.Unlock()
	if busy {
		return writeFault(w, "ErrorServerBusy", "The server cannot service this request right now. Try again later.", backOff)
	}

	var target string
	switch {
	case appOnly && env.impersonated == "":
		return writeFault(w, "ErrorInvalidExchangeImpersonationHeaderData", "ExchangeImpersonation SOAP header must be present for this type of OAuth token.", 0)
	case !appOnly && env.impersonated != "":
		return writeFault(w, "ErrorInvalidExchangeImpersonationHeaderData", "ExchangeImpersonation SOAP header must not exist for this type of OAuth token.", 0)
	case appOnly && denyImp:
		return writeFault(w, "ErrorImpersonateUserDenied", "The account does not have permission to impersonate the requested user.", 0)
	case appOnly:
		target = env.impersonated
	default:
		target = claims.UPN
		if target == "" {
			target = claims.PreferredUsername
		}
	}
	if appOnly {
		s.mu.Lock()
		_, exists := s.mailboxes[strings.ToLower(target)]
		s.mu.Unlock()
		if !exists {
			return writeFault(w, "ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it.", 0)
		}
	}
	if rec.Affinity {
		http.SetCookie(w, &http.Cookie{Name: "X-BackEndOverrideCookie", Value: "CO1PR06MB222.namprd06.prod.outlook.test~1941996295", Path: "/", Secure: true, HttpOnly: true})
	}
	out := s.dispatch(env.op, target, !appOnly)
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	w.Write(out)
	return http.StatusOK
}

func (s *Server) authenticate(r *http.Request) (*fakeidp.Claims, bool) {
	h := r.Header.Get("Authorization")
	const prefix = "Bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return nil, false
	}
	c, err := s.verify(strings.TrimSpace(h[len(prefix):]))
	if err != nil {
		return nil, false
	}
	aud := strings.TrimSuffix(c.Audience, "/")
	if !slices.Contains(s.audiences, aud) {
		return nil, false
	}
	return c, true
}
