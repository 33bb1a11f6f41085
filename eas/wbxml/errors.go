package wbxml

import (
	"fmt"
	"io"
)

// ErrorKind classifies an [Error].
type ErrorKind uint8

// The kinds of [Error].
const (
	// KindIO: the reader or writer failed; Error.Err holds its error.
	KindIO ErrorKind = iota + 1
	// KindHeader: the document header is not WBXML 1.x with UTF-8.
	KindHeader
	// KindTruncated: the input ended inside a token or with elements open.
	KindTruncated
	// KindMultiByteInt: an mb_u_int32 is longer than 5 bytes or exceeds 32 bits.
	KindMultiByteInt
	// KindStringTable: a string-table reference (STR_T or a public id by
	// string-table index); ActiveSync documents have no string table.
	KindStringTable
	// KindUnknownPage: SWITCH_PAGE to a code page that does not exist.
	KindUnknownPage
	// KindUnknownTag: a tag the code page does not define (or a legacy tag
	// while legacy tags are not allowed).
	KindUnknownTag
	// KindAttribute: a tag with the attribute flag (0x80); ActiveSync uses none.
	KindAttribute
	// KindUnsupportedToken: a WBXML global token ActiveSync does not use
	// (ENTITY, LITERAL*, EXT*, PI).
	KindUnsupportedToken
	// KindUnbalanced: END with no open element, content outside the root
	// element, a second root, or (when encoding) End/Close at the wrong time.
	KindUnbalanced
	// KindNoRoot: the document has no root element.
	KindNoRoot
	// KindTrailingData: bytes follow the end of the root element.
	KindTrailingData
	// KindInvalidUTF8: an inline string is not valid UTF-8 or contains NUL.
	KindInvalidUTF8
	// KindTooDeep: elements nest deeper than the decoder's MaxDepth.
	KindTooDeep
	// KindMixedContent: an element holds both text and child elements, or
	// both inline text and OPAQUE data; the tree API cannot represent it.
	KindMixedContent
	// KindUnknownName: a namespace or element name that the tables do not know
	// (tree encoding and FromXML).
	KindUnknownName
	// KindXML: the XML form given to FromXML is malformed, or ToXML met
	// text XML 1.0 cannot carry.
	KindXML
	// KindValue: struct mapping met a value that does not fit (a number
	// field whose element holds no number, an unsupported field type).
	KindValue
	// KindTooLarge: a document holds more elements than the decoder's
	// MaxNodes, or its XML rendering would exceed the output limit.
	KindTooLarge
)

var kindText = [...]string{
	KindIO:               "i/o error",
	KindHeader:           "bad header",
	KindTruncated:        "truncated input",
	KindMultiByteInt:     "mb_u_int32 too long",
	KindStringTable:      "string table reference",
	KindUnknownPage:      "unknown code page",
	KindUnknownTag:       "unknown tag",
	KindAttribute:        "attributes not allowed",
	KindUnsupportedToken: "unsupported global token",
	KindUnbalanced:       "unbalanced element",
	KindNoRoot:           "no root element",
	KindTrailingData:     "trailing data",
	KindInvalidUTF8:      "invalid string",
	KindTooDeep:          "nesting too deep",
	KindMixedContent:     "mixed content",
	KindUnknownName:      "unknown name",
	KindXML:              "malformed XML",
	KindValue:            "bad value",
	KindTooLarge:         "document too large",
}

// String returns a short description of k.
func (k ErrorKind) String() string {
	if int(k) < len(kindText) && kindText[k] != "" {
		return kindText[k]
	}
	return fmt.Sprintf("ErrorKind(%d)", k)
}

// Error reports a malformed document or a misuse of the encoder. Every
// decoding error carries the byte offset where the offending token starts
// (counted from the first header byte); encoding errors carry the offset of
// the output written so far.
type Error struct {
	Offset int64     // byte offset of the offending token
	Kind   ErrorKind // what is wrong
	Detail string    // the specifics, such as "tag 0x3F on page 0 (AirSync)"
	Err    error     // underlying error (I/O errors, io.ErrUnexpectedEOF), may be nil
}

// Error returns "wbxml: <kind> at offset N: <detail>" followed by a hint.
func (e *Error) Error() string {
	s := fmt.Sprintf("wbxml: %s at offset %d", e.Kind, e.Offset)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil && e.Kind == KindIO {
		s += ": " + e.Err.Error()
	}
	if h := e.hint(); h != "" {
		s += " (" + h + ")"
	}
	return s
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

func (e *Error) hint() string {
	switch e.Kind {
	case KindTruncated:
		return "the body was cut short; check Content-Length and that the whole response was read"
	case KindHeader:
		return "ActiveSync bodies start with 03 01 6A 00; an HTML or XML body usually means an error page or a proxy"
	case KindUnknownTag:
		return "the server may speak a protocol version whose tags this package does not know; try Decoder.AllowLegacy"
	case KindStringTable, KindAttribute, KindUnsupportedToken:
		return "ActiveSync WBXML never uses this; the input is not an ActiveSync document"
	}
	return ""
}

func truncated(off int64, detail string) *Error {
	return &Error{Offset: off, Kind: KindTruncated, Detail: detail, Err: io.ErrUnexpectedEOF}
}
