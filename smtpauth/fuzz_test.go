package smtpauth

import (
	"errors"
	"testing"

	"github.com/emersion/go-smtp"
	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth/internal/core/sasl"
)

// FuzzClassify maps arbitrary server replies to errors: no panic, and every result keeps
// the *smtp.SMTPError reachable.
func FuzzClassify(f *testing.F) {
	f.Add(535, 5, 7, 139, "Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.")
	f.Add(535, 5, 7, 3, "Authentication unsuccessful [X]")
	f.Add(501, 5, 5, 127, "Invalid XOAUTH2 auth data - Token will expire soon")
	f.Add(430, 4, 2, 0, "STOREDRV; mailbox logon failure")
	f.Add(554, 5, 2, 0, "STOREDRV.Submission.Exception:SendAsDeniedException")
	f.Add(-1, -1, -1, -1, "")
	f.Fuzz(func(t *testing.T, code, a, b, c int, text string) {
		se := &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{a, b, c}, Message: text}
		_, _ = classify(se)
		err := (&Client{mailbox: "u"}).sendError("DATA", se)
		var got *smtp.SMTPError
		if !errors.As(err, &got) || got != se {
			t.Fatal("SMTPError not reachable from the send error")
		}
		_ = err.Error()
		sc := sasl.NewClient(sasl.ClientOptions{Mailbox: "u", Token: &oauth2.Token{AccessToken: "t"}})
		aerr := authError(se, sc, "XOAUTH2", "u", false)
		if !errors.As(aerr, &got) || got != se {
			t.Fatal("SMTPError not reachable from the auth error")
		}
		_ = aerr.Error()
	})
}
