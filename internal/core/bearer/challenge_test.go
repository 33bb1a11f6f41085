package bearer

import (
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func base64Std(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestParseChallenges(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		in    []string
		want  int
		check func(t *testing.T, c []Challenge)
	}{
		{
			name: "exchange online 401",
			in: []string{`Bearer client_id="00000002-0000-0ff1-ce00-000000000000", trusted_issuers="00000001-0000-0000-c000-000000000000@*", token_types="app_asserted_user_v1 service_asserted_app_v1", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="invalid_token"`,
				`Basic Realm=""`},
			want: 1,
			check: func(t *testing.T, c []Challenge) {
				assert.Equal(t, "invalid_token", c[0].Error)
				assert.Equal(t, "app_asserted_user_v1 service_asserted_app_v1", c[0].Params["token_types"])
				assert.Empty(t, c[0].Claims)
			},
		},
		{
			name: "several challenges in one value",
			in:   []string{`Negotiate, Basic realm="x", Bearer error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnt9fQ==", error_description="need \"mfa\""`},
			want: 1,
			check: func(t *testing.T, c []Challenge) {
				assert.Equal(t, `{"access_token":{}}`, c[0].Claims)
				assert.Equal(t, `need "mfa"`, c[0].Description)
			},
		},
		{
			name: "token values and odd spacing",
			in:   []string{`bearer   scope = "EWS.AccessAsUser.All" , error=invalid_token`},
			want: 1,
			check: func(t *testing.T, c []Challenge) {
				assert.Equal(t, "EWS.AccessAsUser.All", c[0].Scope)
				assert.Equal(t, "invalid_token", c[0].Error)
			},
		},
		{name: "empty bearer", in: []string{"Bearer"}, want: 1},
		{name: "garbage", in: []string{`=,"\`, `"unterminated`}, want: 0},
		{name: "none", in: nil, want: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := ParseChallenges(tc.in)
			require.Len(t, got, tc.want)
			if tc.check != nil {
				tc.check(t, got)
			}
		})
	}
}

func FuzzParseChallenges(f *testing.F) {
	f.Add(`Bearer client_id="00000002-0000-0ff1-ce00-000000000000", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="invalid_token"`)
	f.Add(`Basic realm="x", Bearer error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnt9fQ=="`)
	f.Add(`Negotiate abc==, Bearer`)
	f.Add(`Bearer a="\`)
	f.Fuzz(func(t *testing.T, s string) {
		for _, c := range ParseChallenges([]string{s}) {
			if c.Params == nil {
				t.Fatal("nil Params")
			}
		}
	})
}
