package imapauth

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/internal/core/budget"
	"github.com/modernauth/mailauth/internal/core/tlsconf"
)

// DialTLS connects to addr ("host:993") with implicit TLS, authenticates with a token from
// opts.Token and probes the session (see the package documentation). ctx bounds the dial,
// the TLS handshake, the token fetch, the SASL exchange and the probe; it does not bound
// the returned connection's later use. On error nothing is left open.
//
// Until the session is set up the server may send at most 256 KiB (TLS records included);
// one endless line or endless capability lines fail the dial with an error wrapping
// [mailauth.ErrLineTooLong].
func DialTLS(ctx context.Context, addr string, opts *Options) (*Conn, error) {
	return dial(ctx, addr, opts, false)
}

// DialStartTLS is like [DialTLS] but connects in plaintext (port 143) and upgrades with
// STARTTLS before anything else. It fails if the server does not accept STARTTLS; it
// never continues in plaintext.
func DialStartTLS(ctx context.Context, addr string, opts *Options) (*Conn, error) {
	return dial(ctx, addr, opts, true)
}

func dial(ctx context.Context, addr string, opts *Options, startTLS bool) (*Conn, error) {
	o, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if h, p, err := net.SplitHostPort(addr); err == nil {
		o.host = h
		o.port, _ = strconv.Atoi(p)
	}
	connect := func() (*imapclient.Client, *byeWatcher, bool, error) {
		return connect(ctx, addr, o, startTLS)
	}
	return authenticateWith(ctx, o, connect)
}

// connect dials and sets up the imapclient.Client. secure reports whether the
// connection is TLS.
func connect(ctx context.Context, addr string, o *config, startTLS bool) (*imapclient.Client, *byeWatcher, bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, false, fmt.Errorf("imapauth: bad address %q: %w", addr, err)
	}
	raw, err := o.dialer().DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, false, fmt.Errorf("imapauth: dialing %s: %w", addr, err)
	}
	stop := watchContext(ctx, raw)
	defer stop()
	bc := budget.New(raw, 0)
	var greeting []byte
	if startTLS {
		if err := startTLSRaw(bc); err != nil {
			raw.Close()
			return nil, nil, false, bc.Check("imapauth: reading the greeting or the STARTTLS reply", err)
		}
		// imapclient expects a greeting; the real one was consumed before STARTTLS.
		// A synthetic one without capabilities makes it ask for them again, as RFC 3501
		// §6.2.1 requires after STARTTLS.
		greeting = []byte("* OK [imapauth] TLS established\r\n")
	}
	tc := tls.Client(bc, tlsconf.Client(o.TLSConfig, host, "imap"))
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, nil, false, bc.Check("imapauth: TLS handshake with "+addr, fmt.Errorf("imapauth: TLS handshake with %s: %w", addr, err))
	}
	bw := newByeWatcher(tc)
	bw.budget = bc
	if greeting != nil {
		bw.prefixed = strings.NewReader(string(greeting))
	}
	c := imapclient.New(bw, o.clientOptions())
	if err := waitGreeting(ctx, c); err != nil {
		c.Close()
		return nil, nil, false, bc.Check("imapauth: reading greeting", err)
	}
	return c, bw, true, nil
}

// startTLSRaw reads the greeting and runs STARTTLS on the plaintext connection.
func startTLSRaw(conn net.Conn) error {
	br := bufio.NewReaderSize(conn, 4096)
	line, err := readLine(br)
	if err != nil {
		return fmt.Errorf("imapauth: reading greeting: %w", err)
	}
	if err := checkGreeting(line); err != nil {
		return err
	}
	if _, err := io.WriteString(conn, "S1 STARTTLS\r\n"); err != nil {
		return fmt.Errorf("imapauth: sending STARTTLS: %w", err)
	}
	for {
		line, err := readLine(br)
		if err != nil {
			return fmt.Errorf("imapauth: reading STARTTLS reply: %w", err)
		}
		if strings.HasPrefix(line, "* ") {
			continue
		}
		if !strings.HasPrefix(line, "S1 ") {
			return fmt.Errorf("imapauth: unexpected reply to STARTTLS %q", truncate(line))
		}
		if !strings.HasPrefix(strings.ToUpper(line[3:]), "OK") {
			return fmt.Errorf("imapauth: server refused STARTTLS: %q", truncate(line))
		}
		if br.Buffered() > 0 {
			// Bytes after the OK before the handshake would be injected plaintext
			// (CVE-2011-0411 style); refuse.
			return fmt.Errorf("imapauth: server sent data after STARTTLS OK; refusing")
		}
		return nil
	}
}

// checkGreeting accepts an "* OK" greeting only (PREAUTH would skip authentication, BYE
// refuses the session).
func checkGreeting(line string) error {
	if !strings.HasPrefix(strings.ToUpper(line), "* OK") {
		return fmt.Errorf("imapauth: unexpected greeting %q", truncate(line))
	}
	return nil
}

func readLine(br *bufio.Reader) (string, error) {
	var b []byte
	for {
		chunk, isPrefix, err := br.ReadLine()
		if err != nil {
			return "", err
		}
		b = append(b, chunk...)
		if len(b) > 8192 {
			return "", fmt.Errorf("%w: a line of the server is longer than 8192 bytes", mailauth.ErrLineTooLong)
		}
		if !isPrefix {
			return string(b), nil
		}
	}
}

func truncate(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// watchContext makes blocking I/O on conn fail when ctx ends (go-imap has no context of
// its own), and applies ctx's deadline. The returned stop restores no deadline.
func watchContext(ctx context.Context, conn net.Conn) (stop func()) {
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d)
	}
	unregister := context.AfterFunc(ctx, func() {
		_ = conn.SetDeadline(time.Unix(1, 0))
	})
	return func() {
		if unregister() {
			_ = conn.SetDeadline(time.Time{})
		}
	}
}

func waitGreeting(ctx context.Context, c *imapclient.Client) error {
	errc := make(chan error, 1)
	go func() { errc <- c.WaitGreeting() }()
	select {
	case err := <-errc:
		if err != nil {
			return fmt.Errorf("imapauth: reading greeting: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("imapauth: waiting for greeting: %w", ctx.Err())
	}
}
