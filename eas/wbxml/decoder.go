package wbxml

import (
	"bytes"
	"fmt"
	"io"
	"unicode/utf8"
)

// WBXML global tokens (WBXML 1.3 §7.1).
const (
	tokSwitchPage = 0x00
	tokEnd        = 0x01
	tokEntity     = 0x02
	tokStrI       = 0x03
	tokLiteral    = 0x04
	tokStrT       = 0x83
	tokOpaque     = 0xC3

	flagContent   = 0x40
	flagAttribute = 0x80
)

// DefaultMaxDepth is the nesting limit of a [Decoder] whose MaxDepth is 0.
// ActiveSync documents nest about a dozen levels.
const DefaultMaxDepth = 256

// DefaultMaxNodes is the element limit of a tree built by [Unmarshal],
// [Decoder.Decode] or [Decoder.DecodeElement] when the Decoder's MaxNodes is
// 0. An element costs about 120 bytes in a tree but can take one byte of
// input, so without a limit a 10 MB document would need over 1 GB. A Sync
// response of 512 messages holds about 25,000 elements.
const DefaultMaxNodes = 1 << 17

const (
	stHeader = iota
	stBeforeRoot
	stBody
	stDone
)

// Decoder reads an ActiveSync WBXML document token by token. It is strict:
// anything ActiveSync does not use (attributes, string tables, entities,
// extensions, processing instructions, unknown pages and tags) is an
// [*Error] with the byte offset of the offending token. A Decoder reads one
// document; after the root element ends, Token returns io.EOF, or an error
// with kind KindTrailingData if more bytes follow.
//
// A Decoder is not safe for concurrent use.
type Decoder struct {
	// AllowLegacy accepts the tags of protocol versions 2.5 to 12.x that
	// MS-ASWBXML no longer lists (for example AirSync Truncation); by default
	// they are KindUnknownTag errors.
	AllowLegacy bool
	// MaxDepth limits element nesting; 0 means DefaultMaxDepth.
	MaxDepth int
	// MaxNodes limits the elements of one tree built by Decode or
	// DecodeElement (a KindTooLarge error beyond it); 0 means
	// DefaultMaxNodes. Token is not limited: it holds no more than the open
	// elements.
	MaxNodes int

	r     io.Reader
	rerr  error  // sticky error of r (io.EOF at the end)
	buf   []byte // unread input is buf[pos:]
	pos   int
	base  int64 // stream offset of buf[0]
	page  byte
	state int
	stack []Tag
	empty bool // a StartToken without content was returned; EndToken is due
	// justStarted: the last token returned was a StartToken.
	justStarted bool
	err         error
}

// NewDecoder returns a Decoder reading from r. It buffers r itself.
func NewDecoder(r io.Reader) *Decoder {
	return &Decoder{r: r, buf: make([]byte, 0, 4096)}
}

// NewBytesDecoder returns a Decoder reading the document b without copying
// it: the Data of the tokens it returns points into b.
func NewBytesDecoder(b []byte) *Decoder {
	return &Decoder{buf: b, rerr: io.EOF}
}

// InputOffset returns the offset of the next byte the decoder will read.
func (d *Decoder) InputOffset() int64 { return d.base + int64(d.pos) }

// Depth returns the number of elements currently open.
func (d *Decoder) Depth() int { return len(d.stack) }

// Token returns the next token. At the end of the document it returns
// io.EOF; a malformed document gives an [*Error]. Errors are sticky.
func (d *Decoder) Token() (Token, error) {
	if d.err != nil {
		return Token{}, d.err
	}
	t, err := d.next()
	if err != nil {
		d.err = err
	}
	d.justStarted = t.Kind == StartToken
	return t, err
}

func (d *Decoder) fail(off int64, kind ErrorKind, format string, args ...any) error {
	return &Error{Offset: off, Kind: kind, Detail: fmt.Sprintf(format, args...)}
}

// fill reads more input, keeping buf[pos:]. It reports whether any byte was
// added.
func (d *Decoder) fill() bool {
	if d.rerr != nil {
		return false
	}
	if d.pos > 0 && d.pos == len(d.buf) {
		d.base += int64(d.pos)
		d.buf = d.buf[:0]
		d.pos = 0
	} else if d.pos > 0 && len(d.buf) == cap(d.buf) {
		n := copy(d.buf, d.buf[d.pos:])
		d.base += int64(d.pos)
		d.buf = d.buf[:n]
		d.pos = 0
	}
	if len(d.buf) == cap(d.buf) {
		nb := make([]byte, len(d.buf), 2*cap(d.buf)+4096)
		copy(nb, d.buf)
		d.buf = nb
	}
	for range 100 {
		n, err := d.r.Read(d.buf[len(d.buf):cap(d.buf)])
		d.buf = d.buf[:len(d.buf)+n]
		if err != nil {
			d.rerr = err
		}
		if n > 0 {
			return true
		}
		if err != nil {
			return false
		}
	}
	d.rerr = io.ErrNoProgress
	return false
}

// ioErr converts a reader failure into an *Error, or returns nil at a clean
// end of input.
func (d *Decoder) ioErr() error {
	if d.rerr == nil || d.rerr == io.EOF {
		return nil
	}
	return &Error{Offset: d.InputOffset(), Kind: KindIO, Err: d.rerr}
}

func (d *Decoder) readByte() (byte, bool) {
	if d.pos < len(d.buf) {
		b := d.buf[d.pos]
		d.pos++
		return b, true
	}
	if !d.fill() {
		return 0, false
	}
	b := d.buf[d.pos]
	d.pos++
	return b, true
}

// short returns the error for input that ends inside a token.
func (d *Decoder) short(off int64, what string) error {
	if err := d.ioErr(); err != nil {
		return err
	}
	return truncated(off, what)
}

// mbUint32 reads a multi-byte integer; off is the offset of its token.
func (d *Decoder) mbUint32(what string) (uint32, error) {
	start := d.InputOffset()
	var v uint64
	for i := 0; i < 5; i++ {
		b, ok := d.readByte()
		if !ok {
			return 0, d.short(start, what+" ends early")
		}
		v = v<<7 | uint64(b&0x7F)
		if b&0x80 == 0 {
			if v > 0xFFFFFFFF {
				return 0, d.fail(start, KindMultiByteInt, "%s exceeds 32 bits", what)
			}
			return uint32(v), nil
		}
	}
	return 0, d.fail(start, KindMultiByteInt, "%s continues past 5 bytes", what)
}

func (d *Decoder) header() error {
	b, ok := d.readByte()
	if !ok {
		if err := d.ioErr(); err != nil {
			return err
		}
		return truncated(0, "empty input: no WBXML header")
	}
	if b < 1 || b > 3 {
		return d.fail(0, KindHeader, "version byte 0x%02X, want 0x03 (WBXML 1.3)", b)
	}
	pub, err := d.mbUint32("public identifier")
	if err != nil {
		return err
	}
	if pub == 0 {
		return d.fail(1, KindStringTable, "public identifier given as a string-table index")
	}
	off := d.InputOffset()
	cs, err := d.mbUint32("charset")
	if err != nil {
		return err
	}
	if cs != 106 {
		return d.fail(off, KindHeader, "charset MIBenum %d, want 106 (UTF-8)", cs)
	}
	off = d.InputOffset()
	n, err := d.mbUint32("string table length")
	if err != nil {
		return err
	}
	// A string table nobody references is harmless: skip it. References
	// to it (STR_T) are errors.
	for n > 0 {
		if d.pos == len(d.buf) && !d.fill() {
			return d.short(off, fmt.Sprintf("string table declares %d more bytes than the input holds", n))
		}
		k := min(uint32(len(d.buf)-d.pos), n)
		d.pos += int(k)
		n -= k
	}
	d.state = stBeforeRoot
	return nil
}

func (d *Decoder) next() (Token, error) {
	if d.state == stHeader {
		if err := d.header(); err != nil {
			return Token{}, err
		}
	}
	if d.empty {
		d.empty = false
		return d.pop(), nil
	}
	for {
		off := d.InputOffset()
		b, ok := d.readByte()
		if !ok {
			if err := d.ioErr(); err != nil {
				return Token{}, err
			}
			switch d.state {
			case stBeforeRoot:
				return Token{}, &Error{Offset: off, Kind: KindNoRoot, Detail: "the document ends before its root element", Err: io.ErrUnexpectedEOF}
			case stBody:
				return Token{}, truncated(off, fmt.Sprintf("input ends with %d element(s) open, innermost %s", len(d.stack), d.stack[len(d.stack)-1]))
			}
			return Token{}, io.EOF
		}
		if d.state == stDone {
			return Token{}, d.fail(off, KindTrailingData, "byte 0x%02X after the root element", b)
		}
		switch b {
		case tokSwitchPage:
			p, ok := d.readByte()
			if !ok {
				return Token{}, d.short(off, "SWITCH_PAGE without its page byte")
			}
			if int(p) >= numPages {
				return Token{}, d.fail(off, KindUnknownPage, "SWITCH_PAGE to page %d (pages are 0 to %d)", p, numPages-1)
			}
			d.page = p
			continue
		case tokEnd:
			if len(d.stack) == 0 {
				return Token{}, d.fail(off, KindUnbalanced, "END with no open element")
			}
			return d.pop(), nil
		case tokStrI:
			if len(d.stack) == 0 {
				return Token{}, d.fail(off, KindUnbalanced, "inline string outside the root element")
			}
			return d.strI(off)
		case tokOpaque:
			if len(d.stack) == 0 {
				return Token{}, d.fail(off, KindUnbalanced, "OPAQUE outside the root element")
			}
			return d.opaque(off)
		case tokStrT:
			return Token{}, d.fail(off, KindStringTable, "STR_T (string-table reference)")
		case tokEntity, tokLiteral, 0x40, 0x41, 0x42, 0x43, 0x44, 0x80, 0x81, 0x82, 0x84, 0xC0, 0xC1, 0xC2, 0xC4:
			return Token{}, d.fail(off, KindUnsupportedToken, "global token 0x%02X", b)
		}
		if b&flagAttribute != 0 {
			return Token{}, d.fail(off, KindAttribute, "tag byte 0x%02X has the attribute flag", b)
		}
		t := NewTag(d.page, b)
		fl := t.flags()
		if fl&flagCurrent == 0 && !(d.AllowLegacy && fl&flagLegacy != 0) {
			if fl&flagLegacy != 0 {
				return Token{}, d.fail(off, KindUnknownTag, "legacy tag %s (0x%02X on page %d); set AllowLegacy to accept it", t, t.Identity(), d.page)
			}
			return Token{}, d.fail(off, KindUnknownTag, "tag 0x%02X on page %d (%s)", t.Identity(), d.page, namespaces[d.page])
		}
		max := d.MaxDepth
		if max <= 0 {
			max = DefaultMaxDepth
		}
		if len(d.stack) >= max {
			return Token{}, d.fail(off, KindTooDeep, "more than %d nested elements", max)
		}
		d.stack = append(d.stack, t)
		d.state = stBody
		if b&flagContent == 0 {
			d.empty = true
			return Token{Kind: StartToken, Tag: t, Empty: true}, nil
		}
		return Token{Kind: StartToken, Tag: t}, nil
	}
}

func (d *Decoder) pop() Token {
	t := d.stack[len(d.stack)-1]
	d.stack = d.stack[:len(d.stack)-1]
	if len(d.stack) == 0 {
		d.state = stDone
	}
	return Token{Kind: EndToken, Tag: t}
}

func (d *Decoder) strI(off int64) (Token, error) {
	start := d.pos
	scan := d.pos
	for {
		if i := indexZero(d.buf[scan:]); i >= 0 {
			end := scan + i
			s := d.buf[start:end:end]
			d.pos = end + 1
			if !utf8.Valid(s) {
				return Token{}, d.fail(off, KindInvalidUTF8, "inline string is not valid UTF-8")
			}
			return Token{Kind: TextToken, Data: s}, nil
		}
		scanned := len(d.buf) - start
		oldPos := d.pos
		if !d.fill() {
			d.pos = len(d.buf)
			return Token{}, d.short(off, "inline string without its terminating NUL")
		}
		// fill may have moved the buffer; recompute from the string start.
		start = start - oldPos + d.pos
		scan = start + scanned
	}
}

func indexZero(b []byte) int { return bytes.IndexByte(b, 0) }

func (d *Decoder) opaque(off int64) (Token, error) {
	n, err := d.mbUint32("OPAQUE length")
	if err != nil {
		return Token{}, err
	}
	for uint64(len(d.buf)-d.pos) < uint64(n) {
		if !d.fill() {
			d.pos = len(d.buf)
			return Token{}, d.short(off, fmt.Sprintf("OPAQUE declares %d bytes, fewer remain", n))
		}
	}
	s := d.buf[d.pos : d.pos+int(n) : d.pos+int(n)]
	d.pos += int(n)
	return Token{Kind: OpaqueToken, Data: s}, nil
}
