package wbxml

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// ToXML decodes a WBXML document and returns its XML form, a readable
// rendering for debugging and tests:
//
//   - the root element's code page is the default namespace; every other
//     page used is declared on the root with the lower-cased namespace name
//     as prefix, in order of first use: xmlns:airsyncbase="AirSyncBase";
//   - two-space indentation; whitespace between elements carries no meaning,
//     leaf text is verbatim (only &, <, > and CR are escaped);
//   - an element without the content flag is written <Tag/>, one with the
//     flag and no content <Tag></Tag>; both encode to the short form;
//   - OPAQUE is written as text when it is valid UTF-8 without control
//     characters other than tab, CR and LF, and as standard padded base64
//     otherwise (also when the text itself would read as base64 of binary
//     data, so that the rendering is reversible).
//
// An inline string with characters XML 1.0 cannot carry (control
// characters other than tab, CR and LF) is a KindXML error. Legacy tags are
// rejected; see [LegacyToXML]. [FromXML] reverses the rendering.
func ToXML(b []byte) ([]byte, error) { return toXML(b, false) }

// LegacyToXML is [ToXML] accepting the tags of protocol versions 2.5 to 12.x.
func LegacyToXML(b []byte) ([]byte, error) { return toXML(b, true) }

type xmlFrame struct {
	tag     Tag
	child   bool
	content TokenKind // TextToken or OpaqueToken once content was seen
}

// maxIndent is the deepest indentation ToXML writes: deeper elements are
// indented as much as this level, so a line costs the same at any depth.
const maxIndent = 16

// xmlOutputLimit returns the largest rendering ToXML produces for an input
// of n bytes: a small multiple of the input. Documents whose rendering
// would be larger (many empty elements deep down, which take one byte each)
// are refused before any output is allocated.
func xmlOutputLimit(n int) int { return 32*n + 64<<10 }

func indentOf(depth int) int { return 2 * min(depth, maxIndent) }

func toXML(b []byte, legacy bool) ([]byte, error) {
	// Pass 1: validate, collect the pages in order of first use and add up
	// the size of the output.
	d := NewBytesDecoder(b)
	d.AllowLegacy = legacy
	var pages []byte
	var used [numPages]bool
	var root byte
	size := len(xmlDecl)
	nameLen := func(t Tag) int {
		n := len(t.Name())
		if t.Page() != root {
			n += len(PageNamespace(t.Page())) + 1
		}
		return n
	}
	skipEnd := false
	limit := xmlOutputLimit(len(b))
	for {
		t, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t.Kind {
		case StartToken:
			if !used[t.Tag.Page()] {
				if len(pages) == 0 {
					root = t.Tag.Page()
				}
				used[t.Tag.Page()] = true
				pages = append(pages, t.Tag.Page())
				ns := PageNamespace(t.Tag.Page())
				size += len(` xmlns:=""`) + 2*len(ns)
			}
			// newline, indentation, <name/> or <name>
			size += 1 + indentOf(d.Depth()-1) + 1 + nameLen(t.Tag) + 2
			skipEnd = t.Empty
		case EndToken:
			if !skipEnd {
				// newline, indentation, </name>
				size += 1 + indentOf(d.Depth()) + 3 + nameLen(t.Tag)
			}
			skipEnd = false
		case TextToken:
			size += escapedLen(t.Data)
		case OpaqueToken:
			if opaqueAsText(t.Data) {
				size += escapedLen(t.Data)
			} else {
				size += base64.StdEncoding.EncodedLen(len(t.Data))
			}
		}
		if size > limit {
			return nil, &Error{Offset: d.InputOffset(), Kind: KindTooLarge, Detail: fmt.Sprintf("the XML form of %d bytes of WBXML would exceed %d bytes", len(b), limit)}
		}
	}

	// Pass 2: write.
	d = NewBytesDecoder(b)
	d.AllowLegacy = legacy
	out := make([]byte, 0, size)
	out = append(out, xmlDecl...)
	var stack []xmlFrame
	var prefixes [numPages]string
	for _, p := range pages[1:] {
		prefixes[p] = strings.ToLower(PageNamespace(p)) + ":"
	}
	appendName := func(out []byte, t Tag) []byte {
		out = append(out, prefixes[t.Page()]...)
		return append(out, t.Name()...)
	}
	indent := func(n int) {
		out = append(out, spaces[:indentOf(n)]...)
	}
	for {
		off := d.InputOffset()
		t, err := d.Token()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		switch t.Kind {
		case StartToken:
			if n := len(stack); n > 0 {
				top := &stack[n-1]
				if top.content != 0 {
					return nil, &Error{Offset: off, Kind: KindMixedContent, Detail: "element after text in " + top.tag.String()}
				}
				top.child = true
				out = append(out, '\n')
			}
			indent(len(stack))
			out = append(out, '<')
			out = appendName(out, t.Tag)
			if len(stack) == 0 {
				out = append(out, ` xmlns="`...)
				out = append(out, PageNamespace(root)...)
				out = append(out, '"')
				for _, p := range pages[1:] {
					out = append(out, " xmlns:"...)
					out = append(out, strings.ToLower(PageNamespace(p))...)
					out = append(out, `="`...)
					out = append(out, PageNamespace(p)...)
					out = append(out, '"')
				}
			}
			if t.Empty {
				out = append(out, "/>"...)
				if _, err := d.Token(); err != nil { // the EndToken of the empty tag
					return nil, err
				}
				if len(stack) == 0 {
					out = append(out, '\n')
				}
				continue
			}
			out = append(out, '>')
			stack = append(stack, xmlFrame{tag: t.Tag})
		case EndToken:
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if top.child {
				out = append(out, '\n')
				indent(len(stack))
			}
			out = append(out, "</"...)
			out = appendName(out, t.Tag)
			out = append(out, '>')
			if len(stack) == 0 {
				out = append(out, '\n')
			}
		case TextToken, OpaqueToken:
			if t.Kind == TextToken && len(t.Data) == 0 {
				continue // an empty inline string adds nothing
			}
			top := &stack[len(stack)-1]
			if top.child || (top.content != 0 && top.content != t.Kind) {
				return nil, &Error{Offset: off, Kind: KindMixedContent, Detail: "text next to other content in " + top.tag.String()}
			}
			top.content = t.Kind
			if t.Kind == OpaqueToken {
				out = appendOpaqueXML(out, t.Data)
				continue
			}
			if !xmlSafe(t.Data) {
				return nil, &Error{Offset: off, Kind: KindXML, Detail: "inline string in " + top.tag.String() + " holds characters XML 1.0 cannot carry"}
			}
			out = appendEscaped(out, t.Data)
		}
	}
}

const xmlDecl = `<?xml version="1.0" encoding="utf-8"?>` + "\n"

var spaces = strings.Repeat(" ", 2*maxIndent)

// escapedLen returns the length of b written by appendEscaped.
func escapedLen(b []byte) int {
	n := len(b)
	for _, c := range b {
		switch c {
		case '&', '<', '>':
			n += 4
		case '\r':
			n += 4
		}
	}
	return n
}

// xmlSafe reports whether b is UTF-8 text with no control characters other
// than tab, CR and LF (and no U+FFFE/U+FFFF), so XML 1.0 can carry it.
func xmlSafe(b []byte) bool {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 || r == 0xFFFE || r == 0xFFFF {
			return false
		}
		i += n
	}
	return true
}

func appendEscaped(out, b []byte) []byte {
	for _, c := range b {
		switch c {
		case '&':
			out = append(out, "&amp;"...)
		case '<':
			out = append(out, "&lt;"...)
		case '>':
			out = append(out, "&gt;"...)
		case '\r':
			out = append(out, "&#xD;"...)
		default:
			out = append(out, c)
		}
	}
	return out
}

// opaqueAsText reports whether OPAQUE bytes b are written as text: b is
// XML-safe text that does not itself read as the base64 rendering of other
// bytes.
func opaqueAsText(b []byte) bool {
	if !xmlSafe(b) {
		return false
	}
	_, isB64 := opaqueFromBase64(string(b))
	return !isB64
}

// opaqueFromBase64 returns the bytes s stands for when s is the base64
// rendering of OPAQUE data (and not a text rendering).
func opaqueFromBase64(s string) ([]byte, bool) {
	if s == "" || len(s)%4 != 0 {
		return nil, false
	}
	d, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || opaqueAsText(d) {
		return nil, false
	}
	return d, true
}

func appendOpaqueXML(out, b []byte) []byte {
	if opaqueAsText(b) {
		return appendEscaped(out, b)
	}
	return base64.StdEncoding.AppendEncode(out, b)
}

// parseOpaqueXML reverses appendOpaqueXML.
func parseOpaqueXML(s string) []byte {
	if d, ok := opaqueFromBase64(s); ok {
		return d
	}
	return []byte(s)
}

// FromXML encodes the XML form (see [ToXML]) as WBXML. An element the tables
// mark binary ([Tag.IsOpaque]: ComposeMail Mime, Email2 ConversationId, ...)
// is sent as OPAQUE, every other element's text as an inline string, so
// OPAQUE content of other elements comes back as STR_I. Namespaces are
// resolved through the xmlns declarations; an undeclared prefix is taken as
// the namespace name itself (so "airsyncbase:Body" works without a
// declaration). Attributes other than namespace declarations are rejected.
func FromXML(x []byte) ([]byte, error) {
	var out bytes.Buffer
	e := NewEncoder(&out)
	xd := xml.NewDecoder(bytes.NewReader(x))
	type frame struct {
		child bool
		tag   Tag
		text  []byte
	}
	var stack []frame
	for {
		off := xd.InputOffset()
		tok, err := xd.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return nil, &Error{Offset: off, Kind: KindXML, Detail: se.Msg, Err: err}
			}
			return nil, &Error{Offset: off, Kind: KindXML, Detail: err.Error(), Err: err}
		}
		switch t := tok.(type) {
		case xml.StartElement:
			for _, a := range t.Attr {
				if a.Name.Space != "xmlns" && !(a.Name.Space == "" && a.Name.Local == "xmlns") {
					return nil, &Error{Offset: off, Kind: KindXML, Detail: "attribute " + a.Name.Local + " on " + t.Name.Local + " (the XML form has none)"}
				}
			}
			if t.Name.Space == "" {
				return nil, &Error{Offset: off, Kind: KindUnknownName, Detail: "element " + t.Name.Local + " has no namespace"}
			}
			tag, ok := LookupTag(t.Name.Space, t.Name.Local)
			if !ok {
				return nil, &Error{Offset: off, Kind: KindUnknownName, Detail: "no element " + t.Name.Local + " in namespace " + t.Name.Space}
			}
			if n := len(stack); n > 0 {
				if len(bytes.TrimLeft(stack[n-1].text, " \t\r\n")) > 0 {
					return nil, &Error{Offset: off, Kind: KindMixedContent, Detail: "text and elements in " + stack[n-1].tag.String()}
				}
				stack[n-1].child = true
				stack[n-1].text = stack[n-1].text[:0]
			}
			if err := e.Start(tag); err != nil {
				return nil, err
			}
			stack = append(stack, frame{tag: tag})
		case xml.CharData:
			if len(stack) == 0 {
				if len(bytes.TrimLeft(t, " \t\r\n")) > 0 {
					return nil, &Error{Offset: off, Kind: KindXML, Detail: "text outside the root element"}
				}
				continue
			}
			top := &stack[len(stack)-1]
			if top.child {
				if len(bytes.TrimLeft(t, " \t\r\n")) > 0 {
					return nil, &Error{Offset: off, Kind: KindMixedContent, Detail: "text and elements in " + top.tag.String()}
				}
				continue
			}
			top.text = append(top.text, t...)
		case xml.EndElement:
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if !top.child && len(top.text) > 0 {
				if top.tag.IsOpaque() {
					err = e.Opaque(parseOpaqueXML(string(top.text)))
				} else {
					err = e.TextBytes(top.text)
				}
				if err != nil {
					return nil, err
				}
			}
			if err := e.End(); err != nil {
				return nil, err
			}
		}
	}
	if err := e.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
