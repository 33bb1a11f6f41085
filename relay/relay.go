package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/graph"
	"github.com/modernauth/mailauth/internal/core/redact"
)

// Protocol names a protocol the relay serves.
type Protocol string

// The protocols.
const (
	IMAP Protocol = "imap"
	POP3 Protocol = "pop3"
	SMTP Protocol = "smtp"
)

// Account is one local account and the upstream mailbox it opens.
type Account struct {
	// User is the local user name clients log in with. Compared case-insensitively.
	User string
	// PasswordHash is the local password's argon2id or bcrypt hash (see HashPassword).
	PasswordHash string
	// Mailbox is the upstream mailbox (XOAUTH2 user=). Empty means User.
	Mailbox string
	// Token supplies upstream access tokens for IMAP, POP3 and SMTP (Exchange audience).
	Token oauth2.TokenSource
	// Graph, when set, sends this account's SMTP submissions with Graph sendMail
	// (raw MIME) instead of the SMTP upstream.
	Graph *graph.Client
}

// Upstream is an upstream server.
type Upstream struct {
	// Addr is host:port. Empty means the protocol is not relayed.
	Addr string
	// ImplicitTLS dials TLS at once (993, 995, 465); otherwise STARTTLS/STLS is used.
	ImplicitTLS bool
}

// Options configures a Relay. A nil *Options is the zero value (and fails for the
// want of an account).
type Options struct {
	// Accounts are the local accounts. At least one is required.
	Accounts []Account
	// IMAP, POP3 and SMTP are the upstream servers.
	IMAP, POP3, SMTP Upstream
	// TLSConfig is the base of the upstream TLS configuration (roots, minimum version);
	// nil means the system roots. Verification cannot be switched off: a config with
	// InsecureSkipVerify is refused.
	TLSConfig *tls.Config
	// ServerTLS is the local certificate, for implicit TLS and STARTTLS/STLS. Nil means
	// the listeners are plaintext (loopback or SMTP device networks only).
	ServerTLS *tls.Config
	// DeviceNetworks may send SMTP without AUTH, as DeviceAccount.
	DeviceNetworks []netip.Prefix
	// DeviceAccount is the local user devices send as. Empty means the first account.
	DeviceAccount string
	// FailureDelay is how long a failed login waits before its answer. Zero means 2 s.
	FailureDelay time.Duration
	// MaxFailures is how many failed logins one client address may have within
	// FailureWindow; after that its logins are refused at once, unchecked, until the
	// window ends. Zero means 10.
	MaxFailures int
	// FailureWindow is the period MaxFailures counts. Zero means 15 minutes.
	FailureWindow time.Duration
	// MaxMessageBytes is the largest SMTP message accepted. Zero means 150 MB.
	MaxMessageBytes int64
	// Dialer dials upstream connections. Nil means a net.Dialer with a 30 s timeout.
	Dialer *net.Dialer
	// Logger receives session records: client address, account, protocol, failures, and
	// at debug level the name of every command before login (never its arguments). Never
	// a password, hash, token or SASL payload. Nil means no logging.
	Logger *slog.Logger
	// Hostname is the name in greetings. Empty means "mailrelay".
	Hostname string
	// DebugWriter, when set, receives a transcript of every session until the relay
	// starts copying bytes: the client's lines and the relay's answers ("C:", "S:"),
	// the upstream login ("upstream C:", "upstream S:"), and for SMTP the whole session
	// with message bodies replaced by their size. Each line starts with the protocol and
	// the client address. Passwords, SASL responses and tokens are replaced by
	// [REDACTED], and every line passes through the module's redactor.
	DebugWriter io.Writer
}

// Stats are the counters of one account.
type Stats struct {
	Sessions int64 // sessions that logged in (or device submissions)
	BytesIn  int64 // bytes from the client to upstream
	BytesOut int64 // bytes from upstream to the client
	Failures int64 // failed local logins and failed upstream logins or sends
	Messages int64 // SMTP messages sent
}

type account struct {
	Account
	sessions, bytesIn, bytesOut, failures, messages atomic.Int64
}

// Relay serves the listeners. Its methods are safe for concurrent use.
type Relay struct {
	o        Options
	accounts map[string]*account
	order    []*account
	device   *account
	dummy    string // a hash compared for unknown users, so they take as long
	log      *slog.Logger
	limiter  *limiter

	mu          sync.Mutex
	listeners   map[net.Listener]struct{}
	conns       map[net.Conn]struct{}
	closing     bool
	wg          sync.WaitGroup
	smtpServers []*smtp.Server
	implicit    map[net.Listener]bool
	smtpCaps    smtpCapState // the SMTP upstream's EHLO list

	capMu sync.Mutex
	caps  map[Protocol][]string

	trace *traceOut // nil without Options.DebugWriter
}

// ErrClosed is returned by Serve after Shutdown.
var ErrClosed = errors.New("relay: closed")

// New checks opts and returns a Relay.
func New(opts *Options) (*Relay, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if len(o.Accounts) == 0 {
		return nil, errors.New("relay: no accounts")
	}
	if o.TLSConfig != nil && o.TLSConfig.InsecureSkipVerify {
		return nil, fmt.Errorf("relay: upstream TLS verification cannot be switched off: %w", mailauth.ErrInsecure)
	}
	if o.FailureDelay == 0 {
		o.FailureDelay = 2 * time.Second
	}
	if o.MaxFailures == 0 {
		o.MaxFailures = 10
	}
	if o.FailureWindow == 0 {
		o.FailureWindow = 15 * time.Minute
	}
	if o.MaxMessageBytes == 0 {
		o.MaxMessageBytes = 150 << 20
	}
	if o.Dialer == nil {
		o.Dialer = &net.Dialer{Timeout: 30 * time.Second}
	}
	if o.Hostname == "" {
		o.Hostname = "mailrelay"
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Relay{o: o, accounts: map[string]*account{}, log: log,
		limiter:   newLimiter(o.MaxFailures, o.FailureWindow),
		listeners: map[net.Listener]struct{}{}, conns: map[net.Conn]struct{}{}, implicit: map[net.Listener]bool{}, caps: map[Protocol][]string{}}
	if o.DebugWriter != nil {
		r.trace = &traceOut{w: redact.NewWriter(o.DebugWriter)}
	}
	for i, a := range o.Accounts {
		if a.User == "" {
			return nil, fmt.Errorf("relay: account %d has no user", i+1)
		}
		if err := CheckHash(a.PasswordHash); err != nil {
			return nil, fmt.Errorf("relay: account %q: %w", a.User, err)
		}
		if a.Mailbox == "" {
			a.Mailbox = a.User
		}
		if a.Token == nil && a.Graph == nil {
			return nil, fmt.Errorf("relay: account %q has neither a token source nor a Graph client", a.User)
		}
		key := strings.ToLower(a.User)
		if _, dup := r.accounts[key]; dup {
			return nil, fmt.Errorf("relay: account %q is listed twice", a.User)
		}
		acc := &account{Account: a}
		r.accounts[key] = acc
		r.order = append(r.order, acc)
	}
	r.dummy = o.Accounts[0].PasswordHash
	if len(o.DeviceNetworks) > 0 {
		r.device = r.order[0]
		if o.DeviceAccount != "" {
			r.device = r.accounts[strings.ToLower(o.DeviceAccount)]
			if r.device == nil {
				return nil, fmt.Errorf("relay: device account %q is not an account", o.DeviceAccount)
			}
		}
	}
	return r, nil
}

// Stats returns the counters of every account, by local user name.
func (r *Relay) Stats() map[string]Stats {
	m := make(map[string]Stats, len(r.order))
	for _, a := range r.order {
		m[a.User] = Stats{Sessions: a.sessions.Load(), BytesIn: a.bytesIn.Load(), BytesOut: a.bytesOut.Load(),
			Failures: a.failures.Load(), Messages: a.messages.Load()}
	}
	return m
}

// Listen opens a TCP listener for protocol p on addr. implicitTLS wraps it in TLS with
// Options.ServerTLS. A listener without TLS (no ServerTLS) is refused, with an error
// wrapping mailauth.ErrInsecure, unless addr is a loopback address or, for SMTP, inside
// one of Options.DeviceNetworks.
func (r *Relay) Listen(p Protocol, addr string, implicitTLS bool) (net.Listener, error) {
	if implicitTLS && r.o.ServerTLS == nil {
		return nil, errors.New("relay: implicit TLS needs a certificate (Options.ServerTLS)")
	}
	if r.o.ServerTLS == nil && !r.plaintextAllowed(p, addr) {
		return nil, fmt.Errorf("relay: %s: plaintext listener on %s that is not loopback (give a certificate, or for SMTP a device network containing it): %w", p, addr, mailauth.ErrInsecure)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if implicitTLS {
		l = tls.NewListener(l, r.o.ServerTLS)
		r.mu.Lock()
		r.implicit[l] = true
		r.mu.Unlock()
	}
	return l, nil
}

func (r *Relay) plaintextAllowed(p Protocol, addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host == "localhost"
	}
	if ip.IsLoopback() {
		return true
	}
	return p == SMTP && r.inDeviceNetwork(ip)
}

func (r *Relay) inDeviceNetwork(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, n := range r.o.DeviceNetworks {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

func remoteIP(c net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// secure reports whether a password may be accepted on c: TLS or a loopback client.
func secure(c net.Conn) bool {
	if _, ok := c.(*tls.Conn); ok {
		return true
	}
	return remoteIP(c).IsLoopback()
}

// Serve accepts connections on l for protocol p until l fails or Shutdown is called.
// Before the first accept it asks the upstream server for its capabilities (without
// logging in), so that no session opens an upstream connection before its login.
func (r *Relay) Serve(ctx context.Context, p Protocol, l net.Listener) error {
	r.mu.Lock()
	if r.closing {
		r.mu.Unlock()
		l.Close()
		return ErrClosed
	}
	r.listeners[l] = struct{}{}
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.listeners, l)
		r.mu.Unlock()
	}()
	if p == SMTP {
		return r.serveSMTP(ctx, l)
	}
	r.probeCaps(ctx, p)
	for {
		c, err := r.accept(l)
		if err != nil {
			return err
		}
		if !r.track(c) {
			c.Close()
			return ErrClosed
		}
		go func() {
			defer r.untrack(c)
			defer c.Close()
			switch p {
			case IMAP:
				r.serveIMAP(ctx, c)
			case POP3:
				r.servePOP3(ctx, c)
			}
		}()
	}
}

// accept returns l's next connection. It waits out a temporary failure (a timeout) and
// returns ErrClosed once Shutdown has begun.
func (r *Relay) accept(l net.Listener) (net.Conn, error) {
	for {
		c, err := l.Accept()
		if err == nil {
			return c, nil
		}
		r.mu.Lock()
		closing := r.closing
		r.mu.Unlock()
		if closing {
			return nil, ErrClosed
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			return nil, err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (r *Relay) track(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing {
		return false
	}
	r.conns[c] = struct{}{}
	r.wg.Add(1)
	return true
}

func (r *Relay) untrack(c net.Conn) {
	r.mu.Lock()
	delete(r.conns, c)
	r.mu.Unlock()
	r.wg.Done()
}

// Shutdown stops accepting, waits for open sessions to end until ctx is done, then
// closes the rest. It returns ctx's error when sessions had to be cut.
func (r *Relay) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	r.closing = true
	for l := range r.listeners {
		l.Close()
	}
	servers := r.smtpServers
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, srv := range servers {
		wg.Add(1)
		go func() { defer wg.Done(); srv.Shutdown(ctx) }()
	}
	defer wg.Wait()
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		r.mu.Lock()
		for c := range r.conns {
			c.Close()
		}
		r.mu.Unlock()
		<-done
		return ctx.Err()
	}
}

// login checks user and password for a client at ip. It returns the account, or nil
// after the failure delay. A locked-out address is refused at once without the check.
func (r *Relay) login(ctx context.Context, p Protocol, ip netip.Addr, user, password string) *account {
	if !r.limiter.allow(ip) {
		r.log.Warn("login refused: too many failures", "proto", p, "client", ip.String())
		r.sleep(ctx)
		return nil
	}
	acc := r.accounts[strings.ToLower(user)]
	hash := r.dummy
	if acc != nil {
		hash = acc.PasswordHash
	}
	ok := CheckPassword(hash, password) && acc != nil
	if ok {
		return acc
	}
	r.limiter.fail(ip)
	if acc != nil {
		acc.failures.Add(1)
	}
	r.log.Warn("local login failed", "proto", p, "client", ip.String(), "known_user", acc != nil)
	r.sleep(ctx)
	return nil
}

func (r *Relay) sleep(ctx context.Context) {
	t := time.NewTimer(r.o.FailureDelay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

type limiter struct {
	mu     sync.Mutex
	max    int
	window time.Duration
	m      map[netip.Addr]*failures
}

type failures struct {
	n     int
	start time.Time
}

func newLimiter(max int, window time.Duration) *limiter {
	return &limiter{max: max, window: window, m: map[netip.Addr]*failures{}}
}

func (l *limiter) allow(ip netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.m[ip]
	if f == nil {
		return true
	}
	if time.Since(f.start) > l.window {
		delete(l.m, ip)
		return true
	}
	return f.n < l.max
}

func (l *limiter) fail(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if len(l.m) > 100000 { // bound memory: drop expired entries
		for k, f := range l.m {
			if now.Sub(f.start) > l.window {
				delete(l.m, k)
			}
		}
	}
	f := l.m[ip]
	if f == nil || now.Sub(f.start) > l.window {
		f = &failures{start: now}
		l.m[ip] = f
	}
	f.n++
}
