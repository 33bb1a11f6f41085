package imapauth_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/modernauth/mailauth/imapauth"
	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/internal/fake/imaptest"
)

func TestNoTokenInFormattedValues(t *testing.T) {
	e := newEnv(t, fakeidp.Options{})
	srv := e.server(imaptest.Options{})
	src := e.appSource(0)
	opts := &imapauth.Options{Token: src, Mailbox: shared, TLSConfig: e.tlsConfig()}
	c, err := imapauth.DialTLS(ctxT(t), srv.Addr(), opts)
	require.NoError(t, err)
	defer c.Close()
	tok, _ := src.Token()
	sig := tok.AccessToken[strings.LastIndex(tok.AccessToken, ".")+1:]
	for _, s := range []string{fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprintf("%q", c),
		fmt.Sprintf("%v", *opts), fmt.Sprintf("%+v", opts), fmt.Sprint(c.Identity())} {
		require.NotContains(t, s, sig)
	}
}
