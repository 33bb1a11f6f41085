package tlsconf

import (
	"crypto/tls"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/modernauth/mailauth"
)

func TestClient(t *testing.T) {
	c := Client(nil, "imap.example.test", "imap")
	assert.Equal(t, "imap.example.test", c.ServerName)
	assert.Equal(t, uint16(tls.VersionTLS12), c.MinVersion)
	assert.Equal(t, []string{"imap"}, c.NextProtos)

	base := &tls.Config{ServerName: "other", MinVersion: tls.VersionTLS13}
	c = Client(base, "h")
	assert.NotSame(t, base, c)
	assert.Equal(t, "other", c.ServerName)
	assert.Equal(t, uint16(tls.VersionTLS13), c.MinVersion)
	assert.Nil(t, c.NextProtos)
}

func TestCheckInsecure(t *testing.T) {
	for _, a := range []string{"127.0.0.1:143", "127.9.9.9", "[::1]:25", "::1", "localhost:110", "LOCALHOST", "x.localhost:1", "[::ffff:127.0.0.1]:1"} {
		assert.NoError(t, CheckInsecure("InsecureAllowPlaintext", a), a)
	}
	for _, a := range []string{"10.0.0.1:143", "outlook.office365.com:993", "[::2]:25", "localhost.example.com:1", "", "0.0.0.0:1"} {
		err := CheckInsecure("InsecureAllowHTTP", a)
		assert.True(t, errors.Is(err, mailauth.ErrInsecure), a)
	}
}
