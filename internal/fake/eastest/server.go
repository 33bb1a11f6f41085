// Package eastest runs an in-process Exchange ActiveSync server for tests,
// benchmarks and the quickstart.
//
// The server listens on 127.0.0.1 over TLS (a certificate from
// internal/fake/testpki), speaks WBXML as [MS-ASWBXML] defines it (through
// eas/wbxml), validates bearer tokens with a caller-supplied function (for
// example (*fakeidp.IdP).Verify), and serves one mailbox per user with an
// Inbox full of generated messages. It implements OPTIONS and the Provision
// (both phases), FolderSync, Sync (sync keys, GetChanges, WindowSize,
// MoreAvailable, BodyPreference, client-side Change and Delete), SendMail,
// Ping and ItemOperations Fetch commands, accepting the plain and the
// base64-encoded query forms of [MS-ASHTTP].
//
// Knobs reproduce the failures Exchange produces: [Server.ForceReprovision]
// (HTTP 449 or a status 142/144 in the body), [Server.RedirectOnce] (HTTP 451
// with X-MS-Location), [Server.Reject401Once], [Server.ThrottleOnce] (HTTP
// 503 with Retry-After) and [Server.StatusOnce].
//
// Departures from Exchange, for speed: the smallest Ping heartbeat allowed
// is Options.MinHeartbeat (1 second by default; Exchange allows 60), and
// server IDs are short.
package eastest

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/modernauth/mailauth/internal/core/httpx"

	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/internal/fake/testpki"
)

// Path is the ActiveSync endpoint path.
const Path = "/Microsoft-Server-ActiveSync"

// Options configure a [Server]. Verify is required.
type Options struct {
	// Verify checks a bearer token's signature and expiry and returns its
	// claims; (*fakeidp.IdP).Verify fits. The server then checks the
	// audience, the EAS.AccessAsUser.All scope and that upn (or
	// preferred_username) equals the request's User, as Exchange Online
	// does.
	Verify func(token string) (*fakeidp.Claims, error)

	// Audience is the aud the tokens must carry. Empty means
	// "https://outlook.office365.com".
	Audience string

	// AllowAppOnly accepts app-only tokens (roles "full_access_as_app")
	// for any User. Exchange Online has no app-only ActiveSync access; this
	// exists so tests can use a client-credentials token.
	AllowAppOnly bool

	// Messages is the number of messages generated in each mailbox's
	// Inbox. Zero means 120; negative means none.
	Messages int

	// BodySize is the size in bytes of each generated message body. Zero
	// means 2,000.
	BodySize int

	// Versions is the MS-ASProtocolVersions the server announces and
	// accepts. Empty means "2.5,12.0,12.1,14.0,14.1,16.0,16.1", as Exchange
	// Online announces.
	Versions string

	// MinHeartbeat and MaxHeartbeat bound the Ping heartbeat interval.
	// Zero means 1 second and 3,540 seconds.
	MinHeartbeat, MaxHeartbeat time.Duration

	// CA issues the server certificate. Nil means a new one.
	CA *testpki.CA

	// Logger, when set, receives one debug line per request (command,
	// status). Nothing secret is logged.
	Logger *slog.Logger
}

// Server is an in-process ActiveSync server. It is safe for concurrent
// use. Create it with [New] and stop it with [Server.Close].
type Server struct {
	opts     Options
	ca       *testpki.CA
	srv      *httptest.Server
	versions []string

	mu        sync.Mutex // guards everything below
	mailboxes map[string]*mailbox
	devices   map[string]*device // by user + "/" + device ID
	knobs     knobs
	counts    map[string]int
	last      Request
	sent      [][]byte
	changed   chan struct{} // closed and replaced when a mailbox changes
	closing   bool          // set by Close: pending Pings return
}

type knobs struct {
	reprovision     bool
	reprovisionCode int // 0: HTTP 449; else the status in the body
	redirect        string
	reject401       int
	throttle        int
	throttleAfter   time.Duration
	statusCmd       string
	statusCode      int
	wipe            bool
}

// Request describes the last request the server received, for tests.
type Request struct {
	Method          string
	Command         string
	User            string
	DeviceID        string
	DeviceType      string
	Base64          bool   // the query was the base64 form
	ProtocolVersion string // from the header or the base64 query
	PolicyKey       string // from the header or the base64 query
	ContentType     string
	UserAgent       string
}

// New starts a server on 127.0.0.1 with a random port.
func New(opts Options) (*Server, error) {
	if opts.Verify == nil {
		return nil, errors.New("eastest: Options.Verify must be set")
	}
	if opts.Audience == "" {
		opts.Audience = "https://outlook.office365.com"
	}
	if opts.Messages == 0 {
		opts.Messages = 120
	} else if opts.Messages < 0 {
		opts.Messages = 0
	}
	if opts.BodySize <= 0 {
		opts.BodySize = 2000
	}
	if opts.Versions == "" {
		opts.Versions = "2.5,12.0,12.1,14.0,14.1,16.0,16.1"
	}
	if opts.MinHeartbeat <= 0 {
		opts.MinHeartbeat = time.Second
	}
	if opts.MaxHeartbeat <= 0 {
		opts.MaxHeartbeat = 3540 * time.Second
	}
	ca := opts.CA
	if ca == nil {
		var err error
		if ca, err = testpki.New(); err != nil {
			return nil, err
		}
	}
	s := &Server{
		opts:      opts,
		ca:        ca,
		mailboxes: map[string]*mailbox{},
		devices:   map[string]*device{},
		counts:    map[string]int{},
		changed:   make(chan struct{}),
	}
	for _, v := range strings.Split(opts.Versions, ",") {
		s.versions = append(s.versions, strings.TrimSpace(v))
	}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	s.srv.TLS = ca.ServerConfig()
	s.srv.StartTLS()
	return s, nil
}

// Close stops the server and waits for its handlers to return.
func (s *Server) Close() {
	s.mu.Lock()
	s.closing = true
	close(s.changed) // wake every Ping; they answer at once while closing
	s.changed = make(chan struct{})
	s.mu.Unlock()
	s.srv.Close()
}

// URL returns the endpoint, "https://127.0.0.1:PORT/Microsoft-Server-ActiveSync".
func (s *Server) URL() string { return s.srv.URL + Path }

// LocalhostURL returns the endpoint with the host name "localhost", which
// the certificate also covers: a second name for redirect tests.
func (s *Server) LocalhostURL() string {
	return strings.Replace(s.srv.URL, "127.0.0.1", "localhost", 1) + Path
}

// Addr returns the listener's host:port.
func (s *Server) Addr() string { return s.srv.Listener.Addr().String() }

// CA returns the certificate authority that issued the server certificate.
func (s *Server) CA() *testpki.CA { return s.ca }

// Transport returns an http.Transport that trusts the server's CA, to use
// as the client's base RoundTripper.
func (s *Server) Transport() *http.Transport {
	t := httpx.Transport()
	t.TLSClientConfig = s.ca.ClientConfig()
	return t
}

// ForceReprovision invalidates every device's policy key. The next command
// sent with the old key is answered with HTTP 449 when status is 0, or
// with that status (140, 142, 143 or 144) in the command's Status element.
func (s *Server) ForceReprovision(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.knobs.reprovision = true
	s.knobs.reprovisionCode = status
	for _, d := range s.devices {
		d.policyKey = ""
	}
}

// RequestRemoteWipe asks every device to wipe itself: commands are
// answered with status 140 and Provision responses carry a RemoteWipe
// element ([MS-ASPROV] 3.2.5.1.2), until ClearRemoteWipe.
func (s *Server) RequestRemoteWipe() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.knobs.wipe = true
	s.knobs.reprovision = true
	s.knobs.reprovisionCode = 140
	for _, d := range s.devices {
		d.policyKey = ""
	}
}

// ClearRemoteWipe cancels RequestRemoteWipe.
func (s *Server) ClearRemoteWipe() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.knobs.wipe = false
}

// RedirectOnce answers the next request with HTTP 451 and X-MS-Location:
// location ("" sends a 451 without the header).
func (s *Server) RedirectOnce(location string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.knobs.redirect = location
	if location == "" {
		s.knobs.redirect = "-"
	}
}

// Reject401Once answers the next n requests with 401 whatever their token.
func (s *Server) Reject401Once(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.knobs.reject401 = n
}

// ThrottleOnce answers the next n requests with 503 and Retry-After (in
// whole seconds; 0 omits the header).
func (s *Server) ThrottleOnce(n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.knobs.throttle = n
	s.knobs.throttleAfter = retryAfter
}

// StatusOnce answers the next request for command cmd with status in the
// command's top-level Status element (for Sync, the Collection's).
func (s *Server) StatusOnce(cmd string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.knobs.statusCmd = cmd
	s.knobs.statusCode = status
}

// Requests returns how many requests for cmd ("OPTIONS" or a command name)
// reached the handler, including refused ones.
func (s *Server) Requests(cmd string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[cmd]
}

// TotalRequests returns the number of requests received.
func (s *Server) TotalRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.counts {
		n += c
	}
	return n
}

// LastRequest returns a description of the last request received.
func (s *Server) LastRequest() Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// Sent returns the MIME of every message accepted by SendMail, in order.
func (s *Server) Sent() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sent)
}

// Message is a message to put in a mailbox with [Server.Deliver].
type Message struct {
	Subject string
	From    string
	To      string
	Body    string
	Date    time.Time // zero means now
	Read    bool
}

// Contact is a contact to put in a mailbox's Contacts folder
// ([MS-ASCNTC]).
type Contact struct {
	FirstName, LastName string
	CompanyName         string
	JobTitle            string
	Email               string // Email1Address, sent as "Name" <address>
	MobilePhone         string
	Birthday            time.Time
}

// Event is a meeting to put in a mailbox's Calendar folder ([MS-ASCAL]).
type Event struct {
	UID            string
	Subject        string
	Location       string
	Start, End     time.Time
	OrganizerName  string
	OrganizerEmail string
	Attendees      []string // addresses, required attendees
}

// AddContact adds a contact to user's Contacts folder and returns its
// server ID.
func (s *Server) AddContact(user string, c Contact) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.mailboxLocked(user).addItem(contactID, &item{contact: &c})
	s.notifyLocked()
	return id
}

// AddEvent adds a meeting to user's Calendar folder and returns its
// server ID.
func (s *Server) AddEvent(user string, e Event) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.mailboxLocked(user).addItem(calID, &item{event: &e})
	s.notifyLocked()
	return id
}

// Deliver adds a message to user's Inbox and wakes the Pings watching it.
// It returns the message's server ID.
func (s *Server) Deliver(user string, m Message) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb := s.mailboxLocked(user)
	id := mb.add(inboxID, m)
	s.notifyLocked()
	return id
}

// DeleteMessage removes a message from user's mailbox, as if deleted
// elsewhere; it reports whether it existed.
func (s *Server) DeleteMessage(user, serverID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb := s.mailboxLocked(user)
	for _, f := range mb.folders {
		if _, ok := f.items[serverID]; ok {
			delete(f.items, serverID)
			f.order = slices.DeleteFunc(f.order, func(x string) bool { return x == serverID })
			s.notifyLocked()
			return true
		}
	}
	return false
}

// SetRead changes a message's read flag, as if changed elsewhere.
func (s *Server) SetRead(user, serverID string, read bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb := s.mailboxLocked(user)
	for _, f := range mb.folders {
		if it, ok := f.items[serverID]; ok {
			it.read = read
			it.version++
			s.notifyLocked()
			return true
		}
	}
	return false
}

// PolicyKey returns the final policy key issued to a device ("" if none).
func (s *Server) PolicyKey(user, deviceID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := s.devices[strings.ToLower(user)+"/"+deviceID]; d != nil {
		return d.policyKey
	}
	return ""
}

func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func randomKey() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	v := binary.LittleEndian.Uint32(b[:])
	if v == 0 {
		v = 1
	}
	return strconv.FormatUint(uint64(v), 10)
}

func (s *Server) debug(msg string, args ...any) {
	if s.opts.Logger != nil {
		s.opts.Logger.Debug(msg, args...)
	}
}

// String describes the server without anything secret.
func (s *Server) String() string { return fmt.Sprintf("eastest.Server(%s)", s.URL()) }
