package wbxml

import (
	"fmt"
	"strings"
)

//go:generate go run ./internal/gen -in internal/gen/codepages.json -out tables_gen.go

// Flags of a table entry.
const (
	flagCurrent uint8 = 1 << iota // listed in MS-ASWBXML v20190319
	flagLegacy                    // only in older protocol versions
	flagOpaque                    // binary content, sent as OPAQUE
)

// Tag identifies an element: the code page in the high byte and the token
// identity (0x05 to 0x3F) in the low byte. The package declares a constant for
// every tag of MS-ASWBXML, named namespace + element, e.g. [AirSyncSync].
type Tag uint16

// NewTag returns the tag for a code page and token identity. It does not
// check the tables; see [Tag.Known].
func NewTag(page, identity byte) Tag { return Tag(page)<<8 | Tag(identity&0x3F) }

// Page returns the code page of t.
func (t Tag) Page() byte { return byte(t >> 8) }

// Identity returns the token of t without the content flag (0x05 to 0x3F).
func (t Tag) Identity() byte { return byte(t) & 0x3F }

// Name returns the element name of t, or "" when the tables do not know it.
func (t Tag) Name() string {
	p, id := t.Page(), t.Identity()
	if int(p) >= numPages {
		return ""
	}
	return tagNames[p][id]
}

// Namespace returns the namespace name of t's code page (for example
// "AirSync"), or "" when the page does not exist.
func (t Tag) Namespace() string { return PageNamespace(t.Page()) }

// Known reports whether t is a tag of MS-ASWBXML v20190319.
func (t Tag) Known() bool { return t.flags()&flagCurrent != 0 }

// Legacy reports whether t is a tag that only older protocol versions (2.5
// to 12.x) use and MS-ASWBXML no longer lists, such as AirSync Truncation.
func (t Tag) Legacy() bool { return t.flags()&flagLegacy != 0 }

// IsOpaque reports whether the content of t is binary and travels as OPAQUE
// (for example ComposeMail Mime or Email2 ConversationId), following the
// elements libwbxml marks binary. Decoders accept OPAQUE for any element;
// [FromXML] uses this to choose between OPAQUE and an inline string.
func (t Tag) IsOpaque() bool { return t.flags()&flagOpaque != 0 }

func (t Tag) flags() uint8 {
	p := t.Page()
	if int(p) >= numPages || byte(t)&^0x3F != 0 {
		return 0
	}
	return tagFlags[p][t.Identity()]
}

// String returns "Namespace:Name", or a hexadecimal form for unknown tags.
func (t Tag) String() string {
	if n := t.Name(); n != "" {
		return t.Namespace() + ":" + n
	}
	return fmt.Sprintf("page%d:0x%02X", t.Page(), t.Identity())
}

// LookupTag returns the tag of the element name on the code page of
// namespace ns. Namespaces match case-insensitively and may carry the
// trailing colon MS-ASHTTP examples use ("FolderHierarchy:"). Names match
// exactly; legacy names and the spelling variants of other implementations
// (for example "CheckCrl") are accepted too.
func LookupTag(ns, name string) (Tag, bool) {
	p, ok := LookupPage(ns)
	if !ok {
		return 0, false
	}
	id, ok := tagsByName[p][name]
	if !ok {
		return 0, false
	}
	return NewTag(p, id), true
}

// LookupPage returns the code page of a namespace name such as "AirSync" or
// "airsyncbase".
func LookupPage(ns string) (byte, bool) {
	ns = strings.TrimSuffix(ns, ":")
	for i, n := range namespaces {
		if strings.EqualFold(n, ns) {
			return byte(i), true
		}
	}
	return 0, false
}

// PageNamespace returns the namespace name of a code page, or "" when the
// page does not exist (pages run from 0 to 25).
func PageNamespace(page byte) string {
	if int(page) >= numPages {
		return ""
	}
	return namespaces[page]
}
