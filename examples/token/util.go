package main

import (
	"context"
	"strings"

	"github.com/modernauth/mailauth"
	"golang.org/x/oauth2"
)

func splitScopes(s string) []string { return strings.Fields(strings.ReplaceAll(s, ",", " ")) }

func fetch(ctx context.Context, src oauth2.TokenSource) (*oauth2.Token, error) {
	return mailauth.TokenContext(ctx, src)
}
