package popauth

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestParseReply(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		want       reply
		err        bool
	}{
		{"ok", "+OK 2 320", reply{kind: replyOK, text: "2 320"}, false},
		{"bare ok", "+OK", reply{kind: replyOK}, false},
		{"lower case", "+ok fine", reply{kind: replyOK, text: "fine"}, false},
		{"err with code", "-ERR [AUTH] Authentication failed.", reply{kind: replyErr, code: "AUTH", text: "Authentication failed."}, false},
		{"err sys/temp", "-ERR [SYS/TEMP] Temporary authentication failure. [host:time]", reply{kind: replyErr, code: "SYS/TEMP", text: "Temporary authentication failure. [host:time]"}, false},
		{"err in-use", "-ERR [IN-USE] locked", reply{kind: replyErr, code: "IN-USE", text: "locked"}, false},
		{"err exchange", "-ERR Authentication failure: unknown user name or bad password.", reply{kind: replyErr, text: "Authentication failure: unknown user name or bad password."}, false},
		{"err bad code kept as text", "-ERR [A B] x", reply{kind: replyErr, text: "[A B] x"}, false},
		{"err empty level", "-ERR [SYS/] x", reply{kind: replyErr, text: "[SYS/] x"}, false},
		{"err unclosed", "-ERR [AUTH x", reply{kind: replyErr, text: "[AUTH x"}, false},
		{"continuation", "+ eyJzdGF0dXMiOiI0MDEifQ==", reply{kind: replyContinue, text: "eyJzdGF0dXMiOiI0MDEifQ=="}, false},
		{"empty continuation", "+ ", reply{kind: replyContinue}, false},
		{"bare plus", "+", reply{kind: replyContinue}, false},
		{"okay is not ok", "+OKAY", reply{}, true},
		{"garbage", "* OK imap", reply{}, true},
		{"empty", "", reply{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseReply(tc.line)
			if (err != nil) != tc.err {
				t.Fatalf("parseReply(%q) error = %v, want error %v", tc.line, err, tc.err)
			}
			if tc.err && !errors.Is(err, ErrMalformedReply) {
				t.Fatalf("error %v does not wrap ErrMalformedReply", err)
			}
			if got != tc.want {
				t.Fatalf("parseReply(%q) = %+v; want %+v", tc.line, got, tc.want)
			}
		})
	}
}

func TestDotReader(t *testing.T) {
	for _, tc := range []struct {
		name, wire, want, rest string
		err                    error
	}{
		{"simple", "a\r\nb\r\n.\r\nNEXT", "a\r\nb\r\n", "NEXT", nil},
		{"empty body", ".\r\n+OK", "", "+OK", nil},
		{"stuffed", "..x\r\n...\r\n. \r\n.\r\n", ".x\r\n..\r\n \r\n", "", nil},
		{"bare lf", "a\n..b\n.\nZ", "a\n.b\n", "Z", nil},
		{"dot cr not lf", ".\rx\r\n.\r\n", "\rx\r\n", "", nil},
		{"truncated", "a\r\nb", "a\r\nb", "", io.ErrUnexpectedEOF},
		{"truncated after dot", "a\r\n.", "a\r\n", "", io.ErrUnexpectedEOF},
		{"truncated after dot cr", "a\r\n.\r", "a\r\n", "", io.ErrUnexpectedEOF},
		{"nothing", "", "", "", io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, small := range []bool{false, true} {
				var src io.Reader = strings.NewReader(tc.wire)
				if small {
					src = iotest.OneByteReader(src)
				}
				br := bufio.NewReaderSize(src, 16)
				got, err := io.ReadAll(newDotReader(br))
				if !errors.Is(err, tc.err) && !(tc.err == nil && err == nil) {
					t.Fatalf("small=%v: error %v, want %v", small, err, tc.err)
				}
				if string(got) != tc.want {
					t.Fatalf("small=%v: body %q, want %q", small, got, tc.want)
				}
				if tc.err == nil {
					rest, _ := io.ReadAll(br)
					if string(rest) != tc.rest {
						t.Fatalf("small=%v: left %q, want %q", small, rest, tc.rest)
					}
				}
			}
		})
	}
}

func TestDotReaderLongLine(t *testing.T) {
	line := strings.Repeat("x", 100000)
	br := bufio.NewReaderSize(strings.NewReader("."+line+"\r\n.\r\n"), 16)
	got, err := io.ReadAll(newDotReader(br))
	if err != nil || string(got) != line+"\r\n" {
		t.Fatalf("long line: err %v, len %d", err, len(got))
	}
}

func TestReadLineLimit(t *testing.T) {
	br := bufio.NewReaderSize(strings.NewReader(strings.Repeat("a", maxLine+10)+"\r\n"), 4096)
	if _, err := readLine(br); !errors.Is(err, ErrMalformedReply) {
		t.Fatalf("readLine of an overlong line: %v", err)
	}
}

func TestListings(t *testing.T) {
	if n, s, err := parseScanListing("3 842"); err != nil || n != 3 || s != 842 {
		t.Fatalf("parseScanListing: %d %d %v", n, s, err)
	}
	for _, bad := range []string{"", "3", "x 1", "1 -2", "-1 2", "1 99999999999999999999"} {
		if _, _, err := parseScanListing(bad); !errors.Is(err, ErrMalformedReply) {
			t.Errorf("parseScanListing(%q) = %v, want ErrMalformedReply", bad, err)
		}
	}
	if n, u, err := parseUIDListing("1 000000017b1b4c1f"); err != nil || n != 1 || u != "000000017b1b4c1f" {
		t.Fatalf("parseUIDListing: %d %q %v", n, u, err)
	}
	for _, bad := range []string{"1", "0 x", "1 " + strings.Repeat("u", 71), "1 a\x7fb"} {
		if _, _, err := parseUIDListing(bad); !errors.Is(err, ErrMalformedReply) {
			t.Errorf("parseUIDListing(%q) = %v, want ErrMalformedReply", bad, err)
		}
	}
	caps := parseCapa([]string{"TOP", "sasl XOAUTH2 OAUTHBEARER", "", "RESP-CODES"})
	if got := caps["SASL"]; len(got) != 2 || got[1] != "OAUTHBEARER" {
		t.Fatalf("parseCapa SASL = %v", got)
	}
}

// FuzzParseReply feeds arbitrary status lines, CAPA/LIST/UIDL lines and error
// challenges to the single-line parsers: none may panic, and a parsed reply
// must be consistent with its input.
func FuzzParseReply(f *testing.F) {
	for _, s := range []string{
		"+OK", "+OK 3 842", "-ERR", "-ERR [AUTH] Authentication failed.", "-ERR [SYS/TEMP] x",
		"-ERR [IN-USE]", "-ERR [", "-ERR []", "-ERR [/]", "+ ", "+", "+ eyJzdGF0dXMiOiI0MDEifQ==",
		"+OK\x00", "1 000000017b1b4c1f", "SASL XOAUTH2 OAUTHBEARER", `{"status":"invalid_token"}`,
		"-ERR Authentication failure: unknown user name or bad password.",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		r, err := parseReply(line)
		if err == nil {
			switch r.kind {
			case replyOK, replyErr, replyContinue:
			default:
				t.Fatalf("parseReply(%q) kind %d", line, r.kind)
			}
			if r.code != "" && !strings.Contains(strings.ToUpper(line), "["+r.code+"]") {
				t.Fatalf("code %q not in line %q", r.code, line)
			}
		}
		parseScanListing(line)
		parseUIDListing(line)
		parseCapa(strings.Split(line, "\n"))
		br := bufio.NewReaderSize(strings.NewReader(line), 16)
		readLine(br)
	})
}

// FuzzDotReader feeds arbitrary multi-line bodies to the streaming dot
// decoder and to the listing reader: no panic, no output longer than the
// input, and after the terminator the remaining bytes are untouched.
func FuzzDotReader(f *testing.F) {
	for _, s := range []string{
		"a\r\nb\r\n.\r\n", ".\r\n", "..x\r\n.\r\n", "a\n.\n", ".\r", ".", "", "x", "\r\n\r\n.\r\nrest",
		"Subject: x\r\n\r\n..leading\r\n.\r\n+OK next", "1 2\r\n2 3\r\n.\r\n",
	} {
		f.Add([]byte(s), uint8(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		var src io.Reader = bytes.NewReader(data)
		if chunk%2 == 1 {
			src = iotest.OneByteReader(src)
		}
		br := bufio.NewReaderSize(src, 16)
		d := newDotReader(br)
		buf := make([]byte, int(chunk)%7+1)
		var out []byte
		for i := 0; i < len(data)+10; i++ {
			n, err := d.Read(buf)
			out = append(out, buf[:n]...)
			if err != nil {
				if err != io.EOF && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("unexpected error %v", err)
				}
				break
			}
		}
		if len(out) > len(data) {
			t.Fatalf("decoded %d bytes from %d", len(out), len(data))
		}
		d.drain()
		readDotLines(bufio.NewReaderSize(bytes.NewReader(data), 16), 100)
	})
}
