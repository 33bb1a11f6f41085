package relay

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/internal/core/budget"
	"github.com/modernauth/mailauth/internal/core/tlsconf"
)

// The SMTP upstream's EHLO list is read once before the first accept (bounded by
// smtpProbeTimeout) and then again, in the background and without delaying the session,
// when a session starts and the list is older than smtpCapsRefresh, or when the last
// read failed and smtpCapsRetry has passed since.
const (
	smtpProbeTimeout = 30 * time.Second
	smtpCapsRefresh  = time.Hour
	smtpCapsRetry    = time.Minute
	// maxRecipients is the relay's own recipient limit per message.
	maxRecipients = 500
)

// smtpCapState is what the relay knows about the SMTP upstream's extensions.
type smtpCapState struct {
	mu      sync.Mutex
	ext     []string  // the upstream's EHLO extension lines after TLS; nil when unknown
	readAt  time.Time // when ext was read
	tried   time.Time // the last attempt
	probing bool
	// retry and refresh replace smtpCapsRetry and smtpCapsRefresh when set (tests).
	retry, refresh time.Duration
}

// probeSMTP reads the SMTP upstream's EHLO list (no AUTH) and keeps it. On failure it
// logs a warning and keeps what it had (the relay's own list when nothing was read).
func (r *Relay) probeSMTP(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, smtpProbeTimeout)
	defer cancel()
	ext, err := r.fetchSMTPCaps(ctx)
	s := &r.smtpCaps
	s.mu.Lock()
	defer s.mu.Unlock()
	s.probing = false
	s.tried = time.Now()
	if err != nil {
		r.log.Warn("upstream capabilities not read; using defaults", "proto", SMTP, "err", err)
		return
	}
	s.ext, s.readAt = ext, s.tried
}

// refreshSMTPCaps starts a background probe when one is due (see smtpCapsRefresh).
func (r *Relay) refreshSMTPCaps(ctx context.Context) {
	if r.o.SMTP.Addr == "" {
		return
	}
	s := &r.smtpCaps
	s.mu.Lock()
	retry, refresh := cmp.Or(s.retry, smtpCapsRetry), cmp.Or(s.refresh, smtpCapsRefresh)
	due := !s.probing && (s.ext == nil && time.Since(s.tried) >= retry ||
		s.ext != nil && time.Since(s.readAt) >= refresh)
	if due {
		s.probing = true
	}
	s.mu.Unlock()
	if due {
		go r.probeSMTP(ctx)
	}
}

// smtpKeywords are the upstream extensions planFor reads.
var smtpKeywords = []string{"SIZE", "LIMITS", "8BITMIME", "SMTPUTF8", "DSN", "REQUIRETLS", "RRVS", "DELIVERBY", "MT-PRIORITY"}

// fetchSMTPCaps connects to the SMTP upstream with go-smtp's client (implicit TLS, or
// STARTTLS and never plaintext; TLS verified), reads its EHLO answer on the TLS
// connection and quits, without AUTH. It returns the extensions planFor reads, each as
// "KEYWORD params". The upstream may send at most the module's byte budget meanwhile.
func (r *Relay) fetchSMTPCaps(ctx context.Context) ([]string, error) {
	up := r.o.SMTP
	host, _, err := net.SplitHostPort(up.Addr)
	if err != nil {
		return nil, fmt.Errorf("relay: smtp upstream %q: %w", up.Addr, err)
	}
	raw, err := r.o.Dialer.DialContext(ctx, "tcp", up.Addr)
	if err != nil {
		return nil, err
	}
	defer raw.Close()
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		raw.SetDeadline(dl)
	}
	bc := budget.New(raw, 0)
	cfg := tlsconf.Client(r.o.TLSConfig, host)
	fail := func(stage string, err error) error {
		if errors.Is(err, smtp.ErrTooLongLine) { // go-smtp's own line limit
			err = fmt.Errorf("%w (%w)", mailauth.ErrLineTooLong, err)
		}
		return bc.Check("relay: smtp upstream", fmt.Errorf("relay: smtp upstream %s: %s: %w", up.Addr, stage, err))
	}
	var c *smtp.Client
	if up.ImplicitTLS {
		tc := tls.Client(bc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, fail("TLS", err)
		}
		c = smtp.NewClient(tc)
	} else if c, err = smtp.NewClientStartTLS(bc, cfg); err != nil { // refuses a server without STARTTLS
		return nil, fail("STARTTLS", err)
	}
	if err := c.Hello(r.o.Hostname); err != nil { // on the TLS connection
		return nil, fail("EHLO", err)
	}
	var ext []string
	for _, k := range smtpKeywords {
		if ok, param := c.Extension(k); ok {
			ext = append(ext, strings.TrimSpace(k+" "+param))
		}
	}
	c.Quit()
	return ext, nil
}

// extParam returns the parameters of the extension keyword in ext (case-insensitive).
func extParam(ext []string, keyword string) (string, bool) {
	for _, l := range ext {
		k, v, _ := strings.Cut(strings.TrimSpace(l), " ")
		if strings.EqualFold(k, keyword) {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

func hasExt(ext []string, keyword string) bool {
	_, ok := extParam(ext, keyword)
	return ok
}

// smtpPlan is what the relay's go-smtp server shows in EHLO and enforces. It is
// comparable: a new plan means a new server (go-smtp reads its options unlocked).
type smtpPlan struct {
	maxBytes                    int64
	maxRcpt                     int // LIMITS RCPTMAX shown; 0 shows no LIMITS
	utf8, dsn, requireTLS, rrvs bool
	deliverBy                   bool
	minDeliverBy                time.Duration
	mtPriority                  bool
	mtProfile                   smtp.PriorityProfile
	no8bit                      bool // the upstream lacks 8BITMIME: BODY=8BITMIME is refused
}

// smtpPlan returns the plan for the upstream list known now.
func (r *Relay) smtpPlan() smtpPlan {
	r.smtpCaps.mu.Lock()
	ext := r.smtpCaps.ext
	r.smtpCaps.mu.Unlock()
	return r.planFor(ext)
}

// planFor maps the upstream's EHLO extension list to the relay's server options.
//
// Without a list (no SMTP upstream, or it could not be read) the relay shows its own:
// PIPELINING, 8BITMIME, ENHANCEDSTATUSCODES, CHUNKING, STARTTLS (when offered locally),
// AUTH PLAIN LOGIN (on a secure connection), SIZE Options.MaxMessageBytes and LIMITS
// RCPTMAX=500. The graph package states no limit for a whole message sent with sendMail
// (only graph.MaxAttachmentSize per attachment), so a Graph-only relay keeps
// MaxMessageBytes.
//
// With a list the relay shows the upstream's extensions that it honours end to end:
//   - SIZE: the smaller of the upstream's and MaxMessageBytes, enforced at MAIL FROM
//     (552 5.3.4 before DATA) and while reading DATA or BDAT.
//   - LIMITS RCPTMAX: the smaller of the upstream's and 500, only if the upstream shows
//     it (the relay's 500 still applies otherwise).
//   - SMTPUTF8, DSN, REQUIRETLS, RRVS, DELIVERBY, MT-PRIORITY: the MAIL and RCPT
//     parameters go to the upstream unchanged (REQUIRETLS: the upstream leg is always
//     verified TLS). Not shown when an account sends through Graph, which cannot
//     honour them.
//   - AUTH is replaced by the local mechanisms and STARTTLS shown only when the relay
//     offers it locally (go-smtp's own rules).
//
// Everything else the upstream shows is dropped: BINARYMIME (the relay sends with DATA),
// BURL, VRFY, ETRN, XCLIENT, vendor X- extensions and the like.
//
// go-smtp v0.25.1 always shows PIPELINING, 8BITMIME, ENHANCEDSTATUSCODES, CHUNKING and
// SIZE; they are harmless when the upstream lacks them. PIPELINING,
// ENHANCEDSTATUSCODES and CHUNKING concern only the client's hop: go-smtp serves them,
// joins BDAT chunks, and the relay sends the message upstream with DATA. SIZE is the
// relay's own limit, enforced. 8BITMIME: every submission server we know shows it; for
// one that does not, MAIL FROM with BODY=8BITMIME is refused with 554 5.6.3 rather than
// passing 8-bit data to a 7-bit server.
func (r *Relay) planFor(ext []string) smtpPlan {
	p := smtpPlan{maxBytes: r.o.MaxMessageBytes, maxRcpt: maxRecipients}
	if ext == nil {
		return p
	}
	if v, ok := extParam(ext, "SIZE"); ok {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 && n < p.maxBytes {
			p.maxBytes = n
		}
	}
	p.maxRcpt = 0
	if v, ok := extParam(ext, "LIMITS"); ok {
		for _, f := range strings.Fields(v) {
			if n, ok := cutPrefixFold(f, "RCPTMAX="); ok {
				if k, err := strconv.Atoi(n); err == nil && k > 0 {
					p.maxRcpt = min(k, maxRecipients)
				}
			}
		}
	}
	p.no8bit = !hasExt(ext, "8BITMIME")
	for _, a := range r.order {
		if a.Graph != nil {
			return p
		}
	}
	p.utf8 = hasExt(ext, "SMTPUTF8")
	p.dsn = hasExt(ext, "DSN")
	p.requireTLS = hasExt(ext, "REQUIRETLS")
	p.rrvs = hasExt(ext, "RRVS")
	if v, ok := extParam(ext, "DELIVERBY"); ok {
		p.deliverBy = true
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			p.minDeliverBy = time.Duration(n) * time.Second
		}
	}
	if v, ok := extParam(ext, "MT-PRIORITY"); ok {
		switch prof := smtp.PriorityProfile(strings.ToUpper(v)); prof {
		case smtp.PriorityUnspecified, smtp.PriorityMIXER, smtp.PrioritySTANAG4406, smtp.PriorityNSEP:
			p.mtPriority, p.mtProfile = true, prof
		}
	}
	return p
}

// apply sets srv's options from p.
func (p smtpPlan) apply(srv *smtp.Server) {
	srv.MaxMessageBytes = p.maxBytes
	srv.MaxRecipients = p.maxRcpt
	srv.EnableSMTPUTF8 = p.utf8
	srv.EnableDSN = p.dsn
	srv.EnableREQUIRETLS = p.requireTLS
	srv.EnableRRVS = p.rrvs
	srv.EnableDELIVERBY = p.deliverBy
	srv.MinimumDeliverByTime = p.minDeliverBy
	srv.EnableMTPRIORITY = p.mtPriority
	srv.MtPriorityProfile = p.mtProfile
	srv.EnableBINARYMIME = false
}

// smtpFront hands one listener's connections to a go-smtp server built for the current
// plan; when the plan changes, later connections go to a new server and the old one
// keeps its sessions.
type smtpFront struct {
	r    *Relay
	tls  *tls.Config // for STARTTLS; nil on an implicit-TLS listener
	addr net.Addr
	plan smtpPlan
	ln   *chanListener
}

// hand passes c to the server for the current plan. It reports false when the relay
// is closing.
func (f *smtpFront) hand(c net.Conn) bool {
	if f.r.trace != nil {
		// go-smtp has one debug writer per server: a traced session gets a server
		// of its own, which ends its accept loop once it has the connection.
		tr := f.r.newTracer(SMTP, c)
		srv := f.r.smtpServerFor(f.r.smtpPlan(), tr)
		srv.TLSConfig = f.tls
		srv.Debug = &smtpTrace{t: tr}
		ln := newChanListener(f.addr)
		go srv.Serve(ln)
		defer ln.Close()
		return ln.deliver(c)
	}
	if p := f.r.smtpPlan(); f.ln == nil || p != f.plan {
		srv := f.r.smtpServerFor(p, nil)
		srv.TLSConfig = f.tls
		ln := newChanListener(f.addr)
		f.r.mu.Lock()
		if f.r.closing {
			f.r.mu.Unlock()
			return false
		}
		f.r.smtpServers = append(f.r.smtpServers, srv)
		f.r.mu.Unlock()
		go srv.Serve(ln)
		if f.ln != nil {
			f.ln.Close()
		}
		f.plan, f.ln = p, ln
	}
	return f.ln.deliver(c)
}

func (f *smtpFront) close() {
	if f.ln != nil {
		f.ln.Close()
	}
}

// chanListener is a net.Listener whose connections are handed to it.
type chanListener struct {
	addr   net.Addr
	c      chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, c: make(chan net.Conn), closed: make(chan struct{})}
}

// deliver waits until the server accepts c; it reports false once the listener is
// closed.
func (l *chanListener) deliver(c net.Conn) bool {
	select {
	case l.c <- c:
		return true
	case <-l.closed:
		return false
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.c:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error   { l.once.Do(func() { close(l.closed) }); return nil }
func (l *chanListener) Addr() net.Addr { return l.addr }

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return "", false
}
