package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDecodeEncodeVectors(t *testing.T) {
	files, _ := filepath.Glob("../../eas/wbxml/testdata/vectors/libwbxml_*.wbxml")
	if len(files) < 5 {
		t.Fatalf("found %d vectors", len(files))
	}
	for _, f := range files {
		wb, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := os.ReadFile(strings.TrimSuffix(f, ".wbxml") + ".xml")
		var x bytes.Buffer
		if err := run([]string{"decode"}, bytes.NewReader(wb), &x); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !bytes.Equal(x.Bytes(), want) {
			t.Errorf("%s: decode output differs", f)
		}
		var back bytes.Buffer
		if err := run([]string{"encode"}, &x, &back); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !bytes.Equal(back.Bytes(), wb) {
			t.Errorf("%s: encode output differs", f)
		}
	}
}

func TestLegacyAndErrors(t *testing.T) {
	wb, err := os.ReadFile("../../eas/wbxml/testdata/vectors/legacy/libwbxml_sync_request_contacts_legacy.wbxml")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run([]string{"decode"}, bytes.NewReader(wb), &out); err == nil {
		t.Errorf("strict decode accepted legacy tags")
	}
	out.Reset()
	if err := run([]string{"decode", "-legacy"}, bytes.NewReader(wb), &out); err != nil || !bytes.Contains(out.Bytes(), []byte("<Truncation>")) {
		t.Errorf("legacy decode: %v", err)
	}
	for _, args := range [][]string{nil, {"frobnicate"}, {"decode", "-x"}} {
		if err := run(args, strings.NewReader(""), &out); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
	if err := run([]string{"decode"}, strings.NewReader("<html>"), &out); err == nil || !strings.Contains(err.Error(), "offset") {
		t.Errorf("bad input: %v", err)
	}
}
