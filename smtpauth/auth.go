package smtpauth

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/emersion/go-smtp"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/internal/core/budget"
	"github.com/modernauth/mailauth/internal/core/redact"
	"github.com/modernauth/mailauth/internal/core/sasl"
)

// Limits on what a server may send while smtpauth reads replies itself.
const (
	maxReplyLine  = 4096 // RFC 5321 allows 512; Exchange's EHLO lines are far shorter
	maxReplyLines = 256
)

// errLineTooLong reports a reply line over maxReplyLine bytes.
var errLineTooLong = fmt.Errorf("smtpauth: server reply %w (over %d bytes)", mailauth.ErrLineTooLong, maxReplyLine)

// wire is the session's connection under go-smtp. smtpauth drives STARTTLS and AUTH on
// it itself, because go-smtp's Client.Auth answers every final reply with a "*" line
// (RFC 4954 §4 allows "*" only in answer to a 334 challenge; Exchange answers it with
// "500 5.3.3 Unrecognized command") and fails on a bare "334" with no text (which RFC
// 5321 allows). go-smtp gets the session for everything else; the greeting read before
// STARTTLS is replayed to it.
type wire struct {
	net.Conn
	pending []byte        // handed to go-smtp before anything read from Conn
	br      *bufio.Reader // smtpauth's own reader, used only during AUTH
	trace   *tracer       // Options.DebugWriter; nil for none
	budget  *budget.Conn  // caps what the server sends until AUTH ends; nil when not dialled here
	wrote   atomic.Bool   // something was written through the wire (EHLO at least)
}

func newWire(c net.Conn, greeting []byte) *wire {
	return &wire{Conn: c, pending: greeting}
}

// Read gives go-smtp the replayed greeting, then the connection.
func (w *wire) Read(p []byte) (int, error) {
	if len(w.pending) > 0 {
		// Already traced: read before STARTTLS, or by smtpauth's own reader.
		n := copy(p, w.pending)
		w.pending = w.pending[n:]
		return n, nil
	}
	return serverReader{w}.Read(p)
}

// Write traces what go-smtp sends (smtpauth's own AUTH lines go through writeLine)
// and records that the client has spoken, so that a failure before it is known
// to be the greeting's.
func (w *wire) Write(p []byte) (int, error) {
	w.wrote.Store(true)
	w.trace.write('C', p)
	return w.Conn.Write(p)
}

// reply is one SMTP reply: its code and its text lines joined by "\n".
type reply struct {
	code int
	text string
}

// readReply reads one reply, single- or multi-line. A line may be the bare code ("334"):
// RFC 5321 §4.2 makes the text optional.
func readReply(br *bufio.Reader) (reply, error) {
	var r reply
	var lines []string
	for i := 0; ; i++ {
		if i == maxReplyLines {
			return r, fmt.Errorf("smtpauth: server reply has too many lines: %w (over %d lines)", mailauth.ErrLineTooLong, maxReplyLines)
		}
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return r, errLineTooLong
		}
		if err != nil {
			return r, err
		}
		s := strings.TrimRight(string(line), "\r\n")
		if len(s) < 3 || (len(s) > 3 && s[3] != ' ' && s[3] != '-') {
			return r, fmt.Errorf("smtpauth: malformed server reply %q", printable(s))
		}
		code, err := strconv.Atoi(s[:3])
		if err != nil || code < 200 || code > 599 {
			return r, fmt.Errorf("smtpauth: malformed server reply %q", printable(s))
		}
		if i > 0 && code != r.code {
			return r, fmt.Errorf("smtpauth: server reply changes code within a multi-line reply")
		}
		r.code = code
		text := ""
		if len(s) > 4 {
			text = s[4:]
		}
		lines = append(lines, text)
		if len(s) == 3 || s[3] == ' ' {
			r.text = strings.Join(lines, "\n")
			return r, nil
		}
	}
}

func printable(s string) string {
	if len(s) > 80 {
		s = s[:80]
	}
	return strings.ToValidUTF8(s, "?")
}

// asError turns a reply into go-smtp's error type, enhanced status code parsed.
func (r reply) asError() *smtp.SMTPError {
	e := &smtp.SMTPError{Code: r.code, EnhancedCode: smtp.NoEnhancedCode, Message: r.text}
	first, rest, _ := strings.Cut(r.text, " ")
	if parts := strings.Split(first, "."); len(parts) == 3 && (parts[0] == "2" || parts[0] == "4" || parts[0] == "5") {
		var ec smtp.EnhancedCode
		ok := true
		for i, p := range parts {
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 || n > 999 {
				ok = false
				break
			}
			ec[i] = n
		}
		if ok {
			e.EnhancedCode, e.Message = ec, rest
		}
	}
	return e
}

func (w *wire) reader() *bufio.Reader {
	if w.br == nil {
		w.br = bufio.NewReaderSize(serverReader{w}, maxReplyLine)
	}
	return w.br
}

// writeLine sends s; the trace shows shown instead, so that no SASL payload reaches it.
func (w *wire) writeLine(s, shown string) error {
	w.trace.write('C', []byte(shown+"\r\n"))
	_, err := w.Conn.Write([]byte(s + "\r\n"))
	return err
}

// startTLS reads the greeting, sends EHLO and STARTTLS on a plaintext connection, and
// returns the greeting to replay after the handshake. A server that does not offer
// STARTTLS is an error.
func startTLS(raw net.Conn) ([]byte, error) {
	br := bufio.NewReaderSize(raw, maxReplyLine)
	greet, err := readReply(br)
	if err != nil {
		return nil, fmt.Errorf("reading the greeting: %w", err)
	}
	if greet.code != 220 {
		return nil, greet.asError()
	}
	if _, err := raw.Write([]byte("EHLO localhost\r\n")); err != nil {
		return nil, err
	}
	ehlo, err := readReply(br)
	if err != nil {
		return nil, fmt.Errorf("reading the EHLO reply: %w", err)
	}
	if ehlo.code != 250 {
		return nil, ehlo.asError()
	}
	offered := false
	for _, l := range strings.Split(ehlo.text, "\n") {
		if strings.EqualFold(strings.TrimSpace(l), "STARTTLS") {
			offered = true
		}
	}
	if !offered {
		return nil, errors.New("the server does not offer STARTTLS")
	}
	if _, err := raw.Write([]byte("STARTTLS\r\n")); err != nil {
		return nil, err
	}
	st, err := readReply(br)
	if err != nil {
		return nil, fmt.Errorf("reading the STARTTLS reply: %w", err)
	}
	if st.code != 220 {
		return nil, st.asError()
	}
	if br.Buffered() > 0 {
		// Bytes after the 220 would be injected into the TLS session (CVE-2011-0411 class).
		return nil, errors.New("the server sent data after its STARTTLS reply")
	}
	lines := strings.Split(greet.text, "\n")
	var b strings.Builder
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		b.WriteString("220" + sep + l + "\r\n")
	}
	return []byte(b.String()), nil
}

// auth runs AUTH with sc after go-smtp's EHLO. A 334 is answered with the mechanism's
// response (or "*" when the challenge cannot be used, which RFC 4954 allows only
// there); 235 is success; any other reply is final and nothing more is sent.
func (w *wire) auth(sc *sasl.Client) error {
	mech, ir, err := sc.Start()
	if err != nil {
		return err
	}
	cmd := "AUTH " + mech
	shown := cmd
	switch {
	case len(ir) > 0:
		cmd += " " + base64.StdEncoding.EncodeToString(ir)
		shown += " " + redact.Mask
	case ir != nil:
		cmd += " ="
		shown += " ="
	}
	if err := w.writeLine(cmd, shown); err != nil {
		return err
	}
	br := w.reader()
	defer func() {
		// Anything the server sent beyond the final reply belongs to go-smtp.
		if n := br.Buffered(); n > 0 {
			rest, _ := br.Peek(n)
			w.pending = append(w.pending, rest...)
			_, _ = br.Discard(n)
		}
	}()
	for {
		r, err := readReply(br)
		if err != nil {
			return err
		}
		switch r.code {
		case 235:
			return nil
		case 334:
		default:
			return r.asError()
		}
		challenge, err := base64.StdEncoding.DecodeString(strings.TrimSpace(r.text))
		var resp []byte
		if err == nil {
			resp, err = sc.Next(challenge)
		}
		if err != nil {
			// Cancel the exchange, as RFC 4954 §4 allows in answer to a 334, and read
			// the server's final reply.
			if werr := w.writeLine("*", "*"); werr != nil {
				return werr
			}
			if fin, rerr := readReply(br); rerr == nil && fin.code != 235 && fin.code != 334 {
				return fmt.Errorf("%w (%w)", err, fin.asError())
			}
			return err
		}
		if err := w.writeLine(base64.StdEncoding.EncodeToString(resp), redact.Mask); err != nil {
			return err
		}
	}
}
