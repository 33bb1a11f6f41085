package relay

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/imapauth"
	"github.com/modernauth/mailauth/popauth"
)

// maxLine bounds every protocol line the relay reads before it starts copying bytes.
const maxLine = 16 << 10

var errLineTooLong = errors.New("relay: line too long")

// readLine reads one line without its CRLF (or LF); a line over maxLine is an error.
func readLine(br *bufio.Reader) (string, error) {
	var b []byte
	for {
		frag, err := br.ReadSlice('\n')
		if len(b)+len(frag) > maxLine {
			return "", errLineTooLong
		}
		b = append(b, frag...)
		if err == nil {
			break
		}
		if err != bufio.ErrBufferFull {
			if len(b) > 0 && err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
	}
	s := string(b[:len(b)-1])
	return strings.TrimSuffix(s, "\r"), nil
}

// upConn is an upstream connection after login, before the relay starts copying: the
// connection and the reader holding what the upstream sent that was already read.
type upConn struct {
	c  net.Conn
	br *bufio.Reader
}

// upstream returns p's upstream server, or an error when none is configured.
func (r *Relay) upstream(p Protocol) (Upstream, error) {
	up := r.o.IMAP
	if p == POP3 {
		up = r.o.POP3
	}
	if up.Addr == "" {
		return up, fmt.Errorf("relay: no %s upstream configured", p)
	}
	return up, nil
}

// imapDial and popDial pick implicit TLS or STARTTLS/STLS for up.
func imapDial(up Upstream) func(context.Context, string, *imapauth.Options) (*imapauth.RawConn, error) {
	if up.ImplicitTLS {
		return imapauth.DialTLSRaw
	}
	return imapauth.DialStartTLSRaw
}

func popDial(up Upstream) func(context.Context, string, *popauth.Options) (*popauth.Client, error) {
	if up.ImplicitTLS {
		return popauth.DialTLS
	}
	return popauth.DialStartTLS
}

// probeCaps asks the upstream for its capabilities without logging in and keeps them.
func (r *Relay) probeCaps(ctx context.Context, p Protocol) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	caps, err := r.fetchCaps(ctx, p)
	if err != nil {
		r.log.Warn("upstream capabilities not read; using defaults", "proto", p, "err", err)
		return
	}
	r.capMu.Lock()
	r.caps[p] = caps
	r.capMu.Unlock()
}

// fetchCaps connects to p's upstream as the login does (TLS or STARTTLS/STLS), reads the
// capabilities it shows before login, and logs out (IMAP) or quits (POP3). IMAP's come
// in the server's order; POP3's CAPA lines sorted by name.
func (r *Relay) fetchCaps(ctx context.Context, p Protocol) ([]string, error) {
	up, err := r.upstream(p)
	if err != nil {
		return nil, err
	}
	if p == IMAP {
		c, err := imapDial(up)(ctx, up.Addr, &imapauth.Options{TLSConfig: r.o.TLSConfig, Dialer: r.o.Dialer})
		if err != nil {
			return nil, err
		}
		caps := c.Capabilities()
		conn, _ := c.Detach() // to say goodbye: RawConn only hangs up
		conn.SetDeadline(time.Now().Add(2 * time.Second))
		io.WriteString(conn, "R0 LOGOUT\r\n")
		conn.Close()
		return caps, nil
	}
	c, err := popDial(up)(ctx, up.Addr, &popauth.Options{TLSConfig: r.o.TLSConfig, Dialer: r.o.Dialer})
	if err != nil {
		return nil, err
	}
	defer c.Quit(ctx)
	caps := c.Capabilities()
	if len(caps) == 0 {
		return nil, errors.New("relay: pop3 upstream lists no capabilities")
	}
	out := make([]string, 0, len(caps))
	for name, args := range caps {
		out = append(out, strings.Join(append([]string{name}, args...), " "))
	}
	slices.Sort(out)
	return out, nil
}

// upstreamLogin dials p's upstream and logs in as acc with imapauth or popauth: the
// mechanism the server offers, the initial response only where allowed, the error
// challenge answered, one retry with a fresh token after a refused one (when the source
// can invalidate), and the probe after login (LIST "" "" or STAT) whose failure is a
// *mailauth.MailboxAccessError. For IMAP it returns the upstream's tagged answer to
// AUTHENTICATE ("OK ...").
// trace, when not nil, receives the upstream leg's protocol trace (redacted).
func (r *Relay) upstreamLogin(ctx context.Context, p Protocol, acc *account, trace io.Writer) (*upConn, string, error) {
	up, err := r.upstream(p)
	if err != nil {
		return nil, "", err
	}
	if p == IMAP {
		c, err := imapDial(up)(ctx, up.Addr, &imapauth.Options{Token: acc.Token, Mailbox: acc.Mailbox,
			TLSConfig: r.o.TLSConfig, Dialer: r.o.Dialer, Logger: r.o.Logger, DebugWriter: trace})
		if err != nil {
			return nil, "", err
		}
		conn, br := c.Detach()
		return &upConn{c: conn, br: br}, c.AuthText(), nil
	}
	c, err := popDial(up)(ctx, up.Addr, &popauth.Options{Token: acc.Token, Mailbox: acc.Mailbox,
		TLSConfig: r.o.TLSConfig, Dialer: r.o.Dialer, Logger: r.o.Logger, DebugWriter: trace})
	if err != nil {
		return nil, "", err
	}
	conn, br := c.Detach()
	return &upConn{c: conn, br: br}, "", nil
}

// upstreamRefusal names why an upstream login failed, for the log and the client's
// answer: "mailbox" (the token is good but may not open the mailbox), "token" (the
// upstream refused the token, after the one retry) or "" (anything else: network, TLS,
// the identity provider).
func upstreamRefusal(err error) string {
	var mae *mailauth.MailboxAccessError
	var ae *mailauth.AuthError
	switch {
	case errors.As(err, &mae):
		return "mailbox"
	case errors.As(err, &ae):
		return "token"
	}
	return ""
}
