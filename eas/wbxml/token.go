package wbxml

import "fmt"

// TokenKind says what a [Token] is.
type TokenKind uint8

// The kinds of [Token].
const (
	// StartToken opens an element (Token.Tag). Token.Empty is true when the
	// tag had no content flag; an EndToken follows at once either way.
	StartToken TokenKind = iota + 1
	// EndToken closes the innermost open element (Token.Tag says which).
	EndToken
	// TextToken is an inline string (STR_I); Token.Data holds its UTF-8 bytes.
	TextToken
	// OpaqueToken is OPAQUE data; Token.Data holds the bytes.
	OpaqueToken
)

// String returns "start", "end", "text" or "opaque".
func (k TokenKind) String() string {
	switch k {
	case StartToken:
		return "start"
	case EndToken:
		return "end"
	case TextToken:
		return "text"
	case OpaqueToken:
		return "opaque"
	}
	return fmt.Sprintf("TokenKind(%d)", k)
}

// Token is one item of a WBXML document as the [Decoder] reads it and the
// [Encoder] writes it. Code-page switches are not tokens: the decoder folds
// them into Tag, the encoder emits them when needed.
type Token struct {
	Kind TokenKind
	// Tag is the element opened or closed (StartToken, EndToken).
	Tag Tag
	// Empty is set on a StartToken read from a tag without the content flag.
	// The encoder ignores it: it writes the short form whenever an element
	// has no content.
	Empty bool
	// Data is the payload of TextToken and OpaqueToken. From a Decoder it
	// points into the decoder's buffer and is valid only until the next call
	// to Token; copy it to keep it.
	Data []byte
}

// String describes t for debugging; the payload is shown by length only.
func (t Token) String() string {
	switch t.Kind {
	case StartToken, EndToken:
		return t.Kind.String() + " " + t.Tag.String()
	case TextToken, OpaqueToken:
		return fmt.Sprintf("%s (%d bytes)", t.Kind, len(t.Data))
	}
	return t.Kind.String()
}
