package eas

import "github.com/modernauth/mailauth/eas/wbxml"

// Short names for wbxml's nil-safe tree helpers, which the parsers here chain
// (a response from the network may lack any element; a missing parent reads as
// absent). The logic lives in wbxml.

func child(n *wbxml.Node, name string) *wbxml.Node { return n.Child(name) }
func all(n *wbxml.Node, name string) []*wbxml.Node { return n.All(name) }
func children(n *wbxml.Node) []*wbxml.Node         { return n.Elements() }
func text(n *wbxml.Node) string                    { return n.Content() }
func childText(n *wbxml.Node, name string) string  { return n.ChildText(name) }
