package wbxml

import (
	"bytes"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/modernauth/mailauth/internal/fake/hostile"
)

// amplifying returns a document of about n bytes that nests 255 levels and
// then holds one-byte empty elements: the worst ratio of tree nodes and of
// XML text to input.
func amplifying(n int) []byte {
	b := make([]byte, 0, n)
	b = append(b, 0x03, 0x01, 0x6A, 0x00)
	for range 255 {
		b = append(b, 0x45) // AirSync:Sync with content
	}
	for len(b) < n-255 {
		b = append(b, 0x05) // AirSync:Sync, empty
	}
	for range 255 {
		b = append(b, 0x01)
	}
	return b
}

const heapCeiling = 64 << 20

func TestAmplificationBounded(t *testing.T) {
	for _, size := range []int{1 << 20, 10 << 20} {
		in := amplifying(size)
		name := fmt.Sprintf("%dMB", size>>20)
		cases := []struct {
			name string
			run  func() error
		}{
			{"Decoder", func() error {
				d := NewDecoder(bytes.NewReader(in))
				for {
					_, err := d.Token()
					if err == io.EOF {
						return nil
					}
					if err != nil {
						return err
					}
				}
			}},
			{"ToXML", func() error { _, err := ToXML(in); return err }},
			{"Unmarshal", func() error { _, err := Unmarshal(in); return err }},
		}
		for _, c := range cases {
			t.Run(name+"/"+c.name, func(t *testing.T) {
				var err error
				start := time.Now()
				peak, growth := hostile.HeapPeak(func() { err = c.run() })
				t.Logf("%s: peak heap %.1f MiB (growth %.1f MiB) in %v; err = %v", c.name, float64(peak)/(1<<20), float64(growth)/(1<<20), time.Since(start).Round(time.Millisecond), err)
				if peak >= heapCeiling {
					t.Fatalf("peak heap %d bytes, want under %d", peak, heapCeiling)
				}
				if c.name != "Decoder" && !IsKind(err, KindTooLarge) {
					t.Fatalf("err = %v, want KindTooLarge", err)
				}
				if c.name == "Decoder" && err != nil {
					t.Fatalf("the token decoder holds only the open elements; err = %v", err)
				}
			})
		}
	}
}

func TestMaxNodes(t *testing.T) {
	doc := []byte{0x03, 0x01, 0x6A, 0x00, 0x45, 0x05, 0x05, 0x05, 0x01}
	d := NewBytesDecoder(doc)
	d.MaxNodes = 3
	if _, err := d.Decode(); !IsKind(err, KindTooLarge) {
		t.Fatalf("err = %v, want KindTooLarge", err)
	}
	d = NewBytesDecoder(doc)
	d.MaxNodes = 4
	if _, err := d.Decode(); err != nil {
		t.Fatal(err)
	}
}

// Many inline strings in one element are joined in linear time.
func TestManyInlineStrings(t *testing.T) {
	b := []byte{0x03, 0x01, 0x6A, 0x00, 0x4B} // AirSync:SyncKey with content
	for range 1 << 18 {
		b = append(b, 0x03, 'a', 0x00)
	}
	b = append(b, 0x01)
	start := time.Now()
	n, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Text) != 1<<18 {
		t.Fatalf("text has %d bytes", len(n.Text))
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
}

// Deep documents render with indentation capped at maxIndent levels.
func TestToXMLIndentCapped(t *testing.T) {
	b := []byte{0x03, 0x01, 0x6A, 0x00}
	for range 40 {
		b = append(b, 0x45)
	}
	b = append(b, 0x05)
	for range 40 {
		b = append(b, 0x01)
	}
	x, err := ToXML(b)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(x, []byte("\n"+spaces+"  <")) {
		t.Fatal("indentation deeper than the cap")
	}
	if !bytes.Contains(x, []byte("\n"+spaces+"<Sync/>")) {
		t.Fatalf("the innermost element is not at the capped indentation:\n%s", x)
	}
	back, err := FromXML(x)
	if err != nil || !bytes.Equal(back, b) {
		t.Fatalf("FromXML(ToXML(b)) = % X, %v", back, err)
	}
}
