package imaptest

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// listener hands imapserver connections that are already secure as the Mode says:
// implicit TLS, or TLS after a STARTTLS exchange it runs itself on the plaintext
// connection (so that the capabilities written afterwards can be rewritten, which
// imapserver's own STARTTLS would put out of reach under TLS). It also counts
// connections and, with NoSASLIR, removes SASL-IR from what the server writes.
type listener struct {
	net.Listener
	s     *Server
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once

	// serving is closed on the first Accept call: imapserver.Serve is then past its
	// WaitGroup.Add, so Close cannot race with it.
	serving     chan struct{}
	servingOnce sync.Once
}

func newListener(ln net.Listener, s *Server) *listener {
	l := &listener{Listener: ln, s: s, conns: make(chan net.Conn), done: make(chan struct{}), serving: make(chan struct{})}
	go l.loop()
	return l
}

func (l *listener) loop() {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			l.Close()
			return
		}
		l.s.connections.Add(1)
		go func() {
			sc, err := l.prepare(c)
			if err != nil {
				c.Close()
				return
			}
			select {
			case l.conns <- sc:
			case <-l.done:
				sc.Close()
			}
		}()
	}
}

func (l *listener) Accept() (net.Conn, error) {
	l.servingOnce.Do(func() { close(l.serving) })
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *listener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

func (l *listener) prepare(c net.Conn) (net.Conn, error) {
	opts := l.s.opts
	var out net.Conn = c
	skipGreeting := false
	switch opts.Mode {
	case ImplicitTLS:
		out = tls.Server(c, opts.TLSConfig)
	case StartTLS:
		tc, err := plaintextPhase(c, opts.TLSConfig)
		if err != nil {
			return nil, err
		}
		out, skipGreeting = tc, true
	}
	if opts.NoSASLIR || skipGreeting {
		return &rewriteConn{Conn: out, strip: opts.NoSASLIR, skipLine: skipGreeting}, nil
	}
	return out, nil
}

// plaintextPhase serves the pre-TLS part of a port-143 session (RFC 3501 §6.2.1, RFC
// 9051 §6.2.1): CAPABILITY, NOOP and LOGOUT are answered, AUTHENTICATE and LOGIN are
// refused with PRIVACYREQUIRED, and STARTTLS upgrades the connection.
func plaintextPhase(c net.Conn, cfg *tls.Config) (net.Conn, error) {
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	w := func(s string) error { _, err := io.WriteString(c, s); return err }
	if err := w("* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] imaptest ready (STARTTLS required)\r\n"); err != nil {
		return nil, err
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, err
		}
		tag, rest, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
		cmd, _, _ := strings.Cut(rest, " ")
		switch strings.ToUpper(cmd) {
		case "CAPABILITY":
			err = w("* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\n" + tag + " OK CAPABILITY completed\r\n")
		case "NOOP":
			err = w(tag + " OK NOOP completed\r\n")
		case "LOGOUT":
			_ = w("* BYE imaptest logging out\r\n" + tag + " OK LOGOUT completed\r\n")
			return nil, io.EOF
		case "AUTHENTICATE", "LOGIN":
			err = w(tag + " NO [PRIVACYREQUIRED] TLS is required to authenticate\r\n")
		case "STARTTLS":
			if br.Buffered() > 0 {
				return nil, io.ErrUnexpectedEOF // pipelined plaintext after STARTTLS
			}
			if err := w(tag + " OK Begin TLS negotiation now\r\n"); err != nil {
				return nil, err
			}
			tc := tls.Server(c, cfg)
			if err := tc.Handshake(); err != nil {
				return nil, err
			}
			_ = c.SetDeadline(time.Time{})
			return tc, nil
		default:
			err = w(tag + " BAD Command not allowed before STARTTLS\r\n")
		}
		if err != nil {
			return nil, err
		}
	}
}

// rewriteConn drops the first line the server writes (its greeting, which a client does
// not expect after STARTTLS) and, with strip, removes " SASL-IR" from capability lists.
// imapserver flushes each response whole, so neither straddles two writes.
type rewriteConn struct {
	net.Conn
	strip    bool
	skipLine bool
}

func (c *rewriteConn) Write(p []byte) (int, error) {
	q := p
	if c.skipLine {
		i := bytes.IndexByte(q, '\n')
		if i < 0 {
			return len(p), nil
		}
		q = q[i+1:]
		c.skipLine = false
	}
	if c.strip {
		q = bytes.ReplaceAll(q, []byte(" SASL-IR"), nil)
	}
	if len(q) > 0 {
		if _, err := c.Conn.Write(q); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}
