package doctor

import (
	"context"

	"golang.org/x/oauth2"
)

// checkSMTP is replaced when smtpauth lands.
func checkSMTP(ctx context.Context, t Target, src oauth2.TokenSource) Result {
	return fail("SMTP check not available in this build", "", "")
}
