package smtptest

import "testing"

// FuzzParsePayload checks the server-side SASL payload parser on arbitrary client data.
func FuzzParsePayload(f *testing.F) {
	f.Add("XOAUTH2", []byte("user=a@b\x01auth=Bearer tok\x01\x01"))
	f.Add("OAUTHBEARER", []byte("n,a=a=2Cb@c,\x01host=h\x01port=993\x01auth=Bearer tok\x01\x01"))
	f.Add("OAUTHBEARER", []byte("n,,\x01auth=Bearer t\x01\x01"))
	f.Add("XOAUTH2", []byte("\x01\x01"))
	f.Fuzz(func(t *testing.T, mech string, b []byte) {
		user, token, err := parsePayload(mech, b)
		if err == nil && (user == "" || token == "") {
			t.Fatalf("accepted a payload without user or token: %q", b)
		}
	})
}
