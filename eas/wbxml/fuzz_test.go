package wbxml

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func addVectorSeeds(f *testing.F, ext string) {
	for _, glob := range []string{"testdata/vectors/*" + ext, "testdata/vectors/*/*" + ext, "testdata/spec/*" + ext} {
		files, _ := filepath.Glob(glob)
		for _, name := range files {
			b, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
}

// equalTree compares two trees, telling a nil Opaque from an empty one.
func equalTree(a, b *Node) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.Page != b.Page || a.Name != b.Name || a.Text != b.Text ||
		(a.Opaque == nil) != (b.Opaque == nil) || !bytes.Equal(a.Opaque, b.Opaque) ||
		len(a.Children) != len(b.Children) {
		return false
	}
	for i := range a.Children {
		if !equalTree(a.Children[i], b.Children[i]) {
			return false
		}
	}
	return true
}

// FuzzDecode: decoding never panics; for any document that decodes,
// encode(decode(b)) decodes to the same tree; the streaming decoder over a
// reader agrees with the bytes decoder; the XML form reaches a fixed point
// after one cycle.
func FuzzDecode(f *testing.F) {
	addVectorSeeds(f, ".wbxml")
	f.Add([]byte{0x03, 0x01, 0x6A, 0x00, 0x45, 0x4B, 0x01, 0x01})
	f.Add([]byte{0x03, 0x01, 0x6A, 0x00, 0x00, 0x15, 0x45, 0x50, 0xC3, 0x00, 0x01, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, legacy := range []bool{false, true} {
			d := NewBytesDecoder(b)
			d.AllowLegacy = legacy
			d.MaxDepth = 64
			tree, err := d.Decode()

			// The reader-based decoder must agree, token for token.
			sd := NewDecoder(&oneByteReader{b: b})
			sd.AllowLegacy = legacy
			sd.MaxDepth = 64
			stree, serr := sd.Decode()
			if (err == nil) != (serr == nil) || !equalTree(tree, stree) {
				t.Fatalf("bytes and reader decoders disagree: %v / %v", err, serr)
			}
			if err != nil {
				if _, ok := err.(*Error); !ok {
					t.Fatalf("error of type %T: %v", err, err)
				}
				continue
			}
			checkStreaming(t, b, legacy, tree)
			enc, err := Marshal(tree)
			if err != nil {
				t.Fatalf("Marshal of a decoded tree: %v", err)
			}
			d2 := NewBytesDecoder(enc)
			d2.AllowLegacy = legacy
			tree2, err := d2.Decode()
			if err != nil {
				t.Fatalf("re-decode: %v\n% X", err, enc)
			}
			if !equalTree(tree, tree2) {
				t.Fatalf("tree changed across encode/decode")
			}
			enc2, _ := Marshal(tree2)
			if !bytes.Equal(enc, enc2) {
				t.Fatalf("canonical encoding not stable")
			}
			if legacy {
				continue
			}
			x1, err := ToXML(b)
			if err != nil {
				if !IsKind(err, KindXML) {
					t.Fatalf("ToXML of a valid document: %v", err)
				}
				continue
			}
			b2, err := FromXML(x1)
			if err != nil {
				t.Fatalf("FromXML(ToXML(b)): %v\n%s", err, x1)
			}
			x2, err := ToXML(b2)
			if err != nil {
				t.Fatalf("ToXML second cycle: %v", err)
			}
			b3, err := FromXML(x2)
			if err != nil || !bytes.Equal(b2, b3) {
				t.Fatalf("XML form not stable: %v\n%s\n%s", err, x1, x2)
			}
		}
	})
}

// checkStreaming decodes the root's children one by one with
// DecodeElement and compares them with the tree.
func checkStreaming(t *testing.T, b []byte, legacy bool, tree *Node) {
	d := NewBytesDecoder(b)
	d.AllowLegacy = legacy
	d.MaxDepth = 64
	if _, err := d.Token(); err != nil {
		t.Fatal(err)
	}
	i := 0
	for {
		tok, err := d.Token()
		if err != nil {
			t.Fatalf("streaming: %v", err)
		}
		if tok.Kind == EndToken && d.Depth() == 0 {
			break
		}
		if tok.Kind != StartToken {
			continue
		}
		n, err := d.DecodeElement(tok)
		if err != nil {
			t.Fatalf("DecodeElement: %v", err)
		}
		if i >= len(tree.Children) || !equalTree(n, tree.Children[i]) {
			t.Fatalf("DecodeElement child %d differs", i)
		}
		i++
	}
	if i != len(tree.Children) {
		t.Fatalf("streamed %d children, tree has %d", i, len(tree.Children))
	}
	if _, err := d.Token(); err != io.EOF {
		t.Fatalf("after the root: %v", err)
	}
}

// FuzzFromXML: FromXML never panics, and what it produces decodes.
func FuzzFromXML(f *testing.F) {
	addVectorSeeds(f, ".xml")
	f.Add([]byte(`<SendMail xmlns="ComposeMail"><Mime>AQIDBAU=</Mime></SendMail>`))
	f.Add([]byte(`<a:Sync xmlns:a="AirSync"><a:SyncKey>0</a:SyncKey></a:Sync>`))
	f.Fuzz(func(t *testing.T, x []byte) {
		b, err := FromXML(x)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		d := NewBytesDecoder(b)
		d.AllowLegacy = true
		if _, err := d.Decode(); err != nil {
			t.Fatalf("FromXML output does not decode: %v\n% X", err, b)
		}
	})
}

// FuzzOpaqueXML: the XML rendering of OPAQUE bytes is reversible.
func FuzzOpaqueXML(f *testing.F) {
	f.Add([]byte("ESIz"))
	f.Add([]byte{0x11, 0x22, 0x33})
	f.Add([]byte("hello\r\nworld"))
	f.Add([]byte("RVNJeg=="))
	f.Fuzz(func(t *testing.T, b []byte) {
		doc, err := Marshal(Opaque("ComposeMail", "Mime", b))
		if err != nil {
			t.Fatal(err)
		}
		x, err := ToXML(doc)
		if err != nil {
			t.Fatal(err)
		}
		back, err := FromXML(x)
		if err != nil {
			t.Fatalf("FromXML: %v\n%s", err, x)
		}
		n, err := Unmarshal(back)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 {
			if n.Opaque != nil || n.Text != "" {
				t.Fatalf("empty OPAQUE came back as %+v", n)
			}
			return
		}
		if !bytes.Equal(n.Opaque, b) {
			t.Fatalf("got % X, want % X (xml %s)", n.Opaque, b, x)
		}
	})
}

var _ io.Reader = (*oneByteReader)(nil)

// knownTags lists every current tag, for FuzzEncodeDecode.
func knownTags() []Tag {
	var tags []Tag
	for p := 0; p < numPages; p++ {
		for id := 5; id < 64; id++ {
			if t := NewTag(byte(p), byte(id)); t.Known() {
				tags = append(tags, t)
			}
		}
	}
	return tags
}

// FuzzEncodeDecode drives the Encoder with the fuzz input as a program
// (open a tag, close, write text or OPAQUE) and checks that whatever it
// accepts decodes, re-encodes to the same bytes, and survives the XML form.
// It reaches deep, valid documents that byte-level mutation rarely builds.
func FuzzEncodeDecode(f *testing.F) {
	f.Add([]byte{0x00, 0x10, 0x80, 0x41, 0xC0, 0x03, 0x01, 0x02, 0x03})
	f.Add([]byte{0x05, 0x3F, 0x3F, 0x80, 0x80, 0x22, 0xC0, 0x00})
	tags := knownTags()
	f.Fuzz(func(t *testing.T, prog []byte) {
		var out bytes.Buffer
		e := NewEncoder(&out)
		depth, started := 0, false
		for i := 0; i < len(prog); i++ {
			op := prog[i]
			var err error
			switch op >> 6 {
			case 0: // start tag; the next byte picks the tag
				if started && depth == 0 {
					continue
				}
				idx := int(op&0x3F) << 8
				if i+1 < len(prog) {
					i++
					idx |= int(prog[i])
				}
				err = e.Start(tags[idx%len(tags)])
				depth++
				started = true
			case 1: // end
				if depth == 0 {
					continue
				}
				err = e.End()
				depth--
			case 2: // text of length op&0x3F
				if depth == 0 {
					continue
				}
				n := min(int(op&0x3F), len(prog)-i-1)
				err = e.TextBytes(prog[i+1 : i+1+n])
				i += n
				if IsKind(err, KindInvalidUTF8) {
					return
				}
			case 3: // opaque of length op&0x3F
				if depth == 0 {
					continue
				}
				n := min(int(op&0x3F), len(prog)-i-1)
				err = e.Opaque(prog[i+1 : i+1+n])
				i += n
			}
			if err != nil {
				t.Fatalf("encoder refused a valid step: %v", err)
			}
		}
		if !started {
			return
		}
		for ; depth > 0; depth-- {
			if err := e.End(); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		b := out.Bytes()
		d := NewBytesDecoder(b)
		d.MaxDepth = 1 << 20
		var n int
		for {
			_, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("encoder output does not decode: %v\n% X", err, b)
			}
			n++
		}
		tree, err := Unmarshal(b)
		if err != nil {
			if IsKind(err, KindMixedContent) || IsKind(err, KindTooDeep) {
				return
			}
			t.Fatal(err)
		}
		// The tree joins adjacent strings and OPAQUEs, so compare trees.
		again, err := Marshal(tree)
		if err != nil {
			t.Fatal(err)
		}
		tree2, err := Unmarshal(again)
		if err != nil || !equalTree(tree, tree2) {
			t.Fatalf("tree round trip: %v\n% X\n% X", err, b, again)
		}
		x, err := ToXML(b)
		if err != nil {
			if IsKind(err, KindXML) {
				return
			}
			t.Fatal(err)
		}
		if _, err := FromXML(x); err != nil {
			t.Fatalf("FromXML(ToXML(b)): %v\n%s", err, x)
		}
	})
}
