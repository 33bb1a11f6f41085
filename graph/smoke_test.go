package graph_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/modernauth/mailauth/graph"
	"github.com/modernauth/mailauth/internal/fake/graphtest"
)

func TestSmoke(t *testing.T) {
	e := newEnv(t, graphtest.Options{})
	c := e.userClient(t, nil)
	f, err := c.Folder(t.Context(), graph.Inbox)
	require.NoError(t, err)
	t.Logf("%+v", f)
	n := 0
	for m, err := range c.Messages(t.Context(), graph.Inbox, &graph.ListOptions{Top: 7}) {
		require.NoError(t, err)
		n++
		if n == 1 {
			t.Logf("%+v", m)
		}
	}
	require.Equal(t, 25, n)
	t.Log(e.statuses())
}
