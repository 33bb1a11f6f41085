package sasl

import (
	"testing"

	"github.com/modernauth/mailauth"
)

func FuzzParseChallenge(f *testing.F) {
	for _, s := range []string{
		`{"status":"401","schemes":"bearer","scope":"mail"}`,
		`{"status":"invalid_token"}`,
		`{"status":400,"schemes":"Bearer","scope":"https://mail.google.com/"}`,
		`{"status":"invalid_token","openid-configuration":"https://x/.well-known/openid-configuration"}`,
		`null`, `[]`, `{`, "", "\x01", `{"status":{"x":[1,2,{"y":null}]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c := ParseChallenge(b)
		if c == nil {
			t.Fatal("nil challenge")
		}
		_ = c.String()
		if len(c.Raw) > 3*256 {
			t.Fatalf("Raw too long: %d", len(c.Raw))
		}
		_, _ = ParseChallengeBase64(string(b))
	})
}

func FuzzParseIdentity(f *testing.F) {
	f.Add(jwt(`{"upn":"a@b","aud":["x","y"],"scp":"A B","roles":["R"],"exp":1900000000}`))
	f.Add(jwt(`{"aud":1,"scp":[1],"exp":"x"}`))
	f.Add(jwt(`{"exp":1e300}`))
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		id := mailauth.ParseIdentity(s)
		_ = id.String()
		_ = AudienceHint(id)
		_ = DefaultHint(id, "m")
	})
}
