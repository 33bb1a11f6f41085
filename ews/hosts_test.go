package ews

import (
	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/internal/fake/recorder"

	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

func jwtFor(aud string) string {
	return fakeidp.Unsigned(`{"aud":"` + aud + `","upn":"alice@contoso.test"}`)
}

// A URL on a host the token's audience does not name (say, what
// Autodiscover found on the address's own domain) gets no token unless the
// caller listed the host; the audience's own host does.
func TestTokenGoesOnlyWhereItsAudienceOrTheCallerAllows(t *testing.T) {
	exo := jwtFor("https://outlook.office365.com")
	for _, tc := range []struct {
		name, url, token string
		allowed          []string
		sent             bool
	}{
		{"exchange online token, exchange online host", "https://outlook.office365.com/EWS/Exchange.asmx", exo, nil, true},
		{"exchange online token (resource id), exchange online host", "https://outlook.office365.com/EWS/Exchange.asmx", jwtFor("00000002-0000-0ff1-ce00-000000000000"), nil, true},
		{"exchange online token, autodiscovered host", "https://mail.fabrikam.test/EWS/Exchange.asmx", exo, nil, false},
		{"exchange online token, look-alike host", "https://outlook.office365.com.fabrikam.test/EWS/Exchange.asmx", exo, nil, false},
		{"exchange online token, host the caller listed", "https://mail.fabrikam.test/EWS/Exchange.asmx", exo, []string{"mail.fabrikam.test"}, true},
		{"on-premises token, its own host", "https://mail.contoso.test/EWS/Exchange.asmx", jwtFor("https://mail.contoso.test"), nil, true},
		{"on-premises token, another host", "https://mail.fabrikam.test/EWS/Exchange.asmx", jwtFor("https://mail.contoso.test"), nil, false},
		{"opaque token: nothing to judge by", "https://mail.fabrikam.test/EWS/Exchange.asmx", "opaque-token-value", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder.Transport{}
			c, err := New(&Options{URL: tc.url, Token: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tc.token}),
				Mailbox: "alice@contoso.test", Transport: rec, AllowedHosts: tc.allowed, MaxRetries: -1})
			require.NoError(t, err)
			_, err = c.GetFolder(t.Context(), Inbox)
			require.Error(t, err, "the recorder answers 500")
			var hn *HostNotAllowedError
			if tc.sent {
				require.Len(t, rec.Seen(), 1)
				assert.Equal(t, "Bearer "+tc.token, rec.Seen()[0].Authorization)
				assert.False(t, errors.As(err, &hn))
				return
			}
			assert.Empty(t, rec.Seen(), "nothing left the machine")
			require.ErrorAs(t, err, &hn)
			assert.Contains(t, err.Error(), "AllowedHosts")
			assert.NotContains(t, err.Error(), tc.token)
		})
	}
}

func TestAllowedHostsMustHoldTheURLHost(t *testing.T) {
	_, err := New(&Options{URL: "https://mail.contoso.test/EWS/Exchange.asmx", Token: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "x"}),
		Mailbox: "alice@contoso.test", AllowedHosts: []string{"other.contoso.test"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "mail.contoso.test")
}
