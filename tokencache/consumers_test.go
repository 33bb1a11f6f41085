package tokencache

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/internal/fake/fakeidp"
)

// TestConsumersTenant: a personal account signs in through the consumers
// tenant and gets tokens for the Outlook.com resource; 1,000 callers make
// one redemption.
func TestConsumersTenant(t *testing.T) {
	idp, cl := newIdP(t, fakeidp.Options{Latency: 20 * 1e6})
	const personal = "bob@outlook.com"
	idp.AddUser(fakeidp.User{TenantID: cloud.ConsumersTenantID, UPN: personal})
	c := newTestCache(idp, nil)
	u, err := c.Delegated(DelegatedConfig{Cloud: cl, TenantID: cloud.ConsumersTenant, ClientID: tPublic, Account: personal})
	require.NoError(t, err)
	err = u.SignInDeviceCode(t.Context(), func(dc DeviceCode) {
		go func() { assert.NoError(t, idp.ApproveDevice(dc.UserCode, personal)) }()
	})
	require.NoError(t, err)
	cons := cl.ForTenant(cloud.ConsumersTenant)
	assert.Equal(t, "https://outlook.office.com/IMAP.AccessAsUser.All", cons.DelegatedScope(cloud.IMAP))
	assert.Equal(t, "smtp-mail.outlook.com:587", cons.SMTPAddr())
	assert.Equal(t, idp.URL(), cons.AuthorityHost)
	idp.ResetCounters()
	src := u.Source(cons.DelegatedScopes(cloud.IMAP)...)
	src.Invalidate(nil)
	_, toks := herd(t, u.Source(cons.DelegatedScopes(cloud.SMTP)...), 1000)
	assert.EqualValues(t, 1, idp.Requests(fakeidp.GrantRefreshToken))
	claims, err := idp.Verify(toks[0])
	require.NoError(t, err)
	assert.Equal(t, "https://outlook.office.com", claims.Audience)
	assert.True(t, claims.HasScope("SMTP.Send"))
	assert.Equal(t, cloud.ConsumersTenantID, claims.TenantID)
	assert.True(t, cloud.IsConsumerDomain(personal))
	assert.True(t, cloud.IsConsumerDomain("hotmail.co.uk"))
	assert.False(t, cloud.IsConsumerDomain("contoso.com"))
	assert.False(t, cloud.IsConsumerDomain("outlook.office365.com"))
}

// TestConsumersRefusesWorkAccount: the consumers authority refuses a work
// account, as Entra does.
func TestConsumersRefusesWorkAccount(t *testing.T) {
	idp, cl := newIdP(t, fakeidp.Options{})
	c := newTestCache(idp, nil)
	u, err := c.Delegated(DelegatedConfig{Cloud: cl, TenantID: cloud.ConsumersTenant, ClientID: tPublic, Account: tUser})
	require.NoError(t, err)
	err = u.ImportRefreshToken(t.Context(), idp.IssueRefreshToken(cloud.ConsumersTenant, tPublic, tUser, cl.DelegatedScopes(cloud.IMAP)))
	var ie *IdPError
	require.ErrorAs(t, err, &ie)
	assert.Equal(t, "AADSTS50020", ie.AADSTS)
}
