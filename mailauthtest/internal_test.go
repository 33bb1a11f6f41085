package mailauthtest

import (
	"testing"

	"github.com/modernauth/mailauth/internal/fake/lab"
)

// The public names spell out the values of the lab they wrap.
func TestConstantsMatchLab(t *testing.T) {
	for _, c := range [][2]string{{Tenant, lab.Tenant}, {ClientID, lab.AppClientID}, {PublicClientID, lab.PublicClientID},
		{User, lab.User}, {OtherUser, lab.Other}, {SharedMailbox, lab.Shared}} {
		if c[0] != c[1] {
			t.Errorf("%q != lab's %q", c[0], c[1])
		}
	}
}
