package wbxml

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
)

// bigSync builds a Sync response of n email adds, each with MIME-sized
// OPAQUE body data and a binary ConversationId, as Exchange sends them with
// MIMESupport; it returns the document and its element count.
func bigSync(n int) ([]byte, int) {
	var adds []*Node
	body := []byte(strings.Repeat("Received: from mail.contoso.test by mx.contoso.test; Tue, 1 Dec 2026 10:00:00 +0000\r\n", 4) +
		"Subject: quarterly numbers\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
		strings.Repeat("The numbers for the quarter are attached; please review before Friday.\r\n", 12))
	for i := range n {
		adds = append(adds, Elem("AirSync", "Add",
			Text("AirSync", "ServerId", fmt.Sprintf("5:%d", i+1)),
			Elem("AirSync", "ApplicationData",
				Text("Email", "To", `"Alice" <alice@contoso.test>`),
				Text("Email", "From", `"Bob" <bob@contoso.test>`),
				Text("Email", "Subject", "quarterly numbers"),
				Text("Email", "DateReceived", "2026-12-01T10:00:00.000Z"),
				Text("Email", "DisplayTo", "Alice"),
				Text("Email", "Importance", "1"),
				Text("Email", "Read", "0"),
				Elem("AirSyncBase", "Body",
					Text("AirSyncBase", "Type", "4"),
					Text("AirSyncBase", "EstimatedDataSize", fmt.Sprint(len(body))),
					Opaque("AirSyncBase", "Data", body)),
				Text("Email", "MessageClass", "IPM.Note"),
				Text("Email", "InternetCPID", "65001"),
				Elem("Email", "Flag"),
				Text("AirSyncBase", "NativeBodyType", "1"),
				Opaque("Email2", "ConversationId", []byte{0x6d, 0xda, 0x60, 0x8f, 0x6a, 0x8d, 0x7a, 0xe6, 0x9e, 0xfa, 0x3c, 0xd7, 0x18, 0x3f, 0x6d, 0x00}),
				Opaque("Email2", "ConversationIndex", []byte{0x01, 0x25, 0x0c, 0xdd, 0x22}),
			)))
	}
	root := Elem("AirSync", "Sync", Elem("AirSync", "Collections", Elem("AirSync", "Collection",
		Text("AirSync", "SyncKey", "1234567890"),
		Text("AirSync", "CollectionId", "5"),
		Text("AirSync", "Status", "1"),
		Elem("AirSync", "Commands", adds...),
		Elem("AirSync", "MoreAvailable"))))
	b, err := Marshal(root)
	if err != nil {
		panic(err)
	}
	d := NewBytesDecoder(b)
	elems := 0
	for {
		t, err := d.Token()
		if err != nil {
			break
		}
		if t.Kind == StartToken {
			elems++
		}
	}
	return b, elems
}

func decodeAll(d *Decoder) error {
	for {
		_, err := d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func TestBigSyncIsBig(t *testing.T) {
	b, elems := bigSync(100)
	if len(b) < 100<<10 {
		t.Fatalf("document is %d bytes", len(b))
	}
	if _, err := Unmarshal(b); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d bytes, %d elements", len(b), elems)
}

// TestTokenAPIAllocs checks acceptance 5's allocation budget: at most one
// allocation per element when decoding and encoding with the token API.
func TestTokenAPIAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	b, elems := bigSync(100)
	dec := testing.AllocsPerRun(10, func() {
		if err := decodeAll(NewBytesDecoder(b)); err != nil {
			t.Fatal(err)
		}
	})
	rdec := testing.AllocsPerRun(10, func() {
		if err := decodeAll(NewDecoder(bytes.NewReader(b))); err != nil {
			t.Fatal(err)
		}
	})
	toks := collectTokens(b)
	var out bytes.Buffer
	out.Grow(len(b) + 64)
	enc := testing.AllocsPerRun(10, func() {
		out.Reset()
		e := NewEncoder(&out)
		for _, tok := range toks {
			if err := e.EncodeToken(tok); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
	})
	for name, a := range map[string]float64{"decode bytes": dec, "decode reader": rdec, "encode": enc} {
		per := a / float64(elems)
		t.Logf("%s: %.0f allocs for %d elements = %.4f per element", name, a, elems, per)
		if per > 1 {
			t.Errorf("%s: %.3f allocations per element, budget 1", name, per)
		}
	}
	if !bytes.Equal(out.Bytes(), b) {
		t.Errorf("token copy differs")
	}
}

func collectTokens(b []byte) []Token {
	var toks []Token
	d := NewBytesDecoder(b)
	for {
		t, err := d.Token()
		if err != nil {
			return toks
		}
		toks = append(toks, t) // Data points into b, which stays alive
	}
}

func benchDoc(b *testing.B) ([]byte, int) {
	doc, elems := bigSync(100)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	return doc, elems
}

// runBench times f and reports its allocations per element (measured
// apart, as ResetTimer drops metrics reported before the loop).
func runBench(b *testing.B, elems int, f func()) {
	perElem := testing.AllocsPerRun(3, f) / float64(elems)
	b.ResetTimer()
	for b.Loop() {
		f()
	}
	b.ReportMetric(perElem, "allocs/elem")
}

func BenchmarkDecodeTokens(b *testing.B) {
	doc, elems := benchDoc(b)
	f := func() {
		if err := decodeAll(NewBytesDecoder(doc)); err != nil {
			b.Fatal(err)
		}
	}
	runBench(b, elems, f)
}

func BenchmarkDecodeTokensReader(b *testing.B) {
	doc, elems := benchDoc(b)
	f := func() {
		if err := decodeAll(NewDecoder(bytes.NewReader(doc))); err != nil {
			b.Fatal(err)
		}
	}
	runBench(b, elems, f)
}

func BenchmarkUnmarshal(b *testing.B) {
	doc, elems := benchDoc(b)
	f := func() {
		if _, err := Unmarshal(doc); err != nil {
			b.Fatal(err)
		}
	}
	runBench(b, elems, f)
}

func BenchmarkEncodeTokens(b *testing.B) {
	doc, elems := benchDoc(b)
	toks := collectTokens(doc)
	var out bytes.Buffer
	out.Grow(len(doc) + 64)
	f := func() {
		out.Reset()
		e := NewEncoder(&out)
		for _, t := range toks {
			if err := e.EncodeToken(t); err != nil {
				b.Fatal(err)
			}
		}
		if err := e.Close(); err != nil {
			b.Fatal(err)
		}
	}
	runBench(b, elems, f)
}

func BenchmarkMarshal(b *testing.B) {
	doc, elems := benchDoc(b)
	tree, _ := Unmarshal(doc)
	f := func() {
		if _, err := Marshal(tree); err != nil {
			b.Fatal(err)
		}
	}
	runBench(b, elems, f)
}

func BenchmarkToXML(b *testing.B) {
	doc, elems := benchDoc(b)
	f := func() {
		if _, err := ToXML(doc); err != nil {
			b.Fatal(err)
		}
	}
	runBench(b, elems, f)
}
