package relay

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/internal/core/sasl"
	"github.com/modernauth/mailauth/internal/core/tlsconf"
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

// upConn is an upstream connection before the relay starts copying.
type upConn struct {
	c  net.Conn
	br *bufio.Reader
}

func (u *upConn) send(s string) error {
	_, err := io.WriteString(u.c, s+"\r\n")
	return err
}

func (u *upConn) line() (string, error) { return readLine(u.br) }

// dialUp dials p's upstream, reads the greeting and upgrades to TLS.
func (r *Relay) dialUp(ctx context.Context, p Protocol) (_ *upConn, err error) {
	up := r.o.IMAP
	if p == POP3 {
		up = r.o.POP3
	}
	if up.Addr == "" {
		return nil, fmt.Errorf("relay: no %s upstream configured", p)
	}
	host, _, err := net.SplitHostPort(up.Addr)
	if err != nil {
		return nil, fmt.Errorf("relay: %s upstream %q: %w", p, up.Addr, err)
	}
	c, err := r.o.Dialer.DialContext(ctx, "tcp", up.Addr)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	} else {
		c.SetDeadline(time.Now().Add(time.Minute))
	}
	cfg := tlsconf.Client(r.o.TLSConfig, host)
	handshake := func() error {
		tc := tls.Client(c, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("relay: %s upstream %s: TLS: %w", p, up.Addr, err)
		}
		c = tc
		return nil
	}
	if up.ImplicitTLS {
		if err := handshake(); err != nil {
			return nil, err
		}
	}
	u := &upConn{c: c, br: bufio.NewReaderSize(c, 4096)}
	greet, err := u.line()
	if err != nil {
		return nil, fmt.Errorf("relay: %s upstream greeting: %w", p, err)
	}
	okGreet := strings.HasPrefix(greet, "* OK")
	if p == POP3 {
		okGreet = strings.HasPrefix(greet, "+OK")
	}
	if !okGreet {
		return nil, fmt.Errorf("relay: %s upstream greeting: %q", p, clip(greet))
	}
	if !up.ImplicitTLS {
		if p == IMAP {
			if err := u.send("R0 STARTTLS"); err != nil {
				return nil, err
			}
			if _, err := u.imapTagged("R0"); err != nil {
				return nil, fmt.Errorf("relay: imap upstream STARTTLS: %w", err)
			}
		} else {
			if err := u.send("STLS"); err != nil {
				return nil, err
			}
			l, err := u.line()
			if err != nil || !strings.HasPrefix(l, "+OK") {
				return nil, fmt.Errorf("relay: pop3 upstream STLS refused: %q %v", clip(l), err)
			}
		}
		if u.br.Buffered() > 0 {
			return nil, fmt.Errorf("relay: %s upstream sent data after the TLS go-ahead", p)
		}
		if err := handshake(); err != nil {
			return nil, err
		}
		u.c, u.br = c, bufio.NewReaderSize(c, 4096)
	}
	return u, nil
}

// imapTagged reads until the tagged answer to tag; it returns the untagged lines and
// an error for NO or BAD.
func (u *upConn) imapTagged(tag string) ([]string, error) {
	var untagged []string
	for {
		l, err := u.line()
		if err != nil {
			return untagged, err
		}
		if rest, ok := strings.CutPrefix(l, tag+" "); ok {
			if strings.HasPrefix(strings.ToUpper(rest), "OK") {
				return untagged, nil
			}
			return untagged, fmt.Errorf("%q", clip(rest))
		}
		untagged = append(untagged, l)
	}
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
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

func (r *Relay) fetchCaps(ctx context.Context, p Protocol) ([]string, error) {
	u, err := r.dialUp(ctx, p)
	if err != nil {
		return nil, err
	}
	defer u.c.Close()
	var caps []string
	if p == IMAP {
		if err := u.send("R1 CAPABILITY"); err != nil {
			return nil, err
		}
		untagged, err := u.imapTagged("R1")
		if err != nil {
			return nil, err
		}
		for _, l := range untagged {
			if rest, ok := cutPrefixFold(l, "* CAPABILITY "); ok {
				caps = append(caps, strings.Fields(rest)...)
			}
		}
		_ = u.send("R2 LOGOUT")
		return caps, nil
	}
	if err := u.send("CAPA"); err != nil {
		return nil, err
	}
	l, err := u.line()
	if err != nil || !strings.HasPrefix(l, "+OK") {
		return nil, fmt.Errorf("CAPA refused: %q %v", clip(l), err)
	}
	for {
		l, err := u.line()
		if err != nil {
			return nil, err
		}
		if l == "." {
			break
		}
		caps = append(caps, l)
	}
	_ = u.send("QUIT")
	return caps, nil
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return "", false
}

// upstreamLogin dials p's upstream and logs in as acc with XOAUTH2. A token the server
// refuses is invalidated (when the source can) and the login tried once more. For IMAP
// it returns the text of the tagged OK.
func (r *Relay) upstreamLogin(ctx context.Context, p Protocol, acc *account) (*upConn, string, error) {
	u, err := r.dialUp(ctx, p)
	if err != nil {
		return nil, "", err
	}
	for attempt := 1; ; attempt++ {
		tok, err := mailauth.TokenContext(ctx, acc.Token)
		if err != nil {
			u.c.Close()
			return nil, "", fmt.Errorf("relay: token for %s: %w", acc.Mailbox, err)
		}
		payload, err := sasl.XOAuth2Payload(acc.Mailbox, tok.AccessToken)
		if err != nil {
			u.c.Close()
			return nil, "", err
		}
		text, refused, err := u.xoauth2(p, attempt, acc.Mailbox, base64.StdEncoding.EncodeToString(payload))
		if err == nil {
			u.c.SetDeadline(time.Time{})
			return u, text, nil
		}
		if refused && attempt == 1 && mailauth.Invalidate(acc.Token, tok) {
			continue
		}
		u.c.Close()
		return nil, "", err
	}
}

// xoauth2 runs one AUTHENTICATE/AUTH XOAUTH2 exchange. refused reports a clean
// refusal after which the session may try again.
func (u *upConn) xoauth2(p Protocol, attempt int, mailbox, b64 string) (okText string, refused bool, err error) {
	tag := fmt.Sprintf("R%d", attempt)
	if p == IMAP {
		err = u.send(tag + " AUTHENTICATE XOAUTH2")
	} else {
		err = u.send("AUTH XOAUTH2")
	}
	if err != nil {
		return "", false, err
	}
	l, err := u.line()
	if err != nil {
		return "", false, err
	}
	if !strings.HasPrefix(l, "+") || strings.HasPrefix(l, "+OK") {
		return "", false, fmt.Errorf("relay: %s upstream refused AUTH XOAUTH2: %q", p, clip(l))
	}
	if err := u.send(b64); err != nil {
		return "", false, err
	}
	for {
		l, err := u.line()
		if err != nil {
			return "", false, err
		}
		switch {
		case p == POP3 && strings.HasPrefix(l, "+OK"):
			return l, false, nil
		case p == POP3 && strings.HasPrefix(l, "-ERR"):
			return "", true, &mailauth.AuthError{Protocol: "POP3", Mechanism: sasl.XOAuth2, Mailbox: mailbox, ServerText: l, Retried: attempt > 1}
		case strings.HasPrefix(l, "+"): // error challenge: answer it empty, then the refusal follows
			if err := u.send(""); err != nil {
				return "", false, err
			}
		case p == IMAP && strings.HasPrefix(l, tag+" "):
			rest := l[len(tag)+1:]
			if strings.HasPrefix(strings.ToUpper(rest), "OK") {
				return rest, false, nil
			}
			return "", true, &mailauth.AuthError{Protocol: "IMAP", Mechanism: sasl.XOAuth2, Mailbox: mailbox, ServerText: clip(rest), Retried: attempt > 1}
		}
	}
}
