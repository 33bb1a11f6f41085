package httpx

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"120":                           120 * time.Second,
		" 0 ":                           0,
		"99999999999999":                maxRetryAfter,
		"Sun, 06 Dec 2026 10:00:30 GMT": 30 * time.Second,
		"Sun, 06 Dec 2026 09:00:00 GMT": 0,
	} {
		d, ok := RetryAfter(v, now)
		assert.True(t, ok, v)
		assert.Equal(t, want, d, v)
	}
	for _, v := range []string{"", "-1", "soon", "1.5"} {
		_, ok := RetryAfter(v, now)
		assert.False(t, ok, v)
	}
}

type fakeRT struct{}

func (fakeRT) RoundTrip(*http.Request) (*http.Response, error) { return nil, nil }

func TestTransportWhenDefaultReplaced(t *testing.T) {
	old := http.DefaultTransport
	t.Cleanup(func() { http.DefaultTransport = old })
	http.DefaultTransport = fakeRT{}
	tr := Transport()
	assert.NotNil(t, tr)
	assert.NotNil(t, tr.Proxy)
	Drain(nil)
}
