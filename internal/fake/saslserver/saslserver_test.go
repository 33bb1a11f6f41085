package saslserver

import (
	"testing"

	"github.com/modernauth/mailauth/internal/core/sasl"
)

func TestParseResponseRoundTrip(t *testing.T) {
	x, _ := sasl.XOAuth2Payload("shared@contoso.test", "tok.en")
	if u, tok, err := ParseResponse(sasl.XOAuth2, x); err != nil || u != "shared@contoso.test" || tok != "tok.en" {
		t.Fatalf("XOAUTH2: %q %q %v", u, tok, err)
	}
	o, _ := sasl.OAuthBearerPayload("a,b@c=d", "imap.test", 993, "tok.en")
	if u, tok, err := ParseResponse(sasl.OAuthBearer, o); err != nil || u != "a,b@c=d" || tok != "tok.en" {
		t.Fatalf("OAUTHBEARER: %q %q %v", u, tok, err)
	}
	for _, bad := range []string{"user=a\x01auth=Bearer t\x01", "user=a\x01auth=Basic t\x01\x01", "user=a\x01x=1\x01auth=Bearer t\x01\x01", "\x01\x01"} {
		if _, _, err := ParseResponse(sasl.XOAuth2, []byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

// FuzzParseResponse checks the server-side parser on arbitrary client data.
func FuzzParseResponse(f *testing.F) {
	f.Add("XOAUTH2", []byte("user=a@b\x01auth=Bearer tok\x01\x01"))
	f.Add("OAUTHBEARER", []byte("n,a=a=2Cb@c,\x01host=h\x01port=993\x01auth=Bearer tok\x01\x01"))
	f.Add("OAUTHBEARER", []byte("n,,\x01auth=Bearer t\x01\x01"))
	f.Add("XOAUTH2", []byte("\x01\x01"))
	f.Fuzz(func(t *testing.T, mech string, b []byte) {
		user, token, err := ParseResponse(mech, b)
		if err == nil && (user == "" || token == "") {
			t.Fatalf("accepted a response without user or token: %q", b)
		}
	})
}
