package sasl

import (
	"errors"
	"strconv"
	"strings"
)

// Mechanism names, as advertised by servers.
const (
	XOAuth2     = "XOAUTH2"
	OAuthBearer = "OAUTHBEARER"
)

// ErrInvalidUsername reports a user name that cannot be put into a SASL payload.
var ErrInvalidUsername = errors.New("sasl: user name is empty or contains a control character (CR, LF or 0x01)")

// ErrInvalidToken reports an access token that cannot be put into a SASL payload.
var ErrInvalidToken = errors.New("sasl: access token is empty or contains whitespace or a control character")

// ValidateUsername reports whether user can be sent as the XOAUTH2 user= or OAUTHBEARER
// a= value: it must be non-empty and free of CR, LF, NUL and 0x01.
func ValidateUsername(user string) error {
	if user == "" || strings.ContainsAny(user, "\r\n\x00\x01") {
		return ErrInvalidUsername
	}
	return nil
}

func validateToken(tok string) error {
	if tok == "" || strings.ContainsAny(tok, " \t\r\n\x00\x01") {
		return ErrInvalidToken
	}
	return nil
}

// XOAuth2Payload returns the raw (not base64-encoded) XOAUTH2 client response:
//
//	"user=" + user + "\x01auth=Bearer " + token + "\x01\x01"
//
// user is the mailbox to open: the signed-in user, a shared mailbox, or the target mailbox
// of an app-only token. It returns an error if user or token cannot be encoded.
func XOAuth2Payload(user, token string) ([]byte, error) {
	if err := ValidateUsername(user); err != nil {
		return nil, err
	}
	if err := validateToken(token); err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(user)+len(token)+22)
	b = append(b, "user="...)
	b = append(b, user...)
	b = append(b, "\x01auth=Bearer "...)
	b = append(b, token...)
	b = append(b, "\x01\x01"...)
	return b, nil
}

// OAuthBearerPayload returns the raw OAUTHBEARER initial client response of RFC 7628 §3.1:
//
//	"n,a=" + saslname(user) + ",\x01host=" + host + "\x01port=" + port + "\x01auth=Bearer " + token + "\x01\x01"
//
// host and port describe the connection actually in use; an empty host or a zero port
// leaves that key out. ',' and '=' in user are escaped as RFC 5801 requires.
func OAuthBearerPayload(user, host string, port int, token string) ([]byte, error) {
	if err := ValidateUsername(user); err != nil {
		return nil, err
	}
	if err := validateToken(token); err != nil {
		return nil, err
	}
	if strings.ContainsAny(host, "\r\n\x00\x01") {
		return nil, errors.New("sasl: host contains a control character")
	}
	var b strings.Builder
	b.Grow(len(user) + len(host) + len(token) + 40)
	b.WriteString("n,a=")
	b.WriteString(strings.NewReplacer("=", "=3D", ",", "=2C").Replace(user))
	b.WriteString(",\x01")
	if host != "" {
		b.WriteString("host=")
		b.WriteString(host)
		b.WriteByte(1)
	}
	if port > 0 {
		b.WriteString("port=")
		b.WriteString(strconv.Itoa(port))
		b.WriteByte(1)
	}
	b.WriteString("auth=Bearer ")
	b.WriteString(token)
	b.WriteString("\x01\x01")
	return []byte(b.String()), nil
}

// Ack returns the response a client sends to answer an error challenge of mech: an empty
// (non-nil) response for XOAUTH2, the single byte 0x01 for OAUTHBEARER (RFC 7628 §3.2.3).
func Ack(mech string) []byte {
	if strings.EqualFold(mech, OAuthBearer) {
		return []byte{1}
	}
	return []byte{}
}
