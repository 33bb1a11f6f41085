package relay

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/modernauth/mailauth/internal/core/redact"
)

// A tracer writes one session's transcript to Options.DebugWriter: every line of the
// client leg and of the upstream leg until the relay starts copying bytes, then one line
// saying so (the bytes copied after it are counted in Stats, not traced). Each line
// starts with the protocol and the client address; the upstream leg's lines say
// "upstream". Passwords, SASL responses and tokens are replaced by [REDACTED] where
// the protocol puts them, and every line then passes through the module's redactor.
// A nil *tracer traces nothing.
type tracer struct {
	out    io.Writer
	prefix string
}

// traceOut is the Relay's shared transcript writer: whole lines, redacted.
type traceOut struct {
	mu sync.Mutex
	w  *redact.Writer
}

func (o *traceOut) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.w.Write(p)
}

// newTracer returns the tracer of a session with client c, or nil without DebugWriter.
func (r *Relay) newTracer(p Protocol, c net.Conn) *tracer {
	if r.trace == nil {
		return nil
	}
	return &tracer{out: r.trace, prefix: string(p) + " " + c.RemoteAddr().String() + " "}
}

// line writes one transcript line; dir is "C:" (from the client) or "S:" (to it), or
// "upstream C:"/"upstream S:".
func (t *tracer) line(dir, s string) {
	if t == nil {
		return
	}
	var b strings.Builder
	b.Grow(len(t.prefix) + len(dir) + len(s) + 2)
	b.WriteString(t.prefix)
	b.WriteString(dir)
	b.WriteByte(' ')
	b.WriteString(strings.Map(func(r rune) rune {
		if r < ' ' && r != '\t' {
			return '.'
		}
		return r
	}, s))
	b.WriteByte('\n')
	io.WriteString(t.out, b.String())
}

// sent traces what the relay wrote to the client: one line per CRLF-ended line.
func (t *tracer) sent(s string) {
	if t == nil {
		return
	}
	for _, l := range strings.Split(strings.TrimSuffix(s, "\r\n"), "\r\n") {
		t.line("S:", l)
	}
}

// upstream returns a writer for the upstream leg's protocol trace (lines such as
// "C: ..." and "S: ..." from the SDK's clients), each line prefixed with the session's.
func (t *tracer) upstream() io.Writer {
	if t == nil {
		return nil
	}
	return &prefixWriter{t: t}
}

// upstreamSMTP is upstream for smtpauth's trace, with the message body (between the
// "S: 354" reply and the "C: ." line) replaced by its size.
func (t *tracer) upstreamSMTP() io.Writer {
	if t == nil {
		return nil
	}
	return &prefixWriter{t: t, smtp: true}
}

type prefixWriter struct {
	t     *tracer
	buf   []byte
	smtp  bool
	body  bool
	bodyN int
}

func (w *prefixWriter) emit(l string) {
	switch {
	case w.body && l == "C: .":
		w.t.line("upstream", fmt.Sprintf("C: [message of %d bytes]", w.bodyN))
		w.body, w.bodyN = false, 0
	case w.body:
		w.bodyN += len(strings.TrimPrefix(l, "C: ")) + 2
		return
	case w.smtp && strings.HasPrefix(l, "S: 354"):
		w.body = true
	}
	w.t.line("upstream", l)
}

func (w *prefixWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			if len(w.buf) > maxLine {
				if w.body {
					w.bodyN += len(w.buf)
				} else {
					w.t.line("upstream", "[line of over "+strconv.Itoa(maxLine)+" bytes]")
				}
				w.buf = w.buf[:0]
			}
			return len(p), nil
		}
		w.emit(strings.TrimRight(string(w.buf[:i]), "\r"))
		w.buf = w.buf[i+1:]
	}
}

// imapTraceLine renders a parsed IMAP command for the transcript: a LOGIN password and
// an AUTHENTICATE initial response are masked.
func imapTraceLine(cmd imapCommand) string {
	args := make([]string, len(cmd.Args))
	for i, a := range cmd.Args {
		switch {
		case cmd.Name == "LOGIN" && i == 1, cmd.Name == "AUTHENTICATE" && i == 1:
			args[i] = redact.Mask
		default:
			args[i] = quoteIMAP(a)
		}
	}
	return strings.TrimSpace(cmd.Tag + " " + cmd.Name + " " + strings.Join(args, " "))
}

// popTraceLine renders a parsed POP3 command: PASS and an AUTH initial response masked.
func popTraceLine(cmd popCommand) string {
	args := append([]string(nil), cmd.Args...)
	for i := range args {
		if cmd.Name == "PASS" || cmd.Name == "AUTH" && i == 1 {
			args[i] = redact.Mask
		}
	}
	return strings.TrimSpace(cmd.Name + " " + strings.Join(args, " "))
}

// unparsable is what the transcript shows for a line the relay could not parse (it
// may hold a password).
func unparsable(line string) string {
	return fmt.Sprintf("[unparsable line of %d bytes]", len(line))
}

// smtpTrace turns go-smtp's debug stream of one connection (what the server read and
// wrote, in order, unlabelled) into transcript lines: server replies (three digits) are
// "S:", everything else "C:"; the response after a 334 challenge and an AUTH initial
// response are masked; a message body (after 354 up to ".", or a BDAT chunk) is
// replaced by its size.
type smtpTrace struct {
	t        *tracer
	buf      []byte
	mask     bool  // the next client line answers a 334 challenge
	body     bool  // inside DATA
	bodyN    int64 // bytes of the body so far
	bdatLeft int64 // bytes of a BDAT chunk still to skip
}

func (s *smtpTrace) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if s.bdatLeft > 0 {
			k := min(int64(len(p)), s.bdatLeft)
			s.bdatLeft -= k
			p = p[k:]
			if s.bdatLeft == 0 {
				s.t.line("C:", fmt.Sprintf("[chunk of %d bytes]", s.bodyN))
				s.bodyN = 0
			}
			continue
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			s.buf = append(s.buf, p...)
			if len(s.buf) > maxLine { // keep no endless line
				s.bodyN += int64(len(s.buf))
				s.buf = s.buf[:0]
			}
			break
		}
		s.buf = append(s.buf, p[:i+1]...)
		p = p[i+1:]
		s.lineDone(strings.TrimRight(string(s.buf), "\r\n"), int64(len(s.buf)))
		s.buf = s.buf[:0]
	}
	return n, nil
}

func (s *smtpTrace) lineDone(l string, size int64) {
	if s.body {
		if l == "." {
			s.t.line("C:", fmt.Sprintf("[message of %d bytes]", s.bodyN))
			s.t.line("C:", ".")
			s.body, s.bodyN = false, 0
			return
		}
		s.bodyN += size
		return
	}
	if isReply(l) {
		s.t.line("S:", l)
		s.mask = strings.HasPrefix(l, "334")
		s.body = strings.HasPrefix(l, "354")
		return
	}
	if s.mask {
		s.mask = false
		s.t.line("C:", redact.Mask)
		return
	}
	f := strings.Fields(l)
	switch {
	case len(f) > 2 && strings.EqualFold(f[0], "AUTH"):
		l = f[0] + " " + f[1] + " " + redact.Mask
	case len(f) >= 2 && strings.EqualFold(f[0], "BDAT"):
		if n, err := strconv.ParseInt(f[1], 10, 64); err == nil && n > 0 {
			s.bdatLeft, s.bodyN = n, n
		}
	}
	s.t.line("C:", l)
}

// isReply reports whether l looks like an SMTP reply: three digits, then the end, a
// space or a hyphen.
func isReply(l string) bool {
	if len(l) < 3 || (len(l) > 3 && l[3] != ' ' && l[3] != '-') {
		return false
	}
	for i := range 3 {
		if l[i] < '0' || l[i] > '9' {
			return false
		}
	}
	return true
}

// writerFunc is an io.Writer made of a function.
type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
