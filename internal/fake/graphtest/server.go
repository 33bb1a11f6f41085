// Package graphtest is an in-process Microsoft Graph (v1.0 mail) server for tests,
// benchmarks and the quickstart. It listens on 127.0.0.1 over TLS (a certificate from
// internal/fake/testpki for 127.0.0.1 and localhost), validates bearer tokens with a
// caller-supplied function (normally (*fakeidp.IdP).Verify) and answers with the JSON of
// Microsoft's Graph reference examples: @odata.context, absolute @odata.nextLink and
// @odata.deltaLink URLs, the error body {"error":{"code","message","innerError":{"date",
// "request-id","client-request-id"}}}, 202 Accepted for sendMail, and upload sessions with
// uploadUrl, expirationDateTime and nextExpectedRanges.
//
// It serves, under /v1.0/me (delegated tokens) and /v1.0/users/{address}:
//
//	GET/POST mailFolders, mailFolders/{id}/childFolders; GET mailFolders/{id}; GET mailFolders/delta
//	GET mailFolders/{id}/messages ($select, $top, $skip, $filter, $orderby); GET messages
//	GET mailFolders/{id}/messages/delta (Prefer: odata.maxpagesize)
//	GET/PATCH/DELETE messages/{id}; GET messages/{id}/$value; POST messages/{id}/move|copy|send
//	POST messages (a draft, from JSON or base64 MIME); POST sendMail (JSON or base64 MIME)
//	GET/POST messages/{id}/attachments; GET attachments/{id}[/$value]; POST attachments/createUploadSession
//	POST translateExchangeIds; POST /v1.0/$batch (up to 20 requests, dependsOn)
//
// and the upload sessions' pre-authorised URLs under /api/v2.0/ on the host "localhost" of
// the same listener (a host the client must not send its token to).
//
// Tenant-wide, for a report on basic authentication, it serves GET /v1.0/auditLogs/signIns
// (AuditLog.Read.All and Entra ID P1, see [Server.SetEntraP1]; $filter on createdDateTime
// and clientAppUsed with and, or and parentheses, $top, @odata.nextLink paging, a 429 on a
// chosen page with [Server.ThrottleSignInPage]) and GET
// /v1.0/reports/getEmailAppUsageUserDetail(period='D7|D30|D90|D180') (Reports.Read.All),
// which answers 302 to a pre-authorised CSV download on a second listener, the host
// "localhost" on another port ([Server.DownloadURL]); [Server.Downloads] counts the
// requests there that carried an Authorization header.
//
// It behaves like Graph where clients get it wrong: tokens of another audience get 401
// InvalidAuthenticationToken; /me with an app-only token is a 400; a mailbox the
// principal has no right on is 403 ErrorAccessDenied (app-only tokens can be scoped with
// [Server.RestrictApp], like RBAC for Applications); [Server.DisableREST] gives
// MailboxNotEnabledForRESTAPI; request bodies over 4 MB get 413; upload chunks must come
// in order and be at most 4 MB. Knobs reproduce throttling (429 with Retry-After), a
// concurrency limit per mailbox, latency, and upload chunks cut off half way. Counters
// record the highest number of concurrent requests per mailbox, the requests per host and
// any Authorization header sent to an upload URL.
package graphtest

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/internal/fake/testpki"
)

// DefaultAudiences are the aud claims the server accepts when Options.Audiences is empty.
var DefaultAudiences = []string{"https://graph.microsoft.com", "00000003-0000-0000-c000-000000000000"}

// MaxRequestBytes is the request body size over which the server answers 413.
const MaxRequestBytes = 4 << 20

// Options configures a [Server].
type Options struct {
	// Verify validates a bearer token and returns its claims. Required; normally
	// (*fakeidp.IdP).Verify.
	Verify func(token string) (*fakeidp.Claims, error)
	// TLS is the server's TLS configuration. Nil means a fresh test CA (see [Server.CA])
	// with a leaf for 127.0.0.1 and localhost.
	TLS *tls.Config
	// Audiences are the accepted aud claims; empty means DefaultAudiences.
	Audiences []string
	// Mailboxes are the addresses that exist. Each gets the well-known folders (inbox with
	// a child "Projects", drafts, sentitems, deleteditems, junkemail, archive, outbox) and
	// Items messages in its inbox.
	Mailboxes []string
	// Items is the number of messages seeded in each inbox; zero means 25, negative none.
	// Message i has subject "Message i", is from "Sender i <senderi@fabrikam.test>", was
	// received at BaseTime minus i-1 minutes, is read when i%3 == 0 and has one attachment
	// when i%5 == 0.
	Items int
	// PageSize is the page size of lists without $top (Graph's default of 10 when zero).
	PageSize int
	// Latency holds every API request this long while it counts as in flight.
	Latency time.Duration
	// ConcurrencyLimit, when positive, answers 429 ApplicationThrottled with Retry-After 1
	// to a request that would be more than this many in flight for one mailbox, as Outlook
	// does over 4.
	ConcurrencyLimit int
}

// Request is what the server recorded about one request.
type Request struct {
	Method          string
	Host            string // the Host the client addressed
	Path            string // the escaped path, without the query
	Query           string
	Mailbox         string // the mailbox resolved, if any
	Status          int
	Authorization   bool   // an Authorization header was present
	ClientRequestID string // client-request-id
	Prefer          string // Prefer
	ContentType     string
	Batch           bool // a request inside a $batch
}

// Sent is a message the server accepted for delivery.
type Sent struct {
	From        string // the mailbox that sent it
	Via         string // "sendMail", "sendMail MIME" or "draft"
	Subject     string
	To          []string
	MIME        []byte // the MIME it was sent as (sendMail MIME, or a draft made from MIME)
	Attachments []SentAttachment
}

// SentAttachment is an attachment of a sent message, with its bytes.
type SentAttachment struct {
	Name        string
	ContentType string
	Inline      bool
	ContentID   string
	Data        []byte
}

// Server is a running Graph server. Its methods are safe for concurrent use.
type Server struct {
	srv       *httptest.Server
	ca        *testpki.CA
	verify    func(string) (*fakeidp.Claims, error)
	audiences []string
	items     int
	pageSize  int
	latency   time.Duration
	limit     int

	mu          sync.Mutex
	mailboxes   map[string]*mbox // by lower-case address
	requests    []Request
	byHost      map[string]int
	inflight    map[string]int // guarded by mu: by mailbox
	maxInflight map[string]int // guarded by mu
	sent        []Sent
	throttle    int                        // guarded by mu: next API requests answered throttleCode
	throttleSt  int                        // guarded by mu
	retryAfter  time.Duration              // guarded by mu
	restricted  map[string]map[string]bool // guarded by mu: app id -> mailboxes in its scope
	linkBase    string                     // guarded by mu: base of nextLink/deltaLink URLs
	uploadBase  string                     // guarded by mu: base of upload URLs
	sessions    map[string]*uploadSession  // guarded by mu: by session id
	uploadAuth  int                        // guarded by mu: upload requests that carried Authorization
	cutUploads  int                        // guarded by mu: next upload PUTs cut off half way
	tenant      tenant                     // guarded by mu: sign-in log and usage reports
}

// New starts a Server on 127.0.0.1.
func New(opts Options) (*Server, error) {
	if opts.Verify == nil {
		return nil, errors.New("graphtest: Options.Verify must be set")
	}
	s := &Server{verify: opts.Verify, audiences: opts.Audiences, items: opts.Items, pageSize: opts.PageSize,
		latency: opts.Latency, limit: opts.ConcurrencyLimit, mailboxes: map[string]*mbox{}, byHost: map[string]int{},
		inflight: map[string]int{}, maxInflight: map[string]int{}, restricted: map[string]map[string]bool{},
		sessions: map[string]*uploadSession{}}
	if len(s.audiences) == 0 {
		s.audiences = DefaultAudiences
	}
	if s.items == 0 {
		s.items = 25
	} else if s.items < 0 {
		s.items = 0
	}
	if s.pageSize <= 0 {
		s.pageSize = 10
	}
	cfg := opts.TLS
	if cfg == nil {
		ca, err := testpki.New()
		if err != nil {
			return nil, fmt.Errorf("graphtest: %w", err)
		}
		s.ca = ca
		cfg = ca.ServerConfig()
	}
	for _, m := range opts.Mailboxes {
		s.AddMailbox(m)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("graphtest: %w", err)
	}
	s.srv = &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(s.serveHTTP)}, TLS: cfg}
	s.srv.StartTLS()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	s.linkBase = s.srv.URL
	s.uploadBase = "https://localhost:" + port
	if err := s.startDownloads(); err != nil {
		s.srv.Close()
		return nil, fmt.Errorf("graphtest: %w", err)
	}
	return s, nil
}

// Close stops the server and its report download host.
func (s *Server) Close() {
	s.srv.Close()
	s.tenant.dlSrv.Close()
}

// URL returns the Graph endpoint without version, "https://127.0.0.1:PORT"; the API is
// under URL()+"/v1.0".
func (s *Server) URL() string { return s.srv.URL }

// Addr returns the listening address, "127.0.0.1:PORT".
func (s *Server) Addr() string { return s.srv.Listener.Addr().String() }

// CA returns the CA that issued the server's certificate, or nil when Options.TLS was given.
func (s *Server) CA() *testpki.CA { return s.ca }

// Transport returns an http.Transport that trusts the server's certificate.
func (s *Server) Transport() *http.Transport {
	if s.ca != nil {
		return &http.Transport{TLSClientConfig: s.ca.ClientConfig(), ForceAttemptHTTP2: true}
	}
	return s.srv.Client().Transport.(*http.Transport).Clone()
}

// AddMailbox creates a mailbox with the seeded folders and messages; it is a no-op when
// the address exists.
func (s *Server) AddMailbox(addr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := strings.ToLower(addr)
	if _, ok := s.mailboxes[k]; !ok {
		s.mailboxes[k] = newMailbox(addr, s.items)
	}
}

// Grant gives principal (a user's UPN for delegated tokens, an app id for app-only ones)
// FullAccess on mailbox.
func (s *Server) Grant(mailbox, principal string) {
	s.withMailbox(mailbox, func(mb *mbox) { mb.grants[strings.ToLower(principal)] = true })
}

// RestrictApp scopes the app's application permissions to the given mailboxes, as an
// RBAC for Applications management scope does: other mailboxes answer 403
// ErrorAccessDenied to its app-only tokens.
func (s *Server) RestrictApp(appID string, mailboxes ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	set := map[string]bool{}
	for _, m := range mailboxes {
		set[strings.ToLower(m)] = true
	}
	s.restricted[strings.ToLower(appID)] = set
}

// DisableREST makes the mailbox answer 404 MailboxNotEnabledForRESTAPI, as Graph does for
// on-premises, inactive or unlicensed mailboxes.
func (s *Server) DisableREST(mailbox string) {
	s.withMailbox(mailbox, func(mb *mbox) { mb.restOff = true })
}

// Throttle makes the next n API requests (requests inside a $batch count one by one; the
// $batch call itself does not) fail with status (429, 503 or 504), a
// Retry-After of retryAfter (omitted when zero; whole seconds, rounded up) and Graph's
// throttling error JSON.
func (s *Server) Throttle(n, status int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle, s.throttleSt, s.retryAfter = n, status, retryAfter
}

// SetLinkBase makes @odata.nextLink and @odata.deltaLink point at base (scheme and host)
// instead of the server itself: to check that a client does not follow a link elsewhere.
func (s *Server) SetLinkBase(base string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.linkBase = strings.TrimRight(base, "/")
}

// SetUploadBase makes new upload sessions' uploadUrl point at base (scheme and host);
// by default it is "https://localhost:PORT", this server under another host name.
func (s *Server) SetUploadBase(base string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.uploadBase = strings.TrimRight(base, "/")
}

// CutUploads makes the next n upload PUTs keep only the first half of their chunk and
// then drop the connection, as a network failure would.
func (s *Server) CutUploads(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cutUploads = n
}

// Deliver puts a message into the mailbox's inbox (or folder, an id or well-known name)
// and returns its REST id.
func (s *Server) Deliver(mailbox, folderRef string, m Message) (string, error) {
	var id string
	var err error
	s.withMailbox(mailbox, func(mb *mbox) {
		if folderRef == "" {
			folderRef = "inbox"
		}
		f, ok := mb.folderID(folderRef)
		if !ok {
			err = fmt.Errorf("graphtest: no folder %q", folderRef)
			return
		}
		id = mb.add(f, m).restID
	})
	if id == "" && err == nil {
		err = fmt.Errorf("graphtest: no mailbox %q", mailbox)
	}
	return id, err
}

// Messages returns the subjects of the messages of a folder, newest first.
func (s *Server) Messages(mailbox, folderRef string) []string {
	var out []string
	s.withMailbox(mailbox, func(mb *mbox) {
		f, ok := mb.folderID(folderRef)
		if !ok {
			return
		}
		for _, m := range mb.inFolder(f) {
			out = append(out, m.subject)
		}
	})
	return out
}

// MessageIDs returns the REST and immutable ids of the messages of a folder, newest first.
func (s *Server) MessageIDs(mailbox, folderRef string) (rest, immutable []string) {
	s.withMailbox(mailbox, func(mb *mbox) {
		f, ok := mb.folderID(folderRef)
		if !ok {
			return
		}
		for _, m := range mb.inFolder(f) {
			rest = append(rest, m.restID)
			immutable = append(immutable, m.immID)
		}
	})
	return rest, immutable
}

// Sent returns the messages accepted for delivery, oldest first.
func (s *Server) Sent() []Sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sent)
}

// Requests returns every request recorded, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// RequestsByHost returns how many requests arrived for each Host.
func (s *Server) RequestsByHost() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.byHost {
		out[k] = v
	}
	return out
}

// MaxConcurrent returns the most requests that were in flight at once for the mailbox.
func (s *Server) MaxConcurrent(mailbox string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxInflight[strings.ToLower(mailbox)]
}

// UploadsWithAuthorization returns how many requests to an upload URL carried an
// Authorization header (a client leaking its token there).
func (s *Server) UploadsWithAuthorization() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.uploadAuth
}

// ResetCounters forgets the recorded requests and concurrency maxima.
func (s *Server) ResetCounters() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests, s.byHost, s.maxInflight = nil, map[string]int{}, map[string]int{}
}

func (s *Server) withMailbox(addr string, f func(*mbox)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if mb, ok := s.mailboxes[strings.ToLower(addr)]; ok {
		f(mb)
	}
}

// exchange is one request being answered.
type exchange struct {
	w       http.ResponseWriter
	r       *http.Request
	rec     *Request
	claims  *fakeidp.Claims
	mb      *mbox
	segs    []string // path segments after the mailbox
	body    []byte
	prefix  string // "/v1.0/me" or "/v1.0/users/{escaped}"
	ctxPath string // "users('alice%40contoso.test')" or "me"
}

func (x *exchange) immutable() bool {
	return strings.Contains(strings.ToLower(x.r.Header.Get("Prefer")), `idtype="immutableid"`)
}

func (s *Server) record(rec Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, rec)
	s.byHost[rec.Host]++
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	rec := &Request{Method: r.Method, Host: r.Host, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery,
		Authorization: r.Header.Get("Authorization") != "", ClientRequestID: r.Header.Get("client-request-id"),
		Prefer: r.Header.Get("Prefer"), ContentType: r.Header.Get("Content-Type")}
	defer func() {
		rec.Status = sw.status
		s.record(*rec)
	}()
	if crid := r.Header.Get("client-request-id"); crid != "" {
		sw.Header().Set("client-request-id", crid)
	}
	sw.Header().Set("request-id", newRequestID())
	if strings.HasPrefix(r.URL.Path, "/api/v2.0/") {
		s.serveUpload(sw, r, rec)
		return
	}
	s.serveAPI(sw, r, rec, false)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, rec *Request, inBatch bool) {
	x := &exchange{w: w, r: r, rec: rec}
	if r.URL.Path != "/v1.0/$batch" {
		s.mu.Lock()
		throttled := s.throttle > 0
		status, ra := s.throttleSt, s.retryAfter
		if throttled {
			s.throttle--
		}
		s.mu.Unlock()
		if throttled {
			if ra > 0 {
				w.Header().Set("Retry-After", fmt.Sprint(int((ra+time.Second-1)/time.Second)))
			}
			code, msg := "ApplicationThrottled", "Application is over its MailboxConcurrency limit."
			if status != http.StatusTooManyRequests {
				code, msg = "ServiceNotAvailable", "The service is temporarily unavailable. Please retry later."
			}
			x.error(status, code, msg)
			return
		}
	}
	if r.ContentLength > MaxRequestBytes {
		x.error(http.StatusRequestEntityTooLarge, "ErrorRequestEntityTooLarge", "The request body is larger than 4 MB.")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxRequestBytes+1))
	if err != nil {
		return
	}
	if len(body) > MaxRequestBytes {
		x.error(http.StatusRequestEntityTooLarge, "ErrorRequestEntityTooLarge", "The request body is larger than 4 MB.")
		return
	}
	x.body = body
	if !s.authenticate(x) {
		return
	}
	raw := strings.TrimPrefix(r.URL.EscapedPath(), "/v1.0")
	if raw == r.URL.EscapedPath() {
		x.error(http.StatusBadRequest, "BadRequest", "Invalid version: "+r.URL.Path)
		return
	}
	segs := splitPath(raw)
	if len(segs) == 1 && segs[0] == "$batch" && r.Method == http.MethodPost {
		if inBatch {
			x.error(http.StatusBadRequest, "BadRequest", "A batch request cannot contain a batch request.")
			return
		}
		s.serveBatch(x)
		return
	}
	if s.serveTenant(x, segs) {
		return
	}
	if !s.resolveMailbox(x, segs) {
		return
	}
	box := strings.ToLower(x.mb.addr)
	s.mu.Lock()
	s.inflight[box]++
	n := s.inflight[box]
	if n > s.maxInflight[box] {
		s.maxInflight[box] = n
	}
	over := s.limit > 0 && n > s.limit
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inflight[box]--
		s.mu.Unlock()
	}()
	if over {
		w.Header().Set("Retry-After", "1")
		x.error(http.StatusTooManyRequests, "ApplicationThrottled", "Application is over its MailboxConcurrency limit.")
		return
	}
	if s.latency > 0 {
		t := time.NewTimer(s.latency)
		select {
		case <-r.Context().Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	s.route(x)
}

func splitPath(escaped string) []string {
	var out []string
	for _, p := range strings.Split(strings.Trim(escaped, "/"), "/") {
		if p == "" {
			continue
		}
		if u, err := url.PathUnescape(p); err == nil {
			p = u
		}
		out = append(out, p)
	}
	return out
}

// authenticate checks the bearer token: signature, expiry and audience.
func (s *Server) authenticate(x *exchange) bool {
	h := x.r.Header.Get("Authorization")
	const prefix = "Bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		x.unauthorized("Access token is empty.")
		return false
	}
	c, err := s.verify(strings.TrimSpace(h[len(prefix):]))
	if err != nil {
		x.unauthorized("Access token validation failure.")
		return false
	}
	if !slices.Contains(s.audiences, strings.TrimSuffix(c.Audience, "/")) {
		x.unauthorized("Access token validation failure. Invalid audience.")
		return false
	}
	x.claims = c
	return true
}

func (x *exchange) unauthorized(msg string) {
	x.w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`)
	x.error(http.StatusUnauthorized, "InvalidAuthenticationToken", msg)
}

func appOnly(c *fakeidp.Claims) bool { return len(c.Scp) == 0 && len(c.Roles) > 0 }

func principal(c *fakeidp.Claims) string {
	if appOnly(c) {
		return strings.ToLower(c.AppID)
	}
	if c.UPN != "" {
		return strings.ToLower(c.UPN)
	}
	return strings.ToLower(c.PreferredUsername)
}

// resolveMailbox finds the mailbox of /me or /users/{id} and checks the principal may
// open it.
func (s *Server) resolveMailbox(x *exchange, segs []string) bool {
	var addr string
	switch {
	case len(segs) >= 1 && segs[0] == "me":
		if appOnly(x.claims) {
			x.error(http.StatusBadRequest, "BadRequest", "/me request is only valid with delegated authentication flow.")
			return false
		}
		addr = principal(x.claims)
		x.segs = segs[1:]
		x.prefix = "/v1.0/me"
		x.ctxPath = "me"
	case len(segs) >= 2 && strings.EqualFold(segs[0], "users"):
		addr = segs[1]
		x.segs = segs[2:]
		x.prefix = "/v1.0/users/" + url.PathEscape(addr)
		x.ctxPath = "users('" + url.PathEscape(addr) + "')"
	default:
		x.error(http.StatusBadRequest, "BadRequest", "Resource not found for the segment '"+strings.Join(segs, "/")+"'.")
		return false
	}
	s.mu.Lock()
	mb := s.mailboxes[strings.ToLower(addr)]
	var scoped, inScope bool
	if appOnly(x.claims) {
		var set map[string]bool
		set, scoped = s.restricted[strings.ToLower(x.claims.AppID)]
		inScope = set[strings.ToLower(addr)]
	}
	s.mu.Unlock()
	x.rec.Mailbox = addr
	if mb == nil {
		x.error(http.StatusNotFound, "ErrorInvalidUser", "The requested user '"+addr+"' is invalid.")
		return false
	}
	if mb.restOff {
		x.error(http.StatusNotFound, "MailboxNotEnabledForRESTAPI", "The mailbox is either inactive, soft-deleted, or is hosted on-premise.")
		return false
	}
	p := principal(x.claims)
	switch {
	case appOnly(x.claims):
		if scoped && !inScope {
			x.error(http.StatusForbidden, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
			return false
		}
	case !strings.EqualFold(p, mb.addr) && !mb.grants[p]:
		x.error(http.StatusForbidden, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
		return false
	}
	x.mb = mb
	return true
}

// can reports whether the token carries one of the permissions (scp or roles).
func (x *exchange) can(perms ...string) bool {
	for _, p := range perms {
		if x.claims.HasScope(p) || x.claims.HasRole(p) || x.claims.HasScope(p+".Shared") {
			return true
		}
	}
	return false
}

func (x *exchange) requirePerm(perms ...string) bool {
	if x.can(perms...) {
		return true
	}
	x.error(http.StatusForbidden, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
	return false
}

// error writes Graph's error JSON.
func (x *exchange) error(status int, code, msg string) {
	writeError(x.w, x.r, status, code, msg)
}

func writeError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	var jw jsonWriter
	jw.open()
	jw.key("error")
	jw.open()
	jw.field("code", code)
	jw.field("message", msg)
	jw.key("innerError")
	jw.open()
	jw.field("date", graphTime(time.Now()))
	jw.field("request-id", w.Header().Get("request-id"))
	jw.field("client-request-id", r.Header.Get("client-request-id"))
	jw.close()
	jw.close()
	jw.close()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(jw.b.Bytes())
}

func (x *exchange) writeJSON(status int, b []byte) {
	x.w.Header().Set("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
	if x.immutable() {
		x.w.Header().Set("Preference-Applied", `IdType="ImmutableId"`)
	}
	x.w.WriteHeader(status)
	x.w.Write(b)
}

func (s *Server) context(x *exchange, what string) string {
	return s.srv.URL + "/v1.0/$metadata#" + x.ctxPath + what
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// decodeBase64 decodes a base64 MIME body, tolerating line breaks.
func decodeBase64(b []byte) ([]byte, error) {
	clean := bytes.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, b)
	return base64.StdEncoding.DecodeString(string(clean))
}
