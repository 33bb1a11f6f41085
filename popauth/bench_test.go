package popauth

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"
)

// stuffedBody is a 1 MiB message body as it appears on the wire: CRLF lines
// of 76 octets, every tenth line byte-stuffed, then the terminator.
func stuffedBody() (wire []byte, plain int) {
	var b bytes.Buffer
	line := strings.Repeat("x", 74) + "\r\n"
	for b.Len() < 1<<20 {
		if (b.Len()/len(line))%10 == 0 {
			b.WriteString("." + "." + line[1:])
			plain += len(line)
			continue
		}
		b.WriteString(line)
		plain += len(line)
	}
	b.WriteString(".\r\n")
	return b.Bytes(), plain
}

func BenchmarkDotReader(b *testing.B) {
	wire, plain := stuffedBody()
	buf := make([]byte, 32<<10)
	r := bytes.NewReader(wire)
	br := bufio.NewReaderSize(r, 4096)
	b.SetBytes(int64(plain))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(wire)
		br.Reset(r)
		n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{newDotReader(br)}, buf)
		if err != nil || int(n) != plain {
			b.Fatalf("copied %d, err %v", n, err)
		}
	}
}

func BenchmarkParseReply(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseReply("-ERR [SYS/TEMP] Temporary authentication failure. [host:2026-11-27 13:00:00]"); err != nil {
			b.Fatal(err)
		}
	}
}
