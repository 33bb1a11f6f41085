package imapauth

import (
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/internal/core/budget"
)

// Conn is an authenticated IMAP connection: an *imapclient.Client (all its methods are
// available) plus what imapauth learnt while authenticating. Like imapclient.Client it
// may be used from several goroutines as imapclient allows.
type Conn struct {
	*imapclient.Client

	mech     string
	identity mailauth.Identity
	expiry   time.Time
	tok      *oauth2.Token // the token used; for Session's invalidation only
	bye      *byeWatcher   // nil when the connection was not dialled by imapauth
}

// Mechanism returns the SASL mechanism used, "XOAUTH2" or "OAUTHBEARER".
func (c *Conn) Mechanism() string { return c.mech }

// Identity returns the claims of the token the session authenticated with, decoded
// without verification.
func (c *Conn) Identity() mailauth.Identity { return c.identity }

// TokenExpiry returns when the token the session authenticated with expires (zero if
// unknown). Exchange ends the session then with "* BYE ... AccessTokenExpired".
func (c *Conn) TokenExpiry() time.Time { return c.expiry }

// ByeText returns the text of the server's "* BYE" line, if one was received on a
// connection dialled by imapauth, or "".
func (c *Conn) ByeText() string {
	if c.bye == nil {
		return ""
	}
	return c.bye.text()
}

// TokenExpired reports whether the server said "* BYE ... AccessTokenExpired".
func (c *Conn) TokenExpired() bool {
	return strings.Contains(strings.ToLower(c.ByeText()), "accesstokenexpired")
}

// Err maps an error from a command on c: when the server has ended the session with
// "* BYE ... AccessTokenExpired" it returns a [*TokenExpiredError] wrapping err,
// otherwise err unchanged. It does no I/O. A nil err stays nil unless the connection is
// closed because the token expired.
func (c *Conn) Err(err error) error {
	if c.TokenExpired() {
		var te *TokenExpiredError
		if errors.As(err, &te) {
			return err
		}
		return &TokenExpiredError{ServerText: c.ByeText(), Expiry: c.expiry, Err: err}
	}
	return err
}

// byeWatcher wraps the connection and records the first untagged BYE line the server
// sends. It looks only at line starts outside what it has seen, which is enough for the
// short status lines it is after.
type byeWatcher struct {
	net.Conn
	mu       sync.Mutex // guards atStart, line, bye, capture
	atStart  bool
	capture  bool
	line     []byte
	byeText  string
	prefixed io.Reader // synthetic greeting after STARTTLS, read first
	// budget caps what the server sends until the session is set up; nil on
	// connections imapauth did not dial.
	budget *budget.Conn

	// inSASL is set while imapauth runs AUTHENTICATE on this connection; see Write.
	inSASL atomic.Bool
}

// Write passes p on, except that during AUTHENTICATE a lone "=\r\n" becomes "\r\n".
// go-imap encodes an empty SASL response as "=", the RFC 4959 spelling for an empty
// *initial* response; a continuation answer is plain base64, where empty is the empty
// line (RFC 9051 §6.2.2). imapclient flushes each SASL response on its own, so the
// response is exactly one Write; no IMAP command is a bare "=".
func (w *byeWatcher) Write(p []byte) (int, error) {
	if w.inSASL.Load() && string(p) == "=\r\n" {
		if _, err := w.Conn.Write(p[1:]); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return w.Conn.Write(p)
}

func newByeWatcher(c net.Conn) *byeWatcher { return &byeWatcher{Conn: c, atStart: true} }

func (w *byeWatcher) Read(p []byte) (int, error) {
	var n int
	var err error
	if w.prefixed != nil {
		n, err = w.prefixed.Read(p)
		if err == io.EOF {
			w.prefixed, err = nil, nil
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
	n, err = w.Conn.Read(p)
	if n > 0 {
		w.scan(p[:n])
	}
	return n, err
}

func (w *byeWatcher) scan(b []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ch := range b {
		if w.atStart {
			w.line = w.line[:0]
			w.capture = true
			w.atStart = false
		}
		if ch == '\n' {
			if w.capture && w.byeText == "" {
				l := strings.TrimRight(string(w.line), "\r")
				if len(l) >= 6 && strings.EqualFold(l[:6], "* BYE ") {
					w.byeText = l[6:]
				}
			}
			w.atStart = true
			continue
		}
		if w.capture {
			if len(w.line) < 512 {
				w.line = append(w.line, ch)
			}
			if len(w.line) == 6 && !strings.EqualFold(string(w.line), "* BYE ") {
				w.capture = false
			}
		}
	}
}

func (w *byeWatcher) text() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.byeText
}

// String describes the connection without its token, e.g.
// "imapauth.Conn(XOAUTH2 upn=alice@contoso.com ... exp=...)".
func (c *Conn) String() string {
	return "imapauth.Conn(" + c.mech + " " + c.identity.String() + ")"
}

// GoString is like String, so %#v never shows the token either.
func (c *Conn) GoString() string { return c.String() }
