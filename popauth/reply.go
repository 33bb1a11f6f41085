package popauth

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/modernauth/mailauth"
)

// tooManyLines reports a listing longer than its limit.
type tooManyLines struct{ max int }

func (e *tooManyLines) Error() string { return fmt.Sprintf("more than %d lines in a listing", e.max) }

// maxLine bounds one reply line. RFC 2449 allows 512 octets; servers that
// send more get some slack, a server that sends an endless line does not
// make the client allocate without limit.
const maxLine = 8192

// replyKind is the status indicator of a reply line.
type replyKind int

const (
	replyOK       replyKind = iota + 1 // +OK
	replyErr                           // -ERR
	replyContinue                      // "+" or "+ base64" during AUTH
)

// reply is one parsed status line.
type reply struct {
	kind replyKind
	code string // RFC 2449 response code, without brackets; only for -ERR and +OK
	text string // the rest of the line
}

// parseReply parses one status line (without CRLF).
func parseReply(line string) (reply, error) {
	switch {
	case hasPrefixFold(line, "+OK") && (len(line) == 3 || line[3] == ' '):
		code, text := splitCode(strings.TrimPrefix(line[3:], " "))
		return reply{kind: replyOK, code: code, text: text}, nil
	case hasPrefixFold(line, "-ERR") && (len(line) == 4 || line[4] == ' '):
		code, text := splitCode(strings.TrimPrefix(line[4:], " "))
		return reply{kind: replyErr, code: code, text: text}, nil
	case line == "+":
		return reply{kind: replyContinue}, nil
	case strings.HasPrefix(line, "+ "):
		return reply{kind: replyContinue, text: strings.TrimSpace(line[2:])}, nil
	}
	return reply{}, fmt.Errorf("%w: %q", ErrMalformedReply, truncate(line, 64))
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// splitCode splits an RFC 2449 response code off the start of text:
//
//	resp-code  = "[" resp-level *("/" resp-level) "]"
//	resp-level = 1*<any CHAR except SP, CRLF, "[", "]" and "/">
//
// Text that does not start with a well-formed code is returned whole.
func splitCode(text string) (code, rest string) {
	if !strings.HasPrefix(text, "[") {
		return "", text
	}
	end := strings.IndexByte(text, ']')
	if end < 0 {
		return "", text
	}
	c := text[1:end]
	prev := byte('/') // an empty level ("[]", "[A/]", "[/A]", "[A//B]") is not a code
	for i := 0; i < len(c); i++ {
		ch := c[i]
		if ch <= ' ' || ch >= 0x7f || ch == '[' || (ch == '/' && prev == '/') {
			return "", text
		}
		prev = ch
	}
	if prev == '/' {
		return "", text
	}
	return strings.ToUpper(c), strings.TrimPrefix(text[end+1:], " ")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// readLine reads one line and strips CRLF (or a bare LF). It fails on lines
// longer than maxLine.
func readLine(r *bufio.Reader) (string, error) {
	var buf []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(buf)+len(chunk) > maxLine {
			return "", fmt.Errorf("%w: %w: longer than %d bytes", ErrMalformedReply, mailauth.ErrLineTooLong, maxLine)
		}
		buf = append(buf, chunk...)
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) {
			if len(buf) == 0 {
				return "", io.EOF
			}
			return "", io.ErrUnexpectedEOF
		}
		return "", err
	}
	buf = buf[:len(buf)-1]
	if n := len(buf); n > 0 && buf[n-1] == '\r' {
		buf = buf[:n-1]
	}
	return string(buf), nil
}

// dotReader streams the body of a multi-line reply: it removes the
// byte-stuffed leading dot of a line (RFC 1939 section 3) and reports
// io.EOF at the terminating ".CRLF" line, which it consumes. Line endings are
// passed through unchanged. A connection that ends before the terminator
// gives io.ErrUnexpectedEOF.
type dotReader struct {
	r       *bufio.Reader
	pending []byte // rest of the current chunk, valid until the next read from r
	midLine bool   // the next byte is not at the start of a line
	done    bool
	err     error
}

func newDotReader(r *bufio.Reader) *dotReader { return &dotReader{r: r} }

func (d *dotReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(d.pending) > 0 {
			k := copy(p[n:], d.pending)
			d.pending = d.pending[k:]
			n += k
			continue
		}
		if d.done {
			return n, io.EOF
		}
		if d.err != nil {
			return n, d.err
		}
		if n > 0 && d.r.Buffered() == 0 {
			// Do not block for more data when some is ready for the caller.
			return n, nil
		}
		d.fill()
	}
	return n, nil
}

// fill reads the next chunk into pending, or sets done or err.
func (d *dotReader) fill() {
	if !d.midLine {
		b, err := d.r.Peek(2)
		if len(b) >= 1 && b[0] == '.' {
			switch {
			case len(b) == 2 && b[1] == '\n':
				d.r.Discard(2)
				d.done = true
				return
			case len(b) == 2 && b[1] == '\r':
				b3, err3 := d.r.Peek(3)
				if len(b3) == 3 && b3[2] == '\n' {
					d.r.Discard(3)
					d.done = true
					return
				}
				if err3 != nil {
					d.err = eofUnexpected(err3)
					return
				}
			case len(b) < 2:
				d.err = eofUnexpected(err)
				return
			}
			d.r.Discard(1) // byte-stuffed dot
		} else if err != nil && len(b) == 0 {
			d.err = eofUnexpected(err)
			return
		}
	}
	line, err := d.r.ReadSlice('\n')
	d.pending = line
	switch {
	case err == nil:
		d.midLine = false
	case errors.Is(err, bufio.ErrBufferFull):
		d.midLine = true
	default:
		d.midLine = true
		d.err = eofUnexpected(err)
	}
}

// drain reads to the terminator and discards the body.
func (d *dotReader) drain() error {
	for !d.done && d.err == nil {
		d.pending = nil
		d.fill()
	}
	d.pending = nil
	if d.done {
		return nil
	}
	return d.err
}

func eofUnexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readDotLines reads a whole multi-line body as lines without their endings.
// It is for short listings (CAPA, LIST, UIDL); maxLines bounds them.
func readDotLines(r *bufio.Reader, maxLines int) ([]string, error) {
	var lines []string
	for {
		line, err := readLine(r)
		if err != nil {
			return lines, eofUnexpected(err)
		}
		if line == "." {
			return lines, nil
		}
		if len(lines) >= maxLines {
			return lines, fmt.Errorf("%w: %w", ErrMalformedReply, &tooManyLines{max: maxLines})
		}
		lines = append(lines, strings.TrimPrefix(line, "."))
	}
}

// parseScanListing parses "msg size" as sent by STAT (count and size),
// LIST (message number and size) and the single-message forms.
func parseScanListing(s string) (n int, size int64, err error) {
	f := strings.Fields(s)
	if len(f) < 2 {
		return 0, 0, fmt.Errorf("%w: want \"number size\", got %q", ErrMalformedReply, truncate(s, 64))
	}
	n, err = strconv.Atoi(f[0])
	if err != nil || n < 0 {
		return 0, 0, fmt.Errorf("%w: bad number %q", ErrMalformedReply, truncate(f[0], 32))
	}
	size, err = strconv.ParseInt(f[1], 10, 64)
	if err != nil || size < 0 {
		return 0, 0, fmt.Errorf("%w: bad size %q", ErrMalformedReply, truncate(f[1], 32))
	}
	return n, size, nil
}

// parseUIDListing parses "msg unique-id" (RFC 1939 section 7: the id is 1 to
// 70 characters in the range 0x21 to 0x7E).
func parseUIDListing(s string) (n int, uid string, err error) {
	f := strings.Fields(s)
	if len(f) < 2 {
		return 0, "", fmt.Errorf("%w: want \"number unique-id\", got %q", ErrMalformedReply, truncate(s, 64))
	}
	n, err = strconv.Atoi(f[0])
	if err != nil || n <= 0 {
		return 0, "", fmt.Errorf("%w: bad message number %q", ErrMalformedReply, truncate(f[0], 32))
	}
	uid = f[1]
	if len(uid) > 70 {
		return 0, "", fmt.Errorf("%w: unique-id longer than 70 characters", ErrMalformedReply)
	}
	for i := 0; i < len(uid); i++ {
		if uid[i] < 0x21 || uid[i] > 0x7e {
			return 0, "", fmt.Errorf("%w: unique-id has a byte outside 0x21-0x7E", ErrMalformedReply)
		}
	}
	return n, uid, nil
}

// parseCapa turns CAPA lines into a map from the upper-cased capability name
// to its arguments.
func parseCapa(lines []string) map[string][]string {
	caps := make(map[string][]string, len(lines))
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		caps[strings.ToUpper(f[0])] = f[1:]
	}
	return caps
}
