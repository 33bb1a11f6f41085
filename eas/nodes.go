package eas

import "github.com/modernauth/mailauth/eas/wbxml"

// Nil-safe tree helpers: a response from the network may lack any element,
// and a missing parent must read as "absent", never panic.

func child(n *wbxml.Node, name string) *wbxml.Node {
	if n == nil {
		return nil
	}
	for _, c := range n.Children {
		if c != nil && c.Name == name {
			return c
		}
	}
	return nil
}

func all(n *wbxml.Node, name string) []*wbxml.Node {
	if n == nil {
		return nil
	}
	var out []*wbxml.Node
	for _, c := range n.Children {
		if c != nil && c.Name == name {
			out = append(out, c)
		}
	}
	return out
}

func children(n *wbxml.Node) []*wbxml.Node {
	if n == nil {
		return nil
	}
	return n.Children
}

// text returns a leaf's content, whether it came as STR_I or OPAQUE.
func text(n *wbxml.Node) string {
	if n == nil {
		return ""
	}
	if n.Opaque != nil {
		return string(n.Opaque)
	}
	return n.Text
}

func childText(n *wbxml.Node, name string) string { return text(child(n, name)) }
