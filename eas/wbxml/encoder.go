package wbxml

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Buffering: output collects in buf and goes to the writer once flushAt
// bytes are waiting; payloads of directAt bytes or more bypass buf.
const (
	flushAt  = 4096
	directAt = 1024
)

// header is the document header ActiveSync uses: WBXML 1.3, public
// identifier 1 (unknown), charset 106 (UTF-8), empty string table.
var header = [4]byte{0x03, 0x01, 0x6A, 0x00}

// Encoder writes an ActiveSync WBXML document. It writes the header before
// the first element, emits SWITCH_PAGE only when the next tag's page differs
// from the current one, and writes an element without content in the short
// form (no content flag, no END), so its output is canonical: the bytes of
// MS-ASWBXML's examples.
//
// Output is buffered; call Close (or Flush) at the end. An Encoder writes one
// document and is not safe for concurrent use.
type Encoder struct {
	w       io.Writer
	buf     []byte
	flushed int64
	page    byte
	started bool // header written
	done    bool // root element closed
	stack   []Tag
	pending bool // stack top is written except for its tag byte
	err     error
}

// NewEncoder returns an Encoder writing to w.
func NewEncoder(w io.Writer) *Encoder {
	return &Encoder{w: w, buf: make([]byte, 0, flushAt+512)}
}

func (e *Encoder) offset() int64 { return e.flushed + int64(len(e.buf)) }

func (e *Encoder) fail(kind ErrorKind, format string, args ...any) error {
	e.err = &Error{Offset: e.offset(), Kind: kind, Detail: fmt.Sprintf(format, args...)}
	return e.err
}

// flushPending writes the tag byte of an open element that turned out to
// have content.
func (e *Encoder) flushPending() {
	if !e.pending {
		return
	}
	e.pending = false
	e.writeTag(e.stack[len(e.stack)-1], flagContent)
}

func (e *Encoder) writeTag(t Tag, fl byte) {
	if p := t.Page(); p != e.page {
		e.buf = append(e.buf, tokSwitchPage, p)
		e.page = p
	}
	e.buf = append(e.buf, t.Identity()|fl)
}

// Start opens element t. Any tag the tables know is accepted, legacy tags
// included.
func (e *Encoder) Start(t Tag) error {
	if e.err != nil {
		return e.err
	}
	if t.flags()&(flagCurrent|flagLegacy) == 0 {
		return e.fail(KindUnknownTag, "tag %s is not in the code page tables", t)
	}
	if e.done {
		return e.fail(KindUnbalanced, "second root element %s", t)
	}
	if !e.started {
		e.buf = append(e.buf, header[:]...)
		e.started = true
	}
	e.flushPending()
	e.stack = append(e.stack, t)
	e.pending = true
	return e.maybeFlush()
}

// End closes the innermost open element.
func (e *Encoder) End() error {
	if e.err != nil {
		return e.err
	}
	if len(e.stack) == 0 {
		return e.fail(KindUnbalanced, "End with no open element")
	}
	t := e.stack[len(e.stack)-1]
	if e.pending {
		e.pending = false
		e.writeTag(t, 0)
	} else {
		e.buf = append(e.buf, tokEnd)
	}
	e.stack = e.stack[:len(e.stack)-1]
	if len(e.stack) == 0 {
		e.done = true
	}
	return e.maybeFlush()
}

// Text writes s as an inline string (STR_I) in the open element. s must be
// valid UTF-8 without NUL. An empty s writes nothing.
func (e *Encoder) Text(s string) error {
	if e.err != nil {
		return e.err
	}
	if len(e.stack) == 0 {
		return e.fail(KindUnbalanced, "text outside an element")
	}
	if s == "" {
		return nil
	}
	if strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) {
		return e.fail(KindInvalidUTF8, "text for %s is not valid UTF-8 or contains NUL", e.stack[len(e.stack)-1])
	}
	e.flushPending()
	e.buf = append(e.buf, tokStrI)
	if len(s) >= directAt {
		if err := e.directString(s); err != nil {
			return err
		}
	} else {
		e.buf = append(e.buf, s...)
	}
	e.buf = append(e.buf, 0)
	return e.maybeFlush()
}

// TextBytes is Text for a byte slice.
func (e *Encoder) TextBytes(b []byte) error {
	if e.err != nil {
		return e.err
	}
	if len(e.stack) == 0 {
		return e.fail(KindUnbalanced, "text outside an element")
	}
	if len(b) == 0 {
		return nil
	}
	if indexZero(b) >= 0 || !utf8.Valid(b) {
		return e.fail(KindInvalidUTF8, "text for %s is not valid UTF-8 or contains NUL", e.stack[len(e.stack)-1])
	}
	e.flushPending()
	e.buf = append(e.buf, tokStrI)
	if len(b) >= directAt {
		if err := e.direct(b); err != nil {
			return err
		}
	} else {
		e.buf = append(e.buf, b...)
	}
	e.buf = append(e.buf, 0)
	return e.maybeFlush()
}

// Opaque writes b as OPAQUE data in the open element. An empty b writes an
// OPAQUE of length 0.
func (e *Encoder) Opaque(b []byte) error {
	if e.err != nil {
		return e.err
	}
	if len(e.stack) == 0 {
		return e.fail(KindUnbalanced, "OPAQUE outside an element")
	}
	if uint64(len(b)) > 0xFFFFFFFF {
		return e.fail(KindMultiByteInt, "OPAQUE of %d bytes exceeds 32 bits", len(b))
	}
	e.flushPending()
	e.buf = append(e.buf, tokOpaque)
	e.buf = appendMbUint32(e.buf, uint32(len(b)))
	if len(b) >= directAt {
		return e.direct(b)
	}
	e.buf = append(e.buf, b...)
	return e.maybeFlush()
}

// direct flushes buf and writes b straight to the writer.
func (e *Encoder) direct(b []byte) error {
	if err := e.Flush(); err != nil {
		return err
	}
	n, err := e.w.Write(b)
	e.flushed += int64(n)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		e.err = &Error{Offset: e.offset(), Kind: KindIO, Err: err}
		return e.err
	}
	return nil
}

// directString is direct for a string.
func (e *Encoder) directString(s string) error {
	if err := e.Flush(); err != nil {
		return err
	}
	n, err := io.WriteString(e.w, s)
	e.flushed += int64(n)
	if err == nil && n < len(s) {
		err = io.ErrShortWrite
	}
	if err != nil {
		e.err = &Error{Offset: e.offset(), Kind: KindIO, Err: err}
		return e.err
	}
	return nil
}

// EncodeToken writes one token as read from a [Decoder]. Token.Empty is
// ignored: elements without content are always written in the short form.
func (e *Encoder) EncodeToken(t Token) error {
	switch t.Kind {
	case StartToken:
		return e.Start(t.Tag)
	case EndToken:
		if e.err == nil && len(e.stack) > 0 && e.stack[len(e.stack)-1] != t.Tag {
			return e.fail(KindUnbalanced, "End of %s while %s is open", t.Tag, e.stack[len(e.stack)-1])
		}
		return e.End()
	case TextToken:
		return e.TextBytes(t.Data)
	case OpaqueToken:
		return e.Opaque(t.Data)
	}
	if e.err != nil {
		return e.err
	}
	return e.fail(KindUnbalanced, "token of unknown kind %d", t.Kind)
}

func appendMbUint32(b []byte, v uint32) []byte {
	var tmp [5]byte
	i := len(tmp) - 1
	tmp[i] = byte(v & 0x7F)
	for v >>= 7; v != 0; v >>= 7 {
		i--
		tmp[i] = byte(v&0x7F) | 0x80
	}
	return append(b, tmp[i:]...)
}

func (e *Encoder) maybeFlush() error {
	if len(e.buf) >= flushAt {
		return e.Flush()
	}
	return nil
}

// Flush writes the buffered output to the underlying writer. An element
// whose content is not known yet stays buffered.
func (e *Encoder) Flush() error {
	if e.err != nil {
		return e.err
	}
	if len(e.buf) == 0 {
		return nil
	}
	n, err := e.w.Write(e.buf)
	e.flushed += int64(n)
	if err == nil && n < len(e.buf) {
		err = io.ErrShortWrite
	}
	e.buf = e.buf[:0]
	if err != nil {
		e.err = &Error{Offset: e.offset(), Kind: KindIO, Err: err}
		return e.err
	}
	return nil
}

// Close checks that the document is complete (one root element, all
// elements closed) and flushes it. It does not close the underlying writer.
func (e *Encoder) Close() error {
	if e.err != nil {
		return e.err
	}
	if !e.started {
		return e.fail(KindNoRoot, "Close before any element")
	}
	if len(e.stack) > 0 {
		return e.fail(KindUnbalanced, "Close with %d element(s) open, innermost %s", len(e.stack), e.stack[len(e.stack)-1])
	}
	return e.Flush()
}
