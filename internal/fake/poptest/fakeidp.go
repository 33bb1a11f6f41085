package poptest

import (
	"errors"
	"fmt"
	"strings"

	"github.com/modernauth/mailauth/internal/fake/fakeidp"
)

// Exchange's audience and the POP permissions it checks.
const (
	ExchangeAudience = "https://outlook.office365.com"
	ScopePOP         = "POP.AccessAsUser.All" // delegated
	RolePOP          = "POP.AccessAsApp"      // app-only
)

// FakeIdPAuthorizer returns an [Options.Authorize] function that accepts
// tokens the way Exchange Online does, using idp to check the signature and
// expiry: the audience must be Exchange's; a delegated token needs the
// POP.AccessAsUser.All scope and may open only its own user's mailbox (upn,
// compared case-insensitively) or one listed in delegates[upn]; an app-only
// token needs the POP.AccessAsApp role and may open any mailbox.
func FakeIdPAuthorizer(idp *fakeidp.IdP, delegates map[string][]string) func(user, token string) error {
	return func(user, token string) error {
		c, err := idp.Verify(token)
		if err != nil {
			return err
		}
		if strings.TrimSuffix(c.Audience, "/") != ExchangeAudience {
			return fmt.Errorf("audience %q is not Exchange Online", c.Audience)
		}
		if len(c.Roles) > 0 && len(c.Scp) == 0 {
			if !c.HasRole(RolePOP) {
				return errors.New("app-only token without the POP.AccessAsApp role")
			}
			return nil
		}
		if !c.HasScope(ScopePOP) {
			return errors.New("delegated token without the POP.AccessAsUser.All scope")
		}
		upn := c.UPN
		if upn == "" {
			upn = c.PreferredUsername
		}
		if strings.EqualFold(upn, user) {
			return nil
		}
		for _, m := range delegates[strings.ToLower(upn)] {
			if strings.EqualFold(m, user) {
				return nil
			}
		}
		return fmt.Errorf("%s may not open %s", upn, user)
	}
}
