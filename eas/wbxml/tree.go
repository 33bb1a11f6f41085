package wbxml

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Node is one element of a document in the tree API.
//
// An element holds child elements, or inline text, or OPAQUE data, or
// nothing: a leaf with Opaque != nil is sent as OPAQUE, a leaf with a
// non-empty Text as an inline string (STR_I), and an element with neither
// Text, Opaque nor Children as an empty tag. Setting both Text and Opaque, or
// content and Children, is an error (KindMixedContent) when encoding.
type Node struct {
	Page     byte    // code page, 0 to 25
	Name     string  // element name as in MS-ASWBXML, e.g. "Sync"
	Text     string  // inline string content (leaf)
	Opaque   []byte  // OPAQUE content (leaf); nil when none
	Children []*Node // child elements, in order

	badNS string // namespace given to Elem that the tables do not know
}

// Elem returns an element of namespace ns (for example "AirSync" or
// "airsyncbase") with the given children. Elem never panics: an unknown
// namespace or name yields a Node that [Marshal] and [Encoder.Encode] reject
// with a KindUnknownName error, naming it. Nil children are skipped, which
// makes optional elements easy to write.
func Elem(ns, name string, children ...*Node) *Node {
	n := &Node{Name: name}
	if p, ok := LookupPage(ns); ok {
		n.Page = p
	} else {
		n.Page = 0xFF
		n.badNS = ns
	}
	if len(children) > 0 {
		n.Children = make([]*Node, 0, len(children))
		for _, c := range children {
			if c != nil {
				n.Children = append(n.Children, c)
			}
		}
	}
	return n
}

// Text returns a leaf element holding text, sent as an inline string.
func Text(ns, name, text string) *Node {
	n := Elem(ns, name)
	n.Text = text
	return n
}

// Opaque returns a leaf element holding b, sent as OPAQUE. A nil b is
// stored as an empty, non-nil slice, so the element stays an OPAQUE leaf.
func Opaque(ns, name string, b []byte) *Node {
	n := Elem(ns, name)
	if b == nil {
		b = []byte{}
	}
	n.Opaque = b
	return n
}

// Namespace returns the namespace name of n's code page, such as "AirSync".
func (n *Node) Namespace() string {
	if n.badNS != "" {
		return n.badNS
	}
	return PageNamespace(n.Page)
}

// Tag returns n's tag and whether the tables know it.
func (n *Node) Tag() (Tag, bool) {
	if n.badNS != "" || int(n.Page) >= numPages {
		return 0, false
	}
	id, ok := tagsByName[n.Page][n.Name]
	return NewTag(n.Page, id), ok
}

// matches reports whether n is named name, which is "Name" (any page) or
// "namespace:Name" (namespace matched case-insensitively).
func (n *Node) matches(name string) bool {
	if i := strings.IndexByte(name, ':'); i >= 0 {
		return n.Name == name[i+1:] && strings.EqualFold(n.Namespace(), name[:i])
	}
	return n.Name == name
}

// Child returns the first child element named name, or nil (also when n is
// nil, and skipping nil entries in Children). name is an
// element name ("Status", matching any code page) or a qualified name
// ("AirSyncBase:Body").
func (n *Node) Child(name string) *Node {
	if n == nil {
		return nil
	}
	for _, c := range n.Children {
		if c != nil && c.matches(name) {
			return c
		}
	}
	return nil
}

// ChildText returns the content of the first child named name (see
// [Node.Child]) as a string: its Text, or its Opaque bytes. It returns ""
// when there is no such child. It is safe on a nil Node, so lookups chain:
// n.Child("Collections").Child("Collection").ChildText("SyncKey").
func (n *Node) ChildText(name string) string { return n.Child(name).Content() }

// Content returns a leaf's content as a string, whether it came as inline text
// (STR_I, STR_T) or as OPAQUE bytes. It is "" on a nil Node.
func (n *Node) Content() string {
	if n == nil {
		return ""
	}
	if n.Opaque != nil {
		return string(n.Opaque)
	}
	return n.Text
}

// Elements returns n's children; nil on a nil Node, so a missing parent reads as
// "no children" rather than a panic.
func (n *Node) Elements() []*Node {
	if n == nil {
		return nil
	}
	return n.Children
}

// All returns every child element named name (see [Node.Child]).
func (n *Node) All(name string) []*Node {
	if n == nil {
		return nil
	}
	var out []*Node
	for _, c := range n.Children {
		if c != nil && c.matches(name) {
			out = append(out, c)
		}
	}
	return out
}

// Marshal encodes the document whose root is n, header included.
func Marshal(n *Node) ([]byte, error) {
	var b bytes.Buffer
	b.Grow(sizeBound(n))
	e := NewEncoder(&b)
	if err := e.Encode(n); err != nil {
		return nil, err
	}
	if err := e.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// sizeBound returns an upper bound of the encoded size of n (header
// included), so Marshal allocates its output once.
func sizeBound(n *Node) int {
	size, count := 4, 0
	var walk func(n *Node)
	walk = func(n *Node) {
		if n == nil || count > 1<<16 {
			return // a guess is enough for huge (or cyclic) trees
		}
		count++
		size += 4 + 6 + len(n.Text) + len(n.Opaque) // switch, tag, end, token, length, NUL
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(n)
	return size
}

// Encode writes the element n and everything under it.
func (e *Encoder) Encode(n *Node) error {
	if e.err != nil {
		return e.err
	}
	if n == nil {
		return e.fail(KindUnknownName, "nil node")
	}
	if len(e.stack) >= maxEncodeDepth {
		return e.fail(KindTooDeep, "more than %d nested elements (is the tree cyclic?)", maxEncodeDepth)
	}
	t, ok := n.Tag()
	if !ok {
		if n.badNS != "" || PageNamespace(n.Page) == "" {
			return e.fail(KindUnknownName, "unknown namespace %q (element %q)", n.Namespace(), n.Name)
		}
		return e.fail(KindUnknownName, "no element %q in namespace %s", n.Name, n.Namespace())
	}
	if (n.Text != "" && n.Opaque != nil) || (len(n.Children) > 0 && (n.Text != "" || n.Opaque != nil)) {
		return e.fail(KindMixedContent, "%s has more than one kind of content", t)
	}
	if err := e.Start(t); err != nil {
		return err
	}
	switch {
	case n.Opaque != nil:
		if err := e.Opaque(n.Opaque); err != nil {
			return err
		}
	case n.Text != "":
		if err := e.Text(n.Text); err != nil {
			return err
		}
	}
	for _, c := range n.Children {
		if err := e.Encode(c); err != nil {
			return err
		}
	}
	return e.End()
}

// Unmarshal decodes a whole document into a tree. Content that the tree
// cannot hold (text next to child elements, inline text next to OPAQUE) is
// a KindMixedContent error; several inline strings in one element are
// joined. Legacy tags are rejected; use a [Decoder] with AllowLegacy and
// [Decoder.Decode] to accept them.
func Unmarshal(b []byte) (*Node, error) {
	return NewBytesDecoder(b).Decode()
}

// maxEncodeDepth bounds Encoder.Encode's recursion.
const maxEncodeDepth = 10000

// Decode reads the document into a tree and checks that nothing follows it.
// It must be called before any call to Token.
func (d *Decoder) Decode() (*Node, error) {
	if d.err != nil {
		return nil, d.err
	}
	if len(d.stack) > 0 || d.state == stDone || d.empty {
		return nil, d.stick(&Error{Offset: d.InputOffset(), Kind: KindUnbalanced, Detail: "Decode called after Token had read part of the document"})
	}
	t, err := d.Token()
	if err != nil {
		return nil, err // the decoder never returns io.EOF before the root
	}
	root := &Node{Page: t.Tag.Page(), Name: t.Tag.Name()}
	if err := d.build(root); err != nil {
		return nil, err
	}
	switch _, err := d.Token(); {
	case err == io.EOF:
		return root, nil
	case err != nil:
		return nil, err // trailing data
	}
	return nil, d.stick(&Error{Offset: d.InputOffset(), Kind: KindTrailingData, Detail: "token after the root element"})
}

// DecodeElement reads the element whose StartToken Token has just returned
// (start) into a tree, up to and including its EndToken. With it a large
// response can be streamed: read tokens down to the repeated element (a
// Sync Add, say), then decode each one as a small tree.
func (d *Decoder) DecodeElement(start Token) (*Node, error) {
	if d.err != nil {
		return nil, d.err
	}
	if start.Kind != StartToken || !d.justStarted || len(d.stack) == 0 || d.stack[len(d.stack)-1] != start.Tag {
		return nil, &Error{Offset: d.InputOffset(), Kind: KindUnbalanced, Detail: "DecodeElement needs the StartToken Token has just returned"}
	}
	n := &Node{Page: start.Tag.Page(), Name: start.Tag.Name()}
	if err := d.build(n); err != nil {
		return nil, err
	}
	return n, nil
}

// Skip reads and discards the rest of the innermost open element, up to and
// including its EndToken. It does nothing when no element is open.
func (d *Decoder) Skip() error {
	depth := len(d.stack)
	for depth > 0 && len(d.stack) >= depth {
		if _, err := d.Token(); err != nil {
			return err
		}
	}
	return nil
}

// build reads the content of root, whose start tag was just read, up to and
// including its end tag.
func (d *Decoder) build(root *Node) error {
	stack := []*Node{root}
	var slab []Node // nodes are allocated in blocks
	maxNodes := d.MaxNodes
	if maxNodes <= 0 {
		maxNodes = DefaultMaxNodes
	}
	nodes := 1
	// Several inline strings in one element are joined in text, which
	// belongs to textOwner, so that n strings cost O(n) and not O(n^2).
	var text []byte
	var textOwner *Node
	for len(stack) > 0 {
		off := d.InputOffset()
		t, err := d.Token()
		if err != nil {
			return err // the decoder never returns io.EOF with elements open
		}
		top := stack[len(stack)-1]
		switch t.Kind {
		case StartToken:
			if top.Text != "" || top.Opaque != nil {
				return d.stick(&Error{Offset: off, Kind: KindMixedContent, Detail: t.Tag.String() + " follows text in " + top.Name})
			}
			if nodes++; nodes > maxNodes {
				return d.stick(&Error{Offset: off, Kind: KindTooLarge, Detail: fmt.Sprintf("more than %d elements", maxNodes)})
			}
			if len(slab) == cap(slab) {
				slab = make([]Node, 0, min(64, 2*cap(slab)+4))
			}
			slab = append(slab, Node{Page: t.Tag.Page(), Name: t.Tag.Name()})
			n := &slab[len(slab)-1]
			top.Children = append(top.Children, n)
			stack = append(stack, n)
		case EndToken:
			if textOwner == top {
				top.Text = string(text)
				text, textOwner = text[:0], nil
			}
			stack = stack[:len(stack)-1]
		case TextToken:
			if len(t.Data) == 0 {
				continue // an empty inline string adds nothing
			}
			if len(top.Children) > 0 || top.Opaque != nil {
				return d.stick(&Error{Offset: off, Kind: KindMixedContent, Detail: "inline string next to other content in " + top.Name})
			}
			switch {
			case top.Text == "":
				top.Text = string(t.Data)
			case textOwner != top:
				textOwner = top
				text = append(append(text[:0], top.Text...), t.Data...)
			default:
				text = append(text, t.Data...)
			}
		case OpaqueToken:
			if len(top.Children) > 0 || top.Text != "" {
				return d.stick(&Error{Offset: off, Kind: KindMixedContent, Detail: "OPAQUE next to other content in " + top.Name})
			}
			if top.Opaque == nil {
				top.Opaque = make([]byte, 0, len(t.Data))
			}
			top.Opaque = append(top.Opaque, t.Data...)
		}
	}
	return nil
}

func (d *Decoder) stick(err error) error {
	d.err = err
	return err
}

// IsKind reports whether err is an [*Error] of kind k.
func IsKind(err error, k ErrorKind) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == k
}
