package main

import (
	"context"
	"strings"

	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth/internal/core/sasl"
)

func splitScopes(s string) []string { return strings.Fields(strings.ReplaceAll(s, ",", " ")) }

func fetch(ctx context.Context, src oauth2.TokenSource) (*oauth2.Token, error) {
	return sasl.FetchToken(ctx, src)
}
