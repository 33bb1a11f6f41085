package imapauth

import (
	"bytes"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"
)

// One trace knob: Options.DebugWriter wins over Client.DebugWriter; the latter is used
// (redacted) only alone.
func TestDebugWriterWins(t *testing.T) {
	var mine, theirs bytes.Buffer
	o := &Options{DebugWriter: &mine, Client: &imapclient.Options{DebugWriter: &theirs}}
	co := o.clientOptions()
	co.DebugWriter.Write([]byte("A1 AUTHENTICATE XOAUTH2 dXNlcj1hQGIBYXV0aD1CZWFyZXIgZXlKaGJHY2lPaUpTVXpJMU5pSjkBAQ==\r\n"))
	if theirs.Len() != 0 || !bytes.Contains(mine.Bytes(), []byte("AUTHENTICATE XOAUTH2 [REDACTED]")) {
		t.Fatalf("mine %q theirs %q", mine.String(), theirs.String())
	}
	o = &Options{Client: &imapclient.Options{DebugWriter: &theirs}}
	o.clientOptions().DebugWriter.Write([]byte("A1 AUTHENTICATE XOAUTH2 dXNlcj1hQGIBYXV0aD1CZWFyZXIgZXlKaGJHY2lPaUpTVXpJMU5pSjkBAQ==\r\n"))
	if !bytes.Contains(theirs.Bytes(), []byte("XOAUTH2 [REDACTED]")) {
		t.Fatalf("theirs %q", theirs.String())
	}
}
