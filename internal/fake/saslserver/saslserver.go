// Package saslserver is the server side of XOAUTH2 and OAUTHBEARER for the in-process test
// servers: a strict parser of what our clients send.
package saslserver

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/modernauth/mailauth/internal/core/sasl"
)

// ParseResponse reads a client's XOAUTH2 or OAUTHBEARER response the way a strict server
// does (RFC 7628 §3.1; XOAUTH2 has the same key/value part after its user= field), and
// returns the user name and the bearer token. The in-process test servers use it to
// check that our clients send exactly what the mechanisms define. Errors never quote the
// response, which holds the token.
func ParseResponse(mech string, b []byte) (user, token string, err error) {
	if !bytes.HasSuffix(b, []byte("\x01\x01")) {
		return "", "", errors.New("sasl: response does not end in ^A^A")
	}
	b = b[:len(b)-2]
	var fields []string
	switch mech {
	case sasl.XOAuth2:
		fields = strings.Split(string(b), "\x01")
	case sasl.OAuthBearer:
		gs2, rest, ok := strings.Cut(string(b), "\x01")
		if !ok || !strings.HasPrefix(gs2, "n,") || !strings.HasSuffix(gs2, ",") {
			return "", "", errors.New("sasl: bad GS2 header")
		}
		for _, p := range strings.Split(strings.TrimSuffix(strings.TrimPrefix(gs2, "n,"), ","), ",") {
			if v, ok := strings.CutPrefix(p, "a="); ok {
				user = strings.NewReplacer("=2C", ",", "=3D", "=").Replace(v)
			}
		}
		fields = strings.Split(rest, "\x01")
	default:
		return "", "", fmt.Errorf("sasl: unknown mechanism %q", mech)
	}
	for _, f := range fields {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "user":
			if mech == sasl.XOAuth2 {
				user = v
			}
		case "auth":
			t, ok := strings.CutPrefix(v, "Bearer ")
			if !ok {
				return "", "", errors.New("sasl: auth is not Bearer")
			}
			token = t
		case "host":
		case "port":
			if _, err := strconv.Atoi(v); err != nil {
				return "", "", errors.New("sasl: bad port")
			}
		default:
			return "", "", fmt.Errorf("sasl: unknown key %q", k)
		}
	}
	if user == "" || token == "" {
		return "", "", errors.New("sasl: missing user or token")
	}
	return user, token, nil
}
