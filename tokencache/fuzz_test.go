package tokencache

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzIdPError feeds arbitrary token-endpoint error replies to the parser
// that turns them into typed errors.
func FuzzIdPError(f *testing.F) {
	f.Add(400, "", []byte(`{"error":"invalid_grant","error_description":"AADSTS70043: The refresh token has expired.\r\nTrace ID: x","error_codes":[70043],"correlation_id":"0f0e-11","trace_id":"ab"}`))
	f.Add(429, "7", []byte(`{"error":"temporarily_unavailable","error_codes":[50196]}`))
	f.Add(503, "Wed, 21 Oct 2015 07:28:00 GMT", []byte(`{"error":"temporarily_unavailable"}`))
	f.Add(200, "", []byte(`{"token_type":"Bearer","access_token":"eyJ0eX`))
	f.Add(500, "-1", []byte(`<html>oops</html>`))
	f.Add(0, "", []byte(nil))
	f.Add(401, "99999999999999999999", []byte(`{"error_codes":[-1,2],"correlation_id":"`+strings.Repeat("a", 100)+`"}`))
	f.Fuzz(func(t *testing.T, status int, retryAfter string, body []byte) {
		h := http.Header{}
		h.Set("Retry-After", retryAfter)
		err := idpError(status, h, body, nil)
		var ie *IdPError
		if !errors.As(err, &ie) {
			t.Fatalf("not an *IdPError: %T", err)
		}
		if ie.RetryAfter < 0 || ie.RetryAfter > 5*60e9 {
			t.Fatalf("RetryAfter out of range: %v", ie.RetryAfter)
		}
		if len(ie.Description) > 303 || strings.ContainsAny(ie.Description, "\r\n") {
			t.Fatalf("description not shortened: %q", ie.Description)
		}
		_ = err.Error()
		_ = Temporary(err)
	})
}

// FuzzStoredRecord feeds arbitrary bytes to everything that reads a stored
// record: the file store's file parser, the AES-GCM opener, the partition
// decoder and the MSAL-cache helpers. A corrupt record must come back as
// ErrCorrupt (or be ignored), never as a panic.
func FuzzStoredRecord(f *testing.F) {
	f.Add([]byte(`{"v":1,"partition":"p","generation":2,"data":"eyJ2IjoxfQ=="}`))
	f.Add([]byte(`{"v":1,"partition":"p","generation":1,"data":"eyJ2IjoxLCJtc2FsIjp7IlJlZnJlc2hUb2tlbiI6e319LCJob21lIjoiaCIsInRva2VucyI6eyJrIjp7ImF0IjoieCIsImV4cCI6IjIwOTktMDEtMDFUMDA6MDA6MDBaIn19fQ=="}`))
	f.Add([]byte(`{"v":1,"partition":"p","generation":0}`))
	f.Add([]byte(`{"v":1,"partition":"p","generation":1,"data":"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`))
	f.Add([]byte(`{"v":1,`))
	f.Add([]byte{0xff, 0xfe, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := filepath.Join(t.TempDir(), "tokens") // NewFileStore creates it private
		fs, err := NewFileStore(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(fs.base("p")+".json", b, 0o600); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		rec, err := fs.Load(ctx, "p")
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("unexpected error kind: %v", err)
		}
		es, _ := NewEncryptedStore(fs, make([]byte, 16))
		if _, err := es.Load(ctx, "p"); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("unexpected error kind: %v", err)
		}
		data := rec.Data
		if data == nil {
			data = b
		}
		// the partition decoder, through a memory store
		c := New(nil)
		ms := c.store.(*MemoryStore)
		_ = ms.Save(ctx, "p", Record{Generation: 1, Data: data})
		p := newPartition(c, "p")
		p.load(ctx)
		_ = withoutAccessTokens(p.data.MSAL)
		_ = withoutAccessTokens(data)
		_ = dropHome(data, "h")
		for _, tk := range p.data.Tokens {
			_ = c.newState(tokenOf(tk), tk.RefreshOn, tk.Expiry.Add(-1))
		}
	})
}
