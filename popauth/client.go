package popauth

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/internal/core/budget"
	"github.com/modernauth/mailauth/internal/core/redact"
	"github.com/modernauth/mailauth/internal/core/tlsconf"
)

// Options configures [DialTLS], [DialStartTLS] and [NewClient]. A nil *Options is
// the zero value. The struct is copied on entry.
type Options struct {
	// Token supplies access tokens; TokenContext and Invalidate are used when present
	// (see [mailauth.ContextTokenSource] and [mailauth.Invalidator]). When set, the
	// dialers and NewClient log in as Mailbox before returning; when nil, they return
	// an unauthenticated session (for [Client.Capa] and the like) and Mailbox must be
	// empty too.
	Token oauth2.TokenSource

	// Mailbox is the mailbox to open: the SASL user (XOAUTH2 "user=",
	// OAUTHBEARER "a="). For a shared mailbox or an app-only token it is the
	// mailbox's address, not the token's user. Required with Token.
	Mailbox string

	// Mechanism is "XOAUTH2" (the default when empty) or "OAUTHBEARER".
	// OAUTHBEARER is used only when the server lists it in CAPA's SASL
	// line; otherwise XOAUTH2 is used. A server that lists SASL mechanisms
	// but neither of these gets [ErrNoMechanism].
	Mechanism string

	// NoProbe skips the STAT sent after a successful login. Then a token
	// whose user may not open the mailbox surfaces on the first command
	// instead of as a [*mailauth.MailboxAccessError].
	NoProbe bool

	// TLSConfig is used for implicit TLS and STLS. If nil, a default config
	// is used. An empty ServerName is set to the host of the address dialled.
	TLSConfig *tls.Config

	// Dialer dials the TCP connection. If nil, a zero net.Dialer is used.
	// Set LocalAddr here to choose the source address.
	Dialer *net.Dialer

	// InsecureAllowPlaintext lets Authenticate send a token over a
	// connection that is not TLS, to a loopback address only (127.0.0.0/8,
	// ::1): for test servers.
	InsecureAllowPlaintext bool

	// Logger receives debug records of commands sent (verbs only, never
	// arguments of AUTH) and of token retries. If nil, nothing is logged.
	Logger *slog.Logger

	// DebugWriter, when set, receives the protocol trace: every line the client sends,
	// prefixed "C: ", and every reply line the server sends, prefixed "S: " (the lines
	// of listings included, message bodies of RETR and TOP not). SASL responses are
	// replaced by [REDACTED], and the trace passes through the module's redactor, so no
	// token appears in it. The same knob as imapauth's and smtpauth's Options.DebugWriter.
	DebugWriter io.Writer
}

func (o *Options) mechanism() string {
	if o.Mechanism == "" {
		return XOAuth2
	}
	return strings.ToUpper(o.Mechanism)
}

// MessageInfo is one line of a LIST reply.
type MessageInfo struct {
	Number int   // message number, from 1
	Size   int64 // size in octets as the server counts them (with CRLF line endings)
}

// UIDInfo is one line of a UIDL reply.
type UIDInfo struct {
	Number int    // message number, from 1
	UID    string // the server's unique id, stable across sessions
}

// Client is a POP3 session. It is not safe for concurrent use: issue one
// command at a time. A reader returned by [Client.Retr] or [Client.Top] must be
// read to the end or closed before the next command; the next command
// drains it if it was not.
type Client struct {
	conn   net.Conn
	br     *bufio.Reader
	opts   Options
	trace  io.Writer // redacting; nil without Options.DebugWriter
	host   string    // for TLS ServerName
	secure bool
	caps   map[string][]string
	broken bool
	open   *bodyReader // the unread RETR/TOP body, if any
	expiry time.Time
	mech   string // the mechanism of the last successful login

	detached bool // Detach handed the connection over
}

// DialTLS connects to addr ("host:995") with implicit TLS, reads the greeting
// and the capabilities, and, if opts.Token is set, authenticates. ctx
// bounds all of it. On error the connection is closed.
//
// Until the session is set up the server may send at most 256 KiB (TLS records included);
// one endless line or endless capability lines fail the dial with an error wrapping
// [mailauth.ErrLineTooLong].
func DialTLS(ctx context.Context, addr string, opts *Options) (*Client, error) {
	o, err := copyOptions(opts)
	if err != nil {
		return nil, err
	}
	raw, host, err := dial(ctx, addr, &o)
	if err != nil {
		return nil, err
	}
	bc := budget.New(raw, 0)
	tc := tls.Client(bc, tlsconf.Client(o.TLSConfig, host))
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, bc.Check("popauth: TLS handshake with "+addr, fmt.Errorf("popauth: TLS handshake with %s: %w", addr, err))
	}
	return startBudget(ctx, tc, bc, host, &o, false)
}

// DialStartTLS connects to addr ("host:110") in plaintext, upgrades the
// connection with STLS (RFC 2595) before anything else, and then behaves like
// [DialTLS]. If the server refuses STLS, it returns an error wrapping
// [ErrSTLSUnavailable]; no token is ever sent in plaintext.
func DialStartTLS(ctx context.Context, addr string, opts *Options) (*Client, error) {
	o, err := copyOptions(opts)
	if err != nil {
		return nil, err
	}
	raw, host, err := dial(ctx, addr, &o)
	if err != nil {
		return nil, err
	}
	bc := budget.New(raw, 0)
	return startBudget(ctx, bc, bc, host, &o, true)
}

// NewClient starts a session on an established connection: it reads the
// greeting and the capabilities and, if opts.Token is set,
// authenticates. The connection counts as secure only if it is a
// *tls.Conn. ctx bounds the I/O. On error the connection is closed.
func NewClient(ctx context.Context, conn net.Conn, opts *Options) (*Client, error) {
	o, err := copyOptions(opts)
	if err != nil {
		conn.Close()
		return nil, err
	}
	host, _, err := net.SplitHostPort(conn.RemoteAddr().String())
	if err != nil {
		host = conn.RemoteAddr().String()
	}
	return start(ctx, conn, host, &o, false)
}

func copyOptions(opts *Options) (Options, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	switch {
	case o.Token == nil && o.Mailbox != "":
		return o, errors.New("popauth: Options.Token must be set (Options.Mailbox is set)")
	case o.Token != nil && o.Mailbox == "":
		return o, errors.New("popauth: Options.Mailbox must be set")
	}
	return o, nil
}

func dial(ctx context.Context, addr string, o *Options) (net.Conn, string, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, "", fmt.Errorf("popauth: bad address %q: %w", addr, err)
	}
	d := o.Dialer
	if d == nil {
		d = &net.Dialer{}
	}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("popauth: %w", err)
	}
	return conn, host, nil
}

// startBudget is start on a connection dialled here, whose server may send
// no more than bc's budget until the session is set up.
func startBudget(ctx context.Context, conn net.Conn, bc *budget.Conn, host string, o *Options, stls bool) (*Client, error) {
	c, err := start(ctx, conn, host, o, stls)
	if err != nil {
		return nil, bc.Check("popauth", err)
	}
	bc.Disarm()
	return c, nil
}

func start(ctx context.Context, conn net.Conn, host string, o *Options, stls bool) (*Client, error) {
	c := &Client{conn: conn, br: bufio.NewReaderSize(conn, 4096), opts: *o, host: host}
	if o.DebugWriter != nil {
		c.trace = redact.NewWriter(o.DebugWriter)
	}
	_, c.secure = conn.(*tls.Conn)
	if err := c.greeting(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	// CAPA is optional (RFC 2449); a server without it answers -ERR.
	if err := c.Capa(ctx); err != nil && !isServerErr(err) {
		conn.Close()
		return nil, err
	}
	if stls {
		if err := c.StartTLS(ctx); err != nil {
			conn.Close()
			return nil, err
		}
	}
	if o.Token != nil {
		if err := c.Authenticate(ctx, o.Mailbox, o.Token); err != nil {
			c.conn.Close()
			return nil, err
		}
	}
	return c, nil
}

func isServerErr(err error) bool {
	var pe *Error
	return errors.As(err, &pe)
}

func (c *Client) greeting(ctx context.Context) error {
	stop := c.watch(ctx)
	defer stop()
	r, err := c.readReply(ctx, "greeting")
	if err != nil {
		return err
	}
	if r.kind != replyOK {
		return &Error{Command: "greeting", Code: r.code, Text: r.text}
	}
	return nil
}

// aLongTimeAgo is a deadline in the past that makes blocked I/O return.
var aLongTimeAgo = time.Unix(1, 0)

// watch applies ctx's deadline to the connection and interrupts I/O when
// ctx is cancelled. The returned func undoes it.
func (c *Client) watch(ctx context.Context) func() {
	dl, _ := ctx.Deadline()
	c.conn.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { c.conn.SetDeadline(aLongTimeAgo) })
	return func() {
		stop()
	}
}

// ioErr turns an I/O failure into the error returned to the caller and
// marks the client broken.
func (c *Client) ioErr(ctx context.Context, what string, err error) error {
	c.broken = true
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("popauth: %s: %w", what, ctxErr)
	}
	return fmt.Errorf("popauth: %s: %w", what, err)
}

func (c *Client) readReply(ctx context.Context, what string) (reply, error) {
	line, err := readLine(c.br)
	if err != nil {
		return reply{}, c.ioErr(ctx, what, err)
	}
	c.traceLine("S: ", line)
	r, err := parseReply(line)
	if err != nil {
		c.broken = true
		return reply{}, fmt.Errorf("popauth: %s: %w", what, err)
	}
	return r, nil
}

func (c *Client) writeLine(ctx context.Context, what, line string) error {
	if c.opts.Logger != nil {
		c.opts.Logger.LogAttrs(ctx, slog.LevelDebug, "pop3 command", slog.String("command", what))
	}
	if _, err := io.WriteString(c.conn, line+"\r\n"); err != nil {
		return c.ioErr(ctx, what, err)
	}
	if what == "AUTH" && !strings.HasPrefix(line, "AUTH ") && line != "*" {
		line = redact.Mask // a SASL response
	}
	c.traceLine("C: ", line)
	return nil
}

// traceLine writes one line to the protocol trace, if there is one.
func (c *Client) traceLine(dir, line string) {
	if c.trace != nil {
		io.WriteString(c.trace, dir+line+"\n")
	}
}

// prepare checks that a command may be sent and drains an unread body.
func (c *Client) prepare(ctx context.Context) error {
	if c.broken {
		return ErrBroken
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("popauth: %w", err) // nothing sent: the session is intact
	}
	if c.open != nil {
		b := c.open
		c.open = nil
		if err := b.d.drain(); err != nil {
			b.stop()
			return c.ioErr(ctx, "draining the previous message", err)
		}
		b.stop()
	}
	return nil
}

// cmd sends one command and reads its status line. An -ERR reply is
// returned as *Error.
func (c *Client) cmd(ctx context.Context, verb string, args ...string) (reply, error) {
	if err := c.prepare(ctx); err != nil {
		return reply{}, err
	}
	stop := c.watch(ctx)
	defer stop()
	return c.cmdLocked(ctx, verb, args...)
}

func (c *Client) cmdLocked(ctx context.Context, verb string, args ...string) (reply, error) {
	line := verb
	if len(args) > 0 {
		line += " " + strings.Join(args, " ")
	}
	if err := c.writeLine(ctx, verb, line); err != nil {
		return reply{}, err
	}
	r, err := c.readReply(ctx, verb)
	if err != nil {
		return reply{}, err
	}
	switch r.kind {
	case replyOK:
		return r, nil
	case replyErr:
		return r, &Error{Command: verb, Code: r.code, Text: r.text}
	}
	c.broken = true
	return r, fmt.Errorf("popauth: %s: %w: unexpected continuation", verb, ErrMalformedReply)
}

// multi sends a command whose +OK is followed by a dot-terminated listing.
func (c *Client) multi(ctx context.Context, maxLines int, verb string, args ...string) ([]string, error) {
	if err := c.prepare(ctx); err != nil {
		return nil, err
	}
	stop := c.watch(ctx)
	defer stop()
	if _, err := c.cmdLocked(ctx, verb, args...); err != nil {
		return nil, err
	}
	lines, err := readDotLines(c.br, maxLines)
	for _, l := range lines {
		c.traceLine("S: ", l)
	}
	if err != nil {
		if errors.Is(err, ErrMalformedReply) {
			c.broken = true
			return nil, fmt.Errorf("popauth: %s: %w", verb, err)
		}
		return nil, c.ioErr(ctx, verb, err)
	}
	return lines, nil
}

// Capa sends CAPA (RFC 2449) and stores the result, which
// [Client.Capabilities] returns. A server without CAPA answers -ERR, returned
// as [*Error].
func (c *Client) Capa(ctx context.Context) error {
	lines, err := c.multi(ctx, 1000, "CAPA")
	if err != nil {
		c.caps = map[string][]string{}
		if tm := (*tooManyLines)(nil); errors.As(err, &tm) {
			return fmt.Errorf("popauth: CAPA: %w: endless capability lines (%w)", mailauth.ErrLineTooLong, err)
		}
		return err
	}
	c.caps = parseCapa(lines)
	return nil
}

// Capabilities returns the capabilities from the last CAPA, keyed by the
// upper-cased name, with their arguments (for SASL, the mechanisms). It does
// no I/O. The map must not be modified.
func (c *Client) Capabilities() map[string][]string { return c.caps }

// HasCapability reports whether the last CAPA listed name. It does no I/O.
func (c *Client) HasCapability(name string) bool {
	_, ok := c.caps[strings.ToUpper(name)]
	return ok
}

// SupportsMechanism reports whether CAPA's SASL line lists mech. It does no
// I/O.
func (c *Client) SupportsMechanism(mech string) bool {
	for _, m := range c.caps["SASL"] {
		if strings.EqualFold(m, mech) {
			return true
		}
	}
	return false
}

// IsTLS reports whether the connection is TLS. It does no I/O.
func (c *Client) IsTLS() bool { return c.secure }

// TLSConnectionState returns the TLS state, and false on a plaintext
// connection. It does no I/O.
func (c *Client) TLSConnectionState() (tls.ConnectionState, bool) {
	tc, ok := c.conn.(*tls.Conn)
	if !ok {
		return tls.ConnectionState{}, false
	}
	return tc.ConnectionState(), true
}

// Mechanism returns the SASL mechanism of the last successful login, or ""
// before one. It does no I/O.
func (c *Client) Mechanism() string { return c.mech }

// TokenExpiry returns the expiry of the token the session logged in with,
// or the zero time before a login or when the token had none. Servers such
// as Exchange end the session when it passes; dial again before then.
func (c *Client) TokenExpiry() time.Time { return c.expiry }

// StartTLS sends STLS and upgrades the connection, then refreshes the
// capabilities (they may differ after TLS). It fails with
// [ErrSTLSUnavailable] when the server refuses.
func (c *Client) StartTLS(ctx context.Context) error {
	if c.secure {
		return errors.New("popauth: STLS: the connection is already TLS")
	}
	if err := c.prepare(ctx); err != nil {
		return err
	}
	stop := c.watch(ctx)
	_, err := c.cmdLocked(ctx, "STLS")
	stop()
	if err != nil {
		if isServerErr(err) {
			return fmt.Errorf("%w: %w", ErrSTLSUnavailable, err)
		}
		return err
	}
	if c.br.Buffered() > 0 {
		// Anything the server sent after +OK but before the handshake could
		// have been injected by a man in the middle (CVE-2011-0411 class).
		c.broken = true
		return fmt.Errorf("popauth: STLS: %w: data after the +OK reply before the TLS handshake", ErrMalformedReply)
	}
	tc := tls.Client(c.conn, tlsconf.Client(c.opts.TLSConfig, c.host))
	if err := tc.HandshakeContext(ctx); err != nil {
		c.broken = true
		return fmt.Errorf("popauth: STLS handshake: %w", err)
	}
	c.conn = tc
	c.br.Reset(tc)
	c.secure = true
	if err := c.Capa(ctx); err != nil && !isServerErr(err) {
		return err
	}
	return nil
}

// Stat sends STAT and returns the number of messages and their total size
// in octets.
func (c *Client) Stat(ctx context.Context) (count int, size int64, err error) {
	r, err := c.cmd(ctx, "STAT")
	if err != nil {
		return 0, 0, err
	}
	n, s, err := parseScanListing(r.text)
	if err != nil {
		return 0, 0, fmt.Errorf("popauth: STAT: %w", err)
	}
	return n, s, nil
}

// List sends LIST and returns the number and size of every message not
// marked as deleted.
func (c *Client) List(ctx context.Context) ([]MessageInfo, error) {
	lines, err := c.multi(ctx, 10_000_000, "LIST")
	if err != nil {
		return nil, err
	}
	out := make([]MessageInfo, 0, len(lines))
	for _, l := range lines {
		n, s, err := parseScanListing(l)
		if err != nil {
			return nil, fmt.Errorf("popauth: LIST: %w", err)
		}
		out = append(out, MessageInfo{Number: n, Size: s})
	}
	return out, nil
}

// ListMessage sends "LIST n" and returns the size of message n.
func (c *Client) ListMessage(ctx context.Context, n int) (MessageInfo, error) {
	r, err := c.cmd(ctx, "LIST", strconv.Itoa(n))
	if err != nil {
		return MessageInfo{}, err
	}
	num, s, err := parseScanListing(r.text)
	if err != nil {
		return MessageInfo{}, fmt.Errorf("popauth: LIST: %w", err)
	}
	return MessageInfo{Number: num, Size: s}, nil
}

// UIDL sends UIDL and returns the unique id of every message not marked as
// deleted.
func (c *Client) UIDL(ctx context.Context) ([]UIDInfo, error) {
	lines, err := c.multi(ctx, 10_000_000, "UIDL")
	if err != nil {
		return nil, err
	}
	out := make([]UIDInfo, 0, len(lines))
	for _, l := range lines {
		n, uid, err := parseUIDListing(l)
		if err != nil {
			return nil, fmt.Errorf("popauth: UIDL: %w", err)
		}
		out = append(out, UIDInfo{Number: n, UID: uid})
	}
	return out, nil
}

// UIDLMessage sends "UIDL n" and returns the unique id of message n.
func (c *Client) UIDLMessage(ctx context.Context, n int) (UIDInfo, error) {
	r, err := c.cmd(ctx, "UIDL", strconv.Itoa(n))
	if err != nil {
		return UIDInfo{}, err
	}
	num, uid, err := parseUIDListing(r.text)
	if err != nil {
		return UIDInfo{}, fmt.Errorf("popauth: UIDL: %w", err)
	}
	return UIDInfo{Number: num, UID: uid}, nil
}

// Retr sends "RETR n" and returns the message as a stream, with the
// dot-stuffing removed and the line endings as the server sent them (CRLF).
// ctx bounds the command and every read from the stream. Read it to io.EOF
// or Close it before the next command; Close reads and discards the rest.
func (c *Client) Retr(ctx context.Context, n int) (io.ReadCloser, error) {
	return c.body(ctx, "RETR", strconv.Itoa(n))
}

// Top sends "TOP n lines" and returns the message's header and the first
// lines of its body as a stream, like [Client.Retr].
func (c *Client) Top(ctx context.Context, n, lines int) (io.ReadCloser, error) {
	if lines < 0 {
		return nil, errors.New("popauth: TOP: negative line count")
	}
	return c.body(ctx, "TOP", strconv.Itoa(n), strconv.Itoa(lines))
}

func (c *Client) body(ctx context.Context, verb string, args ...string) (io.ReadCloser, error) {
	if err := c.prepare(ctx); err != nil {
		return nil, err
	}
	stop := c.watch(ctx)
	if _, err := c.cmdLocked(ctx, verb, args...); err != nil {
		stop()
		return nil, err
	}
	b := &bodyReader{c: c, ctx: ctx, d: newDotReader(c.br), stop: stop, verb: verb}
	c.open = b
	return b, nil
}

// bodyReader is the stream returned by Retr and Top.
type bodyReader struct {
	c      *Client
	ctx    context.Context
	d      *dotReader
	stop   func()
	verb   string
	closed bool
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.closed {
		return 0, errors.New("popauth: read from a closed message reader")
	}
	if b.c.open != b {
		return 0, errors.New("popauth: message reader used after a later command")
	}
	n, err := b.d.Read(p)
	if err == io.EOF {
		b.finish()
		return n, io.EOF
	}
	if err != nil {
		b.finish()
		return n, b.c.ioErr(b.ctx, b.verb, err)
	}
	return n, nil
}

func (b *bodyReader) finish() {
	if b.c.open == b {
		b.c.open = nil
		b.stop()
	}
}

// Close discards the rest of the message so the session can continue.
func (b *bodyReader) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	if b.c.open != b {
		return nil
	}
	err := b.d.drain()
	b.finish()
	if err != nil {
		return b.c.ioErr(b.ctx, b.verb, err)
	}
	return nil
}

// Dele marks message n as deleted; the server removes it at QUIT.
func (c *Client) Dele(ctx context.Context, n int) error {
	_, err := c.cmd(ctx, "DELE", strconv.Itoa(n))
	return err
}

// Rset unmarks every message marked as deleted in this session.
func (c *Client) Rset(ctx context.Context) error {
	_, err := c.cmd(ctx, "RSET")
	return err
}

// Noop sends NOOP. It keeps the session alive and checks that it is.
func (c *Client) Noop(ctx context.Context) error {
	_, err := c.cmd(ctx, "NOOP")
	return err
}

// Quit sends QUIT, which makes the server remove the messages marked as
// deleted, and closes the connection. The connection is closed even when
// QUIT fails.
func (c *Client) Quit(ctx context.Context) error {
	if c.detached {
		return ErrBroken
	}
	_, err := c.cmd(ctx, "QUIT")
	cerr := c.conn.Close()
	c.broken = true
	if err != nil {
		return err
	}
	if cerr != nil && !errors.Is(cerr, net.ErrClosed) {
		return fmt.Errorf("popauth: %w", cerr)
	}
	return nil
}

// Close closes the connection without QUIT: messages marked as deleted stay.
func (c *Client) Close() error {
	c.broken = true
	if c.detached {
		return nil
	}
	if err := c.conn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("popauth: %w", err)
	}
	return nil
}

// Detach hands the connection over, for a proxy that copies bytes both ways after
// the login: it returns the connection and the reader holding what the server sent
// that the Client has read but not used. Read the reader's buffered bytes
// (Buffered, Peek) before the connection, or read through the reader. Detach sends
// nothing and clears the deadlines the Client set. Afterwards the Client is
// unusable: its commands return [ErrBroken], and Close and Quit leave the
// connection alone; closing it is the caller's job. An unread RETR or TOP body
// stays in the reader.
func (c *Client) Detach() (net.Conn, *bufio.Reader) {
	c.broken, c.detached = true, true
	c.open = nil
	_ = c.conn.SetDeadline(time.Time{})
	return c.conn, c.br
}
