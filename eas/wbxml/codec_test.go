package wbxml

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

var hdr = []byte{0x03, 0x01, 0x6A, 0x00}

func doc(body ...byte) []byte { return append(append([]byte{}, hdr...), body...) }

func TestContentFlagThenEndIsEmpty(t *testing.T) {
	b := doc(0x45, 0x4B, 0x01, 0x01) // <Sync><SyncKey></SyncKey></Sync>
	d := NewBytesDecoder(b)
	var toks []Token
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, tok)
	}
	if len(toks) != 4 || toks[1].Kind != StartToken || toks[1].Tag != AirSyncSyncKey || toks[1].Empty || toks[2].Kind != EndToken {
		t.Fatalf("tokens %v", toks)
	}
	n, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	k := n.Child("SyncKey")
	if k == nil || k.Text != "" || k.Opaque != nil || len(k.Children) != 0 {
		t.Fatalf("SyncKey = %+v", k)
	}
	out, _ := Marshal(n)
	if !bytes.Equal(out, doc(0x45, 0x0B, 0x01)) {
		t.Errorf("canonical form % X", out)
	}
}

func TestMbUint32(t *testing.T) {
	cases := []struct {
		v   uint32
		enc []byte
	}{
		{0, []byte{0x00}},
		{0x7F, []byte{0x7F}},
		{0x80, []byte{0x81, 0x00}},
		{268, []byte{0x82, 0x0C}},
		{0xFFFFFFFF, []byte{0x8F, 0xFF, 0xFF, 0xFF, 0x7F}},
	}
	for _, c := range cases {
		if got := appendMbUint32(nil, c.v); !bytes.Equal(got, c.enc) {
			t.Errorf("encode %d: % X, want % X", c.v, got, c.enc)
		}
		d := NewBytesDecoder(c.enc)
		if v, err := d.mbUint32("x"); err != nil || v != c.v {
			t.Errorf("decode % X: %d, %v", c.enc, v, err)
		}
	}
	for _, bad := range [][]byte{{0x90, 0x80, 0x80, 0x80, 0x00}, {0x80, 0x80, 0x80, 0x80, 0x80, 0x00}} {
		d := NewBytesDecoder(bad)
		if _, err := d.mbUint32("x"); !IsKind(err, KindMultiByteInt) {
			t.Errorf("decode % X: %v, want KindMultiByteInt", bad, err)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		kind ErrorKind
		off  int64
	}{
		{"empty", nil, KindTruncated, 0},
		{"version", []byte{0x04, 0x01, 0x6A, 0x00, 0x45, 0x01}, KindHeader, 0},
		{"charset", []byte{0x03, 0x01, 0x04, 0x00, 0x45, 0x01}, KindHeader, 2},
		{"public id by string table", []byte{0x03, 0x00, 0x00, 0x6A, 0x00}, KindStringTable, 1},
		{"STR_T", doc(0x45, 0x83, 0x00, 0x01), KindStringTable, 5},
		{"ENTITY", doc(0x45, 0x02, 0x41, 0x01), KindUnsupportedToken, 5},
		{"PI", doc(0x45, 0x43, 0x01), KindUnsupportedToken, 5},
		{"LITERAL", doc(0x04, 0x00), KindUnsupportedToken, 4},
		{"trailing", doc(0x45, 0x01, 0x00), KindTrailingData, 6},
		{"second root", doc(0x05, 0x05), KindTrailingData, 5},
		{"text before root", doc(0x03, 0x41, 0x00), KindUnbalanced, 4},
		{"opaque before root", doc(0xC3, 0x00), KindUnbalanced, 4},
		{"invalid UTF-8", doc(0x45, 0x03, 0xFF, 0x00, 0x01), KindInvalidUTF8, 5},
		{"unterminated string", doc(0x45, 0x03, 0x41, 0x42), KindTruncated, 5},
		{"short opaque", doc(0x45, 0xC3, 0x05, 0x01, 0x02), KindTruncated, 5},
		{"huge opaque", doc(0x45, 0xC3, 0x8F, 0xFF, 0xFF, 0xFF, 0x7F, 0x01), KindTruncated, 5},
		{"legacy", doc(0x45, 0x59, 0x03, 0x31, 0x00, 0x01, 0x01), KindUnknownTag, 5},
		{"unknown tag empty page", doc(0x00, 0x03, 0x05), KindUnknownTag, 6},
		{"truncated in header", []byte{0x03, 0x01}, KindTruncated, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Unmarshal(c.in)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v", err)
			}
			if e.Kind != c.kind || e.Offset != c.off {
				t.Errorf("got %v (offset %d), want %v at %d", err, e.Offset, c.kind, c.off)
			}
			if e.Kind == KindTruncated && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("truncation does not unwrap to io.ErrUnexpectedEOF")
			}
			// The reader-based decoder reports the same.
			_, err2 := NewDecoder(iotest.HalfReader(bytes.NewReader(c.in))).Decode()
			var e2 *Error
			if !errors.As(err2, &e2) || e2.Kind != e.Kind || e2.Offset != e.Offset {
				t.Errorf("reader decoder: %v, bytes decoder: %v", err2, err)
			}
		})
	}
}

func TestErrorsAreSticky(t *testing.T) {
	d := NewBytesDecoder(doc(0x45, 0x7F))
	if _, err := d.Token(); err != nil {
		t.Fatal(err)
	}
	_, err1 := d.Token()
	_, err2 := d.Token()
	if err1 == nil || err1 != err2 {
		t.Errorf("errors %v then %v", err1, err2)
	}
}

func TestReaderError(t *testing.T) {
	boom := errors.New("connection reset")
	r := io.MultiReader(bytes.NewReader(doc(0x45, 0x4B)), iotest.ErrReader(boom))
	_, err := NewDecoder(r).Decode()
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindIO || !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
}

func TestMaxDepth(t *testing.T) {
	body := bytes.Repeat([]byte{0x5C}, 10) // nested Collections
	d := NewBytesDecoder(doc(body...))
	d.MaxDepth = 5
	_, err := d.Decode()
	if !IsKind(err, KindTooDeep) {
		t.Fatalf("err = %v", err)
	}
	deep := doc(append(bytes.Repeat([]byte{0x5C}, DefaultMaxDepth+1), 0x01)...)
	if _, err := Unmarshal(deep); !IsKind(err, KindTooDeep) {
		t.Fatalf("default limit: %v", err)
	}
}

func TestLargeOpaqueOverReader(t *testing.T) {
	payload := bytes.Repeat([]byte{0x00, 0xFF, 'a'}, 100000)
	b, err := Marshal(Elem("ComposeMail", "SendMail", Opaque("ComposeMail", "Mime", payload)))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []io.Reader{iotest.OneByteReader(bytes.NewReader(b)), iotest.DataErrReader(bytes.NewReader(b)), bytes.NewReader(b)} {
		n, err := NewDecoder(r).Decode()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(n.Child("Mime").Opaque, payload) {
			t.Fatal("payload differs")
		}
	}
	long := strings.Repeat("x", 70000)
	b, _ = Marshal(Elem("AirSync", "Sync", Text("AirSync", "SyncKey", long), Text("AirSync", "Status", "1")))
	n, err := NewDecoder(iotest.HalfReader(bytes.NewReader(b))).Decode()
	if err != nil || n.ChildText("SyncKey") != long || n.ChildText("Status") != "1" {
		t.Fatalf("long string: %v", err)
	}
}

func TestTreeMixedContent(t *testing.T) {
	cases := [][]byte{
		doc(0x45, 0x03, 'a', 0x00, 0x0B, 0x01),       // text then element
		doc(0x45, 0x4B, 0x01, 0x03, 'a', 0x00, 0x01), // element then text
		doc(0x45, 0x03, 'a', 0x00, 0xC3, 0x01, 'b', 0x01),
		doc(0x45, 0xC3, 0x01, 'b', 0x03, 'a', 0x00, 0x01),
	}
	for _, b := range cases {
		if _, err := Unmarshal(b); !IsKind(err, KindMixedContent) {
			t.Errorf("% X: %v", b, err)
		}
		if _, err := ToXML(b); !IsKind(err, KindMixedContent) {
			t.Errorf("ToXML % X: %v", b, err)
		}
	}
	// Several inline strings are joined.
	n, err := Unmarshal(doc(0x4B, 0x03, 'a', 0x00, 0x03, 'b', 0x00, 0x01))
	if err != nil || n.Text != "ab" {
		t.Errorf("joined text %q, %v", n.Text, err)
	}
}

func TestEncoderErrors(t *testing.T) {
	use := func(f func(e *Encoder) error) error { return f(NewEncoder(io.Discard)) }
	cases := []struct {
		name string
		f    func(e *Encoder) error
		kind ErrorKind
	}{
		{"end first", func(e *Encoder) error { return e.End() }, KindUnbalanced},
		{"text first", func(e *Encoder) error { return e.Text("x") }, KindUnbalanced},
		{"opaque first", func(e *Encoder) error { return e.Opaque(nil) }, KindUnbalanced},
		{"unknown tag", func(e *Encoder) error { return e.Start(NewTag(0, 0x3F)) }, KindUnknownTag},
		{"bad page", func(e *Encoder) error { return e.Start(NewTag(40, 0x05)) }, KindUnknownTag},
		{"NUL", func(e *Encoder) error { e.Start(AirSyncSync); return e.Text("a\x00b") }, KindInvalidUTF8},
		{"bad UTF-8", func(e *Encoder) error { e.Start(AirSyncSync); return e.TextBytes([]byte{0xFF}) }, KindInvalidUTF8},
		{"second root", func(e *Encoder) error { e.Start(AirSyncSync); e.End(); return e.Start(AirSyncSync) }, KindUnbalanced},
		{"close open", func(e *Encoder) error { e.Start(AirSyncSync); return e.Close() }, KindUnbalanced},
		{"close empty", func(e *Encoder) error { return e.Close() }, KindNoRoot},
		{"mismatched end token", func(e *Encoder) error {
			e.Start(AirSyncSync)
			return e.EncodeToken(Token{Kind: EndToken, Tag: AirSyncAdd})
		}, KindUnbalanced},
	}
	for _, c := range cases {
		err := use(c.f)
		if !IsKind(err, c.kind) {
			t.Errorf("%s: %v, want %v", c.name, err, c.kind)
		}
	}
}

func TestEncoderPageSwitching(t *testing.T) {
	var buf bytes.Buffer
	e := NewEncoder(&buf)
	e.Start(AirSyncSync)
	e.Start(AirSyncBaseBody) // switch to 0x11
	e.Start(AirSyncBaseType)
	e.Text("1")
	e.End()
	e.End()
	e.Start(AirSyncStatus) // switch back to 0
	e.End()
	e.Start(AirSyncBaseNativeBodyType) // switch to 0x11
	e.End()
	e.End() // END needs no switch
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	want := doc(0x45, 0x00, 0x11, 0x4A, 0x46, 0x03, '1', 0x00, 0x01, 0x01, 0x00, 0x00, 0x0E, 0x00, 0x11, 0x16, 0x01)
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("got  % X\nwant % X", buf.Bytes(), want)
	}
}

type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n -= len(p); w.n < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestEncoderWriteError(t *testing.T) {
	e := NewEncoder(&failWriter{n: 10})
	e.Start(ComposeMailSendMail)
	e.Start(ComposeMailMime)
	err := e.Opaque(make([]byte, 100<<10))
	if !IsKind(err, KindIO) {
		t.Fatalf("err = %v", err)
	}
	if err2 := e.End(); err2 != err {
		t.Errorf("error not sticky: %v", err2)
	}
}

func TestTreeBuildErrors(t *testing.T) {
	_, err := Marshal(Elem("AirSnyc", "Sync"))
	if !IsKind(err, KindUnknownName) || !strings.Contains(err.Error(), `"AirSnyc"`) {
		t.Errorf("unknown namespace: %v", err)
	}
	_, err = Marshal(Elem("AirSync", "Sync", Text("AirSync", "SyncKee", "0")))
	if !IsKind(err, KindUnknownName) || !strings.Contains(err.Error(), `"SyncKee"`) {
		t.Errorf("unknown name: %v", err)
	}
	n := Text("AirSync", "SyncKey", "0")
	n.Opaque = []byte{1}
	if _, err := Marshal(n); !IsKind(err, KindMixedContent) {
		t.Errorf("text+opaque: %v", err)
	}
	if _, err := Marshal(nil); err == nil {
		t.Errorf("nil node accepted")
	}
	// nil children are skipped; lookups are nil-safe.
	root := Elem("AirSync", "Sync", nil, Text("AirSync", "Status", "1"), nil)
	if len(root.Children) != 1 || root.Child("Nope").Child("Deeper").ChildText("X") != "" || root.All("Status")[0].Text != "1" {
		t.Errorf("tree helpers: %+v", root)
	}
	if Opaque("ComposeMail", "Mime", nil).Opaque == nil {
		t.Errorf("Opaque(nil) lost its kind")
	}
}

func TestXMLForm(t *testing.T) {
	// CR, tab, markup characters and non-ASCII survive the XML form.
	text := "a\r\nb\tc <&> \"q\" é 😀 \r"
	b, _ := Marshal(Elem("AirSync", "Sync", Text("AirSync", "SyncKey", text)))
	x, err := ToXML(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(x, []byte("&#xD;")) || !bytes.Contains(x, []byte("&lt;&amp;&gt;")) {
		t.Errorf("escaping: %s", x)
	}
	back, err := FromXML(x)
	if err != nil || !bytes.Equal(back, b) {
		t.Fatalf("round trip: %v\n% X\n% X", err, back, b)
	}
	// Control characters cannot go into XML 1.0.
	bad, _ := Marshal(Text("AirSync", "SyncKey", "a\x01"))
	if _, err := ToXML(bad); !IsKind(err, KindXML) {
		t.Errorf("control character: %v", err)
	}
	// OPAQUE rendering: text when it is text, base64 otherwise, and base64
	// when the text would itself read as base64 of binary data.
	for _, c := range []struct {
		in   []byte
		want string
	}{
		{[]byte("Subject: x\r\n"), "Subject: x&#xD;\n"},
		{[]byte{0x11, 0x22, 0x33}, "ESIz"},
		{[]byte("ESIz"), "RVNJeg=="},
		{[]byte("abcd"), "abcd"}, // base64 of "i\xb7\x1d", not text... see below
	} {
		got := string(appendOpaqueXML(nil, c.in))
		if c.want == "abcd" {
			// "abcd" decodes to 69 B7 1D, which is not valid UTF-8, so
			// the text "abcd" must be rendered as base64.
			c.want = "YWJjZA=="
		}
		if got != c.want {
			t.Errorf("render %q: %q, want %q", c.in, got, c.want)
		}
	}
	// FromXML errors.
	for _, c := range []struct {
		x    string
		kind ErrorKind
	}{
		{`<Sync xmlns="AirSync"><SyncKey>1</SyncKey>`, KindXML},
		{`<Sync xmlns="AirSync" id="1"/>`, KindXML},
		{`<Sync/>`, KindUnknownName},
		{`<Sync xmlns="AirSync"><Nope/></Sync>`, KindUnknownName},
		{`<Sync xmlns="AirSync">x<SyncKey/></Sync>`, KindMixedContent},
		{`<Sync xmlns="AirSync"><SyncKey/>x</Sync>`, KindMixedContent},
		{`<Sync xmlns="AirSync"/><Sync xmlns="AirSync"/>`, KindUnbalanced},
		{``, KindNoRoot},
	} {
		if _, err := FromXML([]byte(c.x)); !IsKind(err, c.kind) {
			t.Errorf("FromXML(%s): %v, want %v", c.x, err, c.kind)
		}
	}
	// Undeclared lower-case prefixes resolve to their namespace.
	b1, err := FromXML([]byte(`<Sync xmlns="AirSync"><airsyncbase:Body/></Sync>`))
	if err != nil || !bytes.Equal(b1, doc(0x45, 0x00, 0x11, 0x0A, 0x01)) {
		t.Errorf("prefix without declaration: % X, %v", b1, err)
	}
}

func TestErrorMessage(t *testing.T) {
	_, err := Unmarshal([]byte("<html>"))
	if err == nil || !strings.Contains(err.Error(), "offset 0") || !strings.Contains(err.Error(), "error page") {
		t.Errorf("message: %v", err)
	}
	if KindTruncated.String() != "truncated input" || ErrorKind(200).String() != "ErrorKind(200)" {
		t.Errorf("kind strings")
	}
}

func TestDecodeAfterToken(t *testing.T) {
	d := NewBytesDecoder(doc(0x45, 0x4B, 0x03, 'x', 0x00, 0x01, 0x01))
	if _, err := d.Token(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Decode(); !IsKind(err, KindUnbalanced) {
		t.Errorf("Decode after Token: %v", err)
	}
}

func TestCyclicTree(t *testing.T) {
	n := Elem("AirSync", "Sync")
	n.Children = append(n.Children, n)
	if _, err := Marshal(n); !IsKind(err, KindTooDeep) {
		t.Errorf("cyclic tree: %v", err)
	}
}

func TestTextDataIsCapped(t *testing.T) {
	b := doc(0x45, 0x4B, 0x03, 'x', 0x00, 0x01, 0x01)
	d := NewBytesDecoder(b)
	d.Token()
	d.Token()
	tok, _ := d.Token()
	_ = append(tok.Data, 'Z') // must not overwrite the input
	if b[8] != 0x00 {
		t.Errorf("append through Token.Data changed the input")
	}
}

func TestNilChildrenAreSkipped(t *testing.T) {
	n := Elem("AirSync", "Sync")
	n.Children = []*Node{nil, Text("AirSync", "Status", "1"), nil}
	if n.ChildText("Status") != "1" || len(n.All("Status")) != 1 {
		t.Errorf("lookups with nil children")
	}
	if _, err := Marshal(n); !IsKind(err, KindUnknownName) {
		t.Errorf("Marshal with a nil child: %v", err)
	}
}

func TestStreamingDecodeElement(t *testing.T) {
	doc, _ := bigSync(30)
	d := NewDecoder(iotest.HalfReader(bytes.NewReader(doc)))
	var ids []string
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case tok.Kind == StartToken && tok.Tag == AirSyncAdd:
			add, err := d.DecodeElement(tok)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, add.ChildText("ServerId"))
			if len(add.Child("ApplicationData").Child("Body").Child("Data").Opaque) < 1000 {
				t.Fatal("body missing")
			}
		case tok.Kind == StartToken && tok.Tag == AirSyncSyncKey:
			if err := d.Skip(); err != nil {
				t.Fatal(err)
			}
		case tok.Kind == TextToken && string(tok.Data) == "1234567890":
			t.Fatal("Skip did not skip the SyncKey text")
		}
	}
	if len(ids) != 30 || ids[0] != "5:1" || ids[29] != "5:30" {
		t.Fatalf("ids %v", ids)
	}

	// DecodeElement only right after the StartToken.
	d = NewBytesDecoder(doc)
	tok, _ := d.Token()
	d.Token()
	if _, err := d.DecodeElement(tok); !IsKind(err, KindUnbalanced) {
		t.Errorf("late DecodeElement: %v", err)
	}
	// Skip of the root reads to the end.
	d = NewBytesDecoder(doc)
	d.Token()
	if err := d.Skip(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Token(); err != io.EOF {
		t.Errorf("after skipping the root: %v", err)
	}
}
