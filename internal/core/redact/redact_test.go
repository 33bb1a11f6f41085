package redact

import (
	"bytes"
	"encoding/base64"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJ1cG4iOiJhQGIifQ.c2lnbmF0dXJl"

func TestFixedRules(t *testing.T) {
	payload := base64.StdEncoding.EncodeToString([]byte("user=a@b\x01auth=Bearer " + jwt + "\x01\x01"))
	for in, want := range map[string]string{
		"Authorization: Bearer abc.def-ghi~":            "Authorization: Bearer " + Mask,
		"token " + jwt + " end":                         "token " + Mask + " end",
		"A1 AUTHENTICATE XOAUTH2 " + payload + "\r\n":   "A1 AUTHENTICATE XOAUTH2 " + Mask + "\r\n",
		"AUTH XOAUTH2 " + payload:                       "AUTH XOAUTH2 " + Mask,
		"C: a2 authenticate PLAIN AGFsaWNlAHMzY3IzdA==": "C: a2 authenticate PLAIN " + Mask,
		"250-AUTH LOGIN PLAIN XOAUTH2":                  "250-AUTH LOGIN PLAIN XOAUTH2",
		"* CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR":     "* CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR",
		payload + "\r\n":                                Mask + "\r\n",
		"C: " + payload + "\r\n":                        "C: " + Mask + "\r\n",
		"* OK IMAP4rev1 ready\r\n":                      "* OK IMAP4rev1 ready\r\n",
		"+ eyJzdGF0dXMiOiI0MDEifQ==\r\n":                "+ " + Mask + "\r\n",
		"250-AUTH LOGIN PLAIN XOAUTH2\r\n":              "250-AUTH LOGIN PLAIN XOAUTH2\r\n",
		`{"error":"invalid_token","access_token":"x"}`:  `{"error":"invalid_token","access_token":"x"}`,
	} {
		assert.Equal(t, want, String(in), "input %q", in)
	}
}

func TestSecretsAndWriter(t *testing.T) {
	var r Redactor
	r.Add("s3cr3t-value")
	r.Add("short") // ignored
	var out bytes.Buffer
	w := r.Writer(&out)
	_, _ = w.Write([]byte("secret=s3cr3t-value b64=" + base64.StdEncoding.EncodeToString([]byte("s3cr3t-value")) + " short\npartial " + jwt[:20]))
	assert.Equal(t, "secret="+Mask+" b64="+Mask+" short\n", out.String())
	_, _ = w.Write([]byte(jwt[20:]))
	assert.NoError(t, w.Flush())
	assert.Equal(t, "secret="+Mask+" b64="+Mask+" short\npartial "+Mask, out.String())
	assert.NotContains(t, (*Redactor)(nil).String("Bearer "+jwt), "eyJ")
	assert.False(t, strings.Contains(String(strings.Repeat("A", 100)), "AAAA"))
}

// FuzzString: no panic, a JWT never survives, and the argument of an AUTHENTICATE or AUTH
// command at the start of a line never survives.
var (
	asciiFields  = regexp.MustCompile(`[\t\f\r ]+`)
	mechName     = regexp.MustCompile(`^[A-Z0-9_-]{2,20}$`)
	payloadChars = regexp.MustCompile(`^[A-Za-z0-9+/=]+$`)
)

func FuzzString(f *testing.F) {
	f.Add("Bearer " + jwt)
	f.Add("A1 AUTHENTICATE XOAUTH2 dXNlcj1h")
	f.Add("BEARER abc eyJ")
	f.Add("Authorization: Bearer eyJ0eXAi.eyJhdWQi.sig-_= and token eyJabc.def.ghi, end")
	f.Add("a2 AUTHENTICATE XOAUTH2 dXNlcj1hQGIBYXV0aD1CZWFyZXIgeHh4eAEB\r\n")
	f.Add("dXNlcj1hQGIBYXV0aD1CZWFyZXIgeHh4eAEBdXNlcj1hQGIB\r\n")
	f.Add("* OK [CAPABILITY IMAP4rev1 SASL-IR] hi\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		out := String(s)
		if strings.Contains(out, "eyJ") {
			t.Fatalf("a JWT-shaped run survived in %q", out)
		}
		for _, line := range strings.Split(s, "\n") {
			f := asciiFields.Split(strings.TrimLeft(line, "\t\f\r "), -1)
			if len(f) >= 3 && (strings.EqualFold(f[0], "AUTHENTICATE") || strings.EqualFold(f[0], "AUTH")) && mechName.MatchString(f[1]) && payloadChars.MatchString(f[2]) {
				arg := f[2]
				if len(arg) > 12 && strings.Contains(out, arg) && !strings.Contains(f[1], arg) && !strings.Contains(Mask, arg) {
					t.Fatalf("payload %q survived in %q", arg, out)
				}
			}
		}
	})
}
