package tokencache

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"strings"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"
)

// msalHook is the cache.ExportReplace of one partition's MSAL client. MSAL
// calls Replace before every operation and Export after every write; the
// partition's lock is held around every MSAL call, so the fields need no
// lock of their own.
//
// For app-only clients in is always empty: MSAL's own cache never answers,
// so every call the cache makes (only on a miss) reaches the identity
// provider. For delegated clients in is the account's stored MSAL cache
// without access tokens, so MSAL redeems the refresh token.
type msalHook struct {
	in  []byte
	out []byte
}

var emptyMSALCache = []byte("{}")

// Replace implements cache.ExportReplace.
func (h *msalHook) Replace(_ context.Context, u cache.Unmarshaler, _ cache.ReplaceHints) error {
	if h.in == nil {
		return u.Unmarshal(emptyMSALCache)
	}
	return u.Unmarshal(h.in)
}

// Export implements cache.ExportReplace.
func (h *msalHook) Export(_ context.Context, m cache.Marshaler, _ cache.ExportHints) error {
	b, err := m.Marshal()
	if err != nil {
		return err
	}
	h.out = b
	return nil
}

// withoutAccessTokens returns blob with MSAL's "AccessToken" section removed.
func withoutAccessTokens(blob []byte) []byte {
	if len(blob) == 0 {
		return nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(blob, &m) != nil {
		return nil
	}
	delete(m, "AccessToken")
	b, err := json.Marshal(m)
	if err != nil {
		return nil
	}
	return b
}

// classifyMSAL turns an error from MSAL into a typed error. MSAL's CallErr
// holds the HTTP request, whose form body carries the client secret or
// refresh token, so it is never kept.
func classifyMSAL(err error) error {
	if err == nil {
		return nil
	}
	var ce msalerrors.CallErr
	if errors.As(err, &ce) {
		status := 0
		var body []byte
		if ce.Resp != nil {
			status = ce.Resp.StatusCode
			if ce.Resp.Body != nil {
				body, _ = io.ReadAll(io.LimitReader(ce.Resp.Body, 64<<10))
			}
			if len(body) == 0 && ce.Err != nil {
				// The managed identity client reads the body itself and
				// quotes it after the first line of its error.
				if _, b, ok := strings.Cut(ce.Err.Error(), ":\n{"); ok {
					body = []byte("{" + b)
				}
			}
			return idpError(status, ce.Resp.Header, body, nil)
		}
		return idpError(0, nil, nil, errors.New("no reply"))
	}
	var ie *IdPError
	if errors.As(err, &ie) || errors.Is(err, ErrNotSignedIn) {
		return err
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	var ue *url.Error
	if isTimeoutLike(err) || errors.As(err, &ue) {
		return transportError(err)
	}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	msg := err.Error()
	if errors.As(err, &se) || errors.As(err, &te) || strings.Contains(msg, "json") || strings.Contains(msg, "JSON") ||
		strings.Contains(msg, "unexpected end of") {
		return &IdPError{StatusCode: 200, Code: "invalid_response", Description: "the identity provider's reply could not be read", Transient: true,
			Hint: hintFor(&IdPError{Transient: true})}
	}
	if strings.Contains(msg, "no token found") {
		return ErrNotSignedIn
	}
	return &IdPError{Code: "client_error", Description: shorten(msg)}
}
