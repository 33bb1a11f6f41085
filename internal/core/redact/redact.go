// Package redact is the module's one redactor: every protocol trace, error text copied
// from a server, and tool transcript passes through it before anyone can read it.
//
// It masks, in this order: the secrets registered with [Redactor.Add] (and their base64
// forms); anything shaped like a JWT; the value after "Bearer"; the initial response of an
// IMAP AUTHENTICATE or an SMTP or POP3 AUTH, whatever the mechanism; and a line made only
// of base64 characters long enough to be a SASL payload.
package redact

import (
	"bytes"
	"encoding/base64"
	"io"
	"regexp"
	"sync"
)

// Mask replaces what is redacted.
const Mask = "[REDACTED]"

var (
	// jwtLike matches a JWT (a base64url JSON header "eyJ", then two more parts) and any
	// base64url run that starts like one: no "eyJ" survives.
	jwtLike = regexp.MustCompile(`eyJ[A-Za-z0-9_\-+/=]*(?:\.[A-Za-z0-9_\-+/=]*){0,2}`)
	// bearerLike matches an Authorization header value.
	bearerLike = regexp.MustCompile(`(?i)(bearer\s+)[A-Za-z0-9\-._~+/=]+`)
	// saslCommand matches the initial response of an AUTHENTICATE or AUTH command of any
	// mechanism (PLAIN and LOGIN carry passwords; RFC 4422 names are upper case), at the
	// start of a line after at most two words (an IMAP tag, a transcript's direction
	// marker). EHLO's "250-AUTH PLAIN XOAUTH2" does not match (AUTH is glued to the reply
	// code), nor does prose such as "SMTP AUTH is disabled".
	saslCommand = regexp.MustCompile(`(?m)^([\t\f\r ]*(?:\S+[\t\f\r ]+){0,2}(?i:AUTHENTICATE|AUTH)[\t\f\r ]+[A-Z0-9_-]{2,20}[\t\f\r ]+)[A-Za-z0-9+/=]+`)
	// saslLine matches a lone line of base64 of SASL-payload length (a client's answer to a
	// continuation), also behind a transcript's direction marker ("C: ", "S: ").
	saslLine = regexp.MustCompile(`(?m)^((?:[CS]: ?)?)[A-Za-z0-9+/]{24,}={0,2}(\r?)$`)
)

// Bytes returns b with the fixed rules applied (no registered secrets). It returns b itself
// when nothing matched.
func Bytes(b []byte) []byte {
	b = jwtLike.ReplaceAll(b, []byte(Mask))
	b = bearerLike.ReplaceAll(b, []byte("${1}"+Mask))
	b = saslCommand.ReplaceAll(b, []byte("${1}"+Mask))
	return saslLine.ReplaceAll(b, []byte("${1}"+Mask+"${2}"))
}

// String is Bytes for strings.
func String(s string) string { return string(Bytes([]byte(s))) }

// Redactor applies the fixed rules and also masks registered secrets. The zero value is
// ready to use; it is safe for concurrent use.
type Redactor struct {
	mu      sync.Mutex
	secrets [][]byte
}

// Add registers a secret (a token, a client secret, a password) to be masked wherever it
// appears, also in standard base64. Values shorter than 8 bytes are ignored: they would
// mask ordinary words.
func (r *Redactor) Add(secret string) {
	if len(secret) < 8 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secrets = append(r.secrets, []byte(secret), []byte(base64.StdEncoding.EncodeToString([]byte(secret))))
}

// Redact returns b with every registered secret and every fixed-rule match masked. A nil
// Redactor applies the fixed rules only.
func (r *Redactor) Redact(b []byte) []byte {
	if r != nil {
		r.mu.Lock()
		secrets := r.secrets
		r.mu.Unlock()
		for _, s := range secrets {
			b = bytes.ReplaceAll(b, s, []byte(Mask))
		}
	}
	return Bytes(b)
}

// String is Redact for strings.
func (r *Redactor) String(s string) string { return string(r.Redact([]byte(s))) }

// Writer returns a writer that redacts whole lines before passing them to w. A partial
// last line is held until the next newline or Flush; a line longer than 64 KiB is passed
// on redacted in pieces rather than held. A nil Redactor applies the fixed rules only.
func (r *Redactor) Writer(w io.Writer) *Writer { return &Writer{r: r, w: w} }

// NewWriter is a Writer with the fixed rules only, for protocol traces.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Writer is the line-buffered redacting writer of [Redactor.Writer] and [NewWriter].
type Writer struct {
	r   *Redactor
	w   io.Writer
	mu  sync.Mutex
	buf []byte
}

// Write implements io.Writer. It reports len(p) written unless the underlying writer
// fails.
func (rw *Writer) Write(p []byte) (int, error) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	rw.buf = append(rw.buf, p...)
	i := bytes.LastIndexByte(rw.buf, '\n')
	if i < 0 {
		if len(rw.buf) > 64<<10 {
			return len(p), rw.flushLocked()
		}
		return len(p), nil
	}
	out := rw.r.Redact(append([]byte(nil), rw.buf[:i+1]...))
	rw.buf = append(rw.buf[:0], rw.buf[i+1:]...)
	if _, err := rw.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush writes a held partial line.
func (rw *Writer) Flush() error {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	return rw.flushLocked()
}

func (rw *Writer) flushLocked() error {
	if len(rw.buf) == 0 {
		return nil
	}
	out := rw.r.Redact(rw.buf)
	rw.buf = nil
	_, err := rw.w.Write(out)
	return err
}
