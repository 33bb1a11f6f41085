package cli

import (
	"bytes"
	"encoding/base64"
	"io"
	"regexp"
	"sync"
)

// jwtLike matches anything shaped like a JWT (three base64url parts, the first a JSON header).
var jwtLike = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`)

// bearerLike matches an Authorization header value or a long base64 SASL payload.
var bearerLike = regexp.MustCompile(`(?i)(bearer\s+)[^\s"',;]+`)

// saslLine matches an AUTHENTICATE/AUTH command followed by an initial response, and a lone
// base64 line of the length of a SASL payload.
var saslLine = regexp.MustCompile(`(?im)((?:AUTHENTICATE|AUTH)\s+(?:XOAUTH2|OAUTHBEARER)\s+)[A-Za-z0-9+/=]{16,}|^([A-Za-z0-9+/]{80,}={0,2})\s*$`)

// Redactor removes secrets from text: every value registered with Add (and its base64
// forms), anything shaped like a JWT, bearer header values and SASL payloads. It is safe for
// concurrent use.
type Redactor struct {
	mu      sync.Mutex
	secrets [][]byte
}

// Add registers a secret value (a token, a client secret) to be replaced wherever it
// appears, also in base64. Short values are ignored: they would redact ordinary words.
func (r *Redactor) Add(secret string) {
	if len(secret) < 8 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range []string{secret, base64.StdEncoding.EncodeToString([]byte(secret))} {
		r.secrets = append(r.secrets, []byte(s))
	}
}

// Redact returns b with every secret replaced by [REDACTED].
func (r *Redactor) Redact(b []byte) []byte {
	r.mu.Lock()
	secrets := r.secrets
	r.mu.Unlock()
	for _, s := range secrets {
		b = bytes.ReplaceAll(b, s, []byte("[REDACTED]"))
	}
	b = jwtLike.ReplaceAll(b, []byte("[REDACTED]"))
	b = bearerLike.ReplaceAll(b, []byte("${1}[REDACTED]"))
	b = saslLine.ReplaceAllFunc(b, func(m []byte) []byte {
		sub := saslLine.FindSubmatch(m)
		if len(sub[1]) > 0 {
			return append(append([]byte{}, sub[1]...), "[REDACTED]"...)
		}
		return []byte("[REDACTED]")
	})
	return b
}

// RedactString is Redact for strings.
func (r *Redactor) RedactString(s string) string { return string(r.Redact([]byte(s))) }

// Writer returns a writer that redacts whole lines before passing them to w. A partial last
// line is held until the next newline or Flush.
func (r *Redactor) Writer(w io.Writer) *RedactingWriter {
	return &RedactingWriter{r: r, w: w}
}

// RedactingWriter is the line-buffered writer returned by Redactor.Writer.
type RedactingWriter struct {
	r   *Redactor
	w   io.Writer
	mu  sync.Mutex
	buf []byte
}

// Write implements io.Writer.
func (rw *RedactingWriter) Write(p []byte) (int, error) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	rw.buf = append(rw.buf, p...)
	i := bytes.LastIndexByte(rw.buf, '\n')
	if i < 0 {
		if len(rw.buf) > 64<<10 { // never hold an unbounded line
			return len(p), rw.flushLocked()
		}
		return len(p), nil
	}
	out := rw.r.Redact(append([]byte(nil), rw.buf[:i+1]...))
	rw.buf = append(rw.buf[:0], rw.buf[i+1:]...)
	_, err := rw.w.Write(out)
	return len(p), err
}

// Flush writes a held partial line.
func (rw *RedactingWriter) Flush() error {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	return rw.flushLocked()
}

func (rw *RedactingWriter) flushLocked() error {
	if len(rw.buf) == 0 {
		return nil
	}
	out := rw.r.Redact(rw.buf)
	rw.buf = nil
	_, err := rw.w.Write(out)
	return err
}
