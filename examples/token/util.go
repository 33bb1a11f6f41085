package main

import (
	"context"
	"strings"

	"golang.org/x/oauth2"
)

func splitScopes(s string) []string { return strings.Fields(strings.ReplaceAll(s, ",", " ")) }

func fetch(ctx context.Context, src oauth2.TokenSource) (*oauth2.Token, error) {
	if tc, ok := src.(interface {
		TokenContext(context.Context) (*oauth2.Token, error)
	}); ok {
		return tc.TokenContext(ctx)
	}
	return src.Token()
}
