package imapauth

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/internal/core/budget"
	"github.com/modernauth/mailauth/internal/core/redact"
	"github.com/modernauth/mailauth/internal/core/sasl"
	"github.com/modernauth/mailauth/internal/core/tlsconf"
)

// RawConn is an IMAP connection that imapauth drives line by line, without imapclient,
// for proxies that log in upstream and then copy bytes both ways. imapclient reads from
// its connection in a goroutine of its own, so it cannot hand the connection back;
// RawConn can ([RawConn.Detach]). Dial it with [DialTLSRaw] or [DialStartTLSRaw].
//
// The login follows the same rules as [DialTLS], from the same code: the mechanism
// choice, the initial response only when the server advertises SASL-IR, the answer to an
// error challenge, one retry with a fresh token after a refused one (when the source can
// invalidate), the LIST "" "" probe whose "BAD User is authenticated but not connected."
// becomes a [*mailauth.MailboxAccessError], a [*mailauth.AuthError] with a hint for a
// refusal, the byte budget until the login ends ([mailauth.ErrLineTooLong]) and the
// redacted trace (Options.DebugWriter; its lines start "C: " and "S: ", as popauth's and
// smtpauth's do). Options.Conn and Options.Client do not apply.
//
// A RawConn is not safe for concurrent use.
type RawConn struct {
	o        *config
	addr     string
	startTLS bool
	conn     net.Conn
	br       *bufio.Reader
	bc       *budget.Conn
	trace    io.Writer // redacted; nil without Options.DebugWriter
	caps     []string
	tags     int
	bye      string
	authText string
	mech     string
	identity mailauth.Identity
	expiry   time.Time
	detached bool
}

// maxRawRounds stops a server that keeps sending continuations during AUTHENTICATE.
const maxRawRounds = 8

// maxRawLiteral bounds a literal in a server response read by RawConn.
const maxRawLiteral = 64 << 10

// DialTLSRaw connects to addr ("host:993") with implicit TLS, reads the greeting and the
// capabilities and, when opts.Token is set, logs in as opts.Mailbox and probes the
// session. With opts.Token nil (and Mailbox empty) it returns the connection before
// login, for [RawConn.Capabilities]. ctx bounds all of it; on error nothing is left open.
//
// Until the login ends the server may send at most 256 KiB (TLS records included);
// more fails the dial with an error wrapping [mailauth.ErrLineTooLong].
func DialTLSRaw(ctx context.Context, addr string, opts *Options) (*RawConn, error) {
	return dialRaw(ctx, addr, opts, false)
}

// DialStartTLSRaw is like [DialTLSRaw] but connects in plaintext (port 143) and upgrades
// with STARTTLS before anything else; it never continues in plaintext.
func DialStartTLSRaw(ctx context.Context, addr string, opts *Options) (*RawConn, error) {
	return dialRaw(ctx, addr, opts, true)
}

func dialRaw(ctx context.Context, addr string, opts *Options, startTLS bool) (*RawConn, error) {
	o := &config{}
	if opts != nil {
		o.Options = *opts
	}
	switch {
	case o.Token == nil && o.Mailbox != "":
		return nil, errors.New("imapauth: Options.Token must be set (Options.Mailbox is set)")
	case o.Token != nil:
		if err := o.validate(); err != nil {
			return nil, err
		}
	}
	if h, p, err := net.SplitHostPort(addr); err == nil {
		o.host = h
		o.port, _ = strconv.Atoi(p)
	}
	c, err := connectRaw(ctx, addr, o, startTLS)
	if err != nil {
		return nil, err
	}
	if o.Token == nil {
		return c, nil
	}
	if err := c.login(ctx); err != nil {
		c.conn.Close()
		return nil, err
	}
	return c, nil
}

// connectRaw dials, upgrades to TLS, reads the greeting and asks for the capabilities.
func connectRaw(ctx context.Context, addr string, o *config, startTLS bool) (*RawConn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("imapauth: bad address %q: %w", addr, err)
	}
	raw, err := o.dialer().DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("imapauth: dialing %s: %w", addr, err)
	}
	stop := watchContext(ctx, raw)
	defer stop()
	bc := budget.New(raw, 0)
	if startTLS {
		if err := startTLSRaw(bc); err != nil {
			raw.Close()
			return nil, bc.Check("imapauth: reading the greeting or the STARTTLS reply", err)
		}
	}
	tc := tls.Client(bc, tlsconf.Client(o.TLSConfig, host, "imap"))
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, bc.Check("imapauth: TLS handshake with "+addr, fmt.Errorf("imapauth: TLS handshake with %s: %w", addr, err))
	}
	c := &RawConn{o: o, addr: addr, startTLS: startTLS, conn: tc, br: bufio.NewReaderSize(tc, 4096), bc: bc}
	if o.DebugWriter != nil {
		c.trace = redact.NewWriter(o.DebugWriter)
	}
	if err := c.greetAndCaps(); err != nil {
		tc.Close()
		return nil, bc.Check("imapauth", err)
	}
	return c, nil
}

func (c *RawConn) greetAndCaps() error {
	if !c.startTLS { // after STARTTLS there is no second greeting
		l, err := c.line()
		if err != nil {
			return fmt.Errorf("imapauth: reading greeting: %w", err)
		}
		if err := checkGreeting(l); err != nil {
			return err
		}
	}
	untagged, _, err := c.command("CAPABILITY")
	if err != nil {
		return fmt.Errorf("imapauth: CAPABILITY: %w", err)
	}
	for _, l := range untagged {
		if len(l) > 13 && strings.EqualFold(l[:13], "* CAPABILITY ") {
			c.caps = append(c.caps, strings.Fields(l[13:])...)
		}
	}
	return nil
}

// login authenticates, retrying once with a fresh token after a refused one: on the same
// connection when the server answered NO or BAD, on a new one when it hung up.
func (c *RawConn) login(ctx context.Context) error {
	tok, err := c.authOnce(ctx, false)
	if retryWithFreshToken(ctx, c.o, err, tok) {
		c.o.log("imapauth: token refused; invalidated it, retrying once with a fresh token", "mailbox", c.o.Mailbox)
		var ie *imap.Error
		if !errors.As(err, &ie) {
			nc, derr := connectRaw(ctx, c.addr, c.o, c.startTLS)
			if derr != nil {
				return derr
			}
			c.conn.Close()
			*c = *nc
		}
		_, err = c.authOnce(ctx, true)
	}
	if err != nil {
		return c.bc.Check("imapauth", err)
	}
	c.bc.Disarm()
	return nil
}

// authOnce runs one AUTHENTICATE and the probe.
func (c *RawConn) authOnce(ctx context.Context, retried bool) (*oauth2.Token, error) {
	stop := watchContext(ctx, c.conn)
	defer stop()
	caps := c.capSet()
	mech := chooseMechanism(caps, c.o.Mechanism)
	if mech == "" {
		return nil, ErrNoOAuthMechanism
	}
	sc, tok, err := newSASLClient(ctx, c.o, mech, caps, retried)
	if err != nil {
		return nil, err
	}
	_, ir, err := sc.Start()
	if err != nil {
		return tok, fmt.Errorf("imapauth: %w", err)
	}
	tag := c.nextTag()
	cmd := tag + " AUTHENTICATE " + mech
	if useSASLIR(caps) {
		cmd += " " + base64.StdEncoding.EncodeToString(ir)
		ir = nil
	}
	text := ""
	err = c.send(cmd)
	if err == nil {
		text, err = c.exchange(tag, sc, ir)
	}
	if err != nil {
		if ctx.Err() != nil {
			return tok, fmt.Errorf("imapauth: authenticating: %w", ctx.Err())
		}
		return tok, authFailure(c.o, mech, sc, retried, err, c.bye)
	}
	c.authText, c.mech, c.identity, c.expiry = text, mech, sc.Identity(), sc.Expiry()
	if c.o.NoProbe {
		return tok, nil
	}
	if _, _, err := c.command(`LIST "" ""`); err != nil {
		if ctx.Err() != nil {
			return tok, fmt.Errorf("imapauth: probing the session: %w", ctx.Err())
		}
		return tok, probeFailure(c.o, sc.Identity(), err)
	}
	return tok, nil
}

// exchange reads the server's side of AUTHENTICATE: it answers each continuation (with
// ir first when it was not sent on the command line, then through sc, which answers an
// error challenge) until the tagged status, whose text it returns.
func (c *RawConn) exchange(tag string, sc *sasl.Client, ir []byte) (string, error) {
	for rounds := 0; ; {
		l, err := c.line()
		if err != nil {
			return "", err
		}
		if rest, ok := strings.CutPrefix(l, tag+" "); ok {
			return rest, statusError(rest)
		}
		if !strings.HasPrefix(l, "+") {
			continue // untagged data; a BYE is recorded by line
		}
		rounds++
		chal, derr := base64.StdEncoding.DecodeString(strings.TrimSpace(l[1:]))
		resp := ir
		switch {
		case ir != nil:
			ir = nil
		case rounds > maxRawRounds || derr != nil:
			err = errors.New("imapauth: the server's challenge is not base64, or too many")
		default:
			resp, err = sc.Next(chal)
		}
		if err != nil { // cancel; the server answers BAD
			if err := c.send("*"); err != nil {
				return "", err
			}
			continue
		}
		if err := c.send(base64.StdEncoding.EncodeToString(resp)); err != nil {
			return "", err
		}
	}
}

// command sends "TAG cmd" and reads up to its tagged status. It returns the untagged
// lines, the status text, and an *imap.Error for NO or BAD.
func (c *RawConn) command(cmd string) (untagged []string, text string, err error) {
	tag := c.nextTag()
	if err := c.send(tag + " " + cmd); err != nil {
		return nil, "", err
	}
	for {
		l, err := c.line()
		if err != nil {
			return untagged, "", err
		}
		if rest, ok := strings.CutPrefix(l, tag+" "); ok {
			return untagged, rest, statusError(rest)
		}
		untagged = append(untagged, l)
	}
}

// statusError returns nil for "OK ...", an *imap.Error for "NO ..." and "BAD ...".
func statusError(rest string) error {
	kind, text, _ := strings.Cut(rest, " ")
	var typ imap.StatusResponseType
	switch strings.ToUpper(kind) {
	case "OK":
		return nil
	case "NO":
		typ = imap.StatusResponseTypeNo
	case "BAD":
		typ = imap.StatusResponseTypeBad
	default:
		return fmt.Errorf("imapauth: unexpected status %q", truncate(rest))
	}
	ie := &imap.Error{Type: typ, Text: text}
	if code, after, ok := strings.Cut(text, "]"); ok && strings.HasPrefix(code, "[") {
		name, _, _ := strings.Cut(code[1:], " ")
		ie.Code, ie.Text = imap.ResponseCode(strings.ToUpper(name)), strings.TrimSpace(after)
	}
	return ie
}

func (c *RawConn) nextTag() string {
	c.tags++
	return "A" + strconv.Itoa(c.tags)
}

func (c *RawConn) send(line string) error {
	if c.trace != nil {
		io.WriteString(c.trace, "C: "+line+"\r\n")
	}
	if _, err := io.WriteString(c.conn, line+"\r\n"); err != nil {
		return fmt.Errorf("imapauth: sending: %w", err)
	}
	return nil
}

// line reads one server line (a literal in it is skipped) and records a BYE.
func (c *RawConn) line() (string, error) {
	l, err := readLine(c.br)
	if err != nil {
		return "", err
	}
	if c.trace != nil {
		io.WriteString(c.trace, "S: "+l+"\r\n")
	}
	for strings.HasSuffix(l, "}") {
		i := strings.LastIndexByte(l, '{')
		n, err := strconv.Atoi(strings.TrimSuffix(l[i+1:len(l)-1], "+"))
		if i < 0 || err != nil || n < 0 {
			break
		}
		if n > maxRawLiteral {
			return "", fmt.Errorf("%w: a literal of %d bytes", mailauth.ErrLineTooLong, n)
		}
		if _, err := c.br.Discard(n); err != nil {
			return "", err
		}
		next, err := readLine(c.br)
		if err != nil {
			return "", err
		}
		l = l[:i] + "\"\"" + next
	}
	if len(l) > 6 && strings.EqualFold(l[:6], "* BYE ") && c.bye == "" {
		c.bye = l[6:]
	}
	return l, nil
}

func (c *RawConn) capSet() imap.CapSet {
	set := make(imap.CapSet, len(c.caps))
	for _, s := range c.caps {
		set[imap.Cap(s)] = struct{}{}
	}
	return set
}

// Capabilities returns the capabilities the server advertised before login (after
// STARTTLS), in the server's order. It does no I/O.
func (c *RawConn) Capabilities() []string { return append([]string(nil), c.caps...) }

// AuthText returns the tagged answer to the AUTHENTICATE that logged in, without the
// tag: "OK" and the server's text, e.g. "OK [CAPABILITY IMAP4rev1 ...] Logged in". It is
// "" before login.
func (c *RawConn) AuthText() string { return c.authText }

// Mechanism returns the SASL mechanism of the login, or "" before login.
func (c *RawConn) Mechanism() string { return c.mech }

// Identity returns the claims of the token the login used, decoded without verification.
func (c *RawConn) Identity() mailauth.Identity { return c.identity }

// TokenExpiry returns when the token the login used expires (zero if unknown).
func (c *RawConn) TokenExpiry() time.Time { return c.expiry }

// Detach hands the connection over: it returns the connection and the reader holding
// what the server sent that RawConn read but did not use. Read through the reader (or
// copy its Buffered bytes first). Detach sends nothing, lifts the byte budget and clears
// the deadlines. Afterwards Close leaves the connection alone; closing it is the
// caller's job.
func (c *RawConn) Detach() (net.Conn, *bufio.Reader) {
	c.detached = true
	c.bc.Disarm()
	_ = c.conn.SetDeadline(time.Time{})
	return c.conn, c.br
}

// Close closes the connection without LOGOUT, unless Detach handed it over.
func (c *RawConn) Close() error {
	if c.detached {
		return nil
	}
	if err := c.conn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("imapauth: %w", err)
	}
	return nil
}

// String describes the connection without its token.
func (c *RawConn) String() string {
	return "imapauth.RawConn(" + c.mech + " " + c.identity.String() + ")"
}

// GoString is like String.
func (c *RawConn) GoString() string { return c.String() }
