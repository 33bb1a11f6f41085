package wbxml

import "testing"

func TestNilSafeHelpers(t *testing.T) {
	var n *Node
	if n.Content() != "" || n.Elements() != nil || n.Child("X") != nil || n.All("X") != nil || n.ChildText("X") != "" {
		t.Fatal("a nil Node must read as absent")
	}
	leaf := &Node{Name: "Body", Opaque: []byte("raw")}
	root := &Node{Name: "Root", Children: []*Node{nil, leaf, {Name: "Subject", Text: "hi"}}}
	if root.ChildText("Body") != "raw" || root.ChildText("Subject") != "hi" || len(root.Elements()) != 3 {
		t.Fatal("helpers read the wrong content")
	}
}
