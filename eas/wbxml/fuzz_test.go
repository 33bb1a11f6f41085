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
