package doctor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/graph"
)

// Graph is the name of the Microsoft Graph check.
const Graph = "graph"

// graphReadPermissions are the Graph permissions that let a token read a mailbox.
var graphReadPermissions = []string{"Mail.Read", "Mail.ReadWrite", "Mail.ReadBasic", "Mail.Read.Shared", "Mail.ReadWrite.Shared"}

// CheckGraphClaims looks at the claims of tok (without verifying it) for what Graph mail
// access needs: a Graph audience and a Mail.* permission.
func CheckGraphClaims(tok string, t Target) []Finding {
	c := mailauth.ParseIdentity(tok)
	if c.IsZero() {
		return nil
	}
	var out []Finding
	if !c.ExpiresAt.IsZero() && time.Now().After(c.ExpiresAt) {
		out = append(out, Finding{Cause: fmt.Sprintf("the access token expired at %s", c.ExpiresAt.UTC().Format(time.RFC3339)),
			Fix: "get a fresh token (a tokencache source refreshes by itself; a token from -access-token-file must be renewed)"})
	}
	graphAud := false
	for _, a := range c.Audience {
		if cloud.IsGraphAudience(a) || strings.EqualFold(strings.TrimRight(a, "/"), strings.TrimRight(t.Cloud.GraphURL, "/")) {
			graphAud = true
		}
	}
	if !graphAud {
		out = append(out, Finding{
			Cause: fmt.Sprintf("the token's audience is %s, not Microsoft Graph (%s): Exchange tokens do not work for Graph", strings.Join(c.Audience, ","), t.Cloud.GraphURL),
			Fix:   fmt.Sprintf("request a Graph token: scope %s (app-only) or %s (delegated)", t.Cloud.GraphAppOnlyScope(), strings.Join(t.Cloud.GraphDelegatedScopes(), " ")),
		})
	}
	perms, kind := c.Scopes, "delegated permission"
	if c.AppOnly() {
		perms, kind = c.Roles, "application permission"
	}
	if !slices.ContainsFunc(perms, func(p string) bool { return slices.Contains(graphReadPermissions, p) }) {
		out = append(out, Finding{
			Cause: fmt.Sprintf("the token's permissions (%s) hold no Microsoft Graph mail permission", strings.Join(perms, " ")),
			Fix:   fmt.Sprintf("add the Microsoft Graph %s Mail.ReadWrite (or Mail.Read) to the app registration and grant consent", kind),
		})
	}
	return out
}

func checkGraph(ctx context.Context, t Target, src oauth2.TokenSource) Result {
	c, err := graph.New(&graph.Options{URL: t.GraphURL, Cloud: t.Cloud, Token: src, Mailbox: t.Mailbox, Transport: t.HTTP, Logger: t.Logger})
	if err != nil {
		return fail("bad Graph settings", "check -graph-url and -mailbox", err)
	}
	f, err := c.Folder(ctx, graph.Inbox)
	if err != nil {
		var ge *graph.Error
		switch {
		case errors.Is(err, graph.ErrWrongAudience):
			return fail("the token is not for Microsoft Graph", fmt.Sprintf("request a Graph token: scope %s (app-only) or %s (delegated)",
				t.Cloud.GraphAppOnlyScope(), strings.Join(t.Cloud.GraphDelegatedScopes(), " ")), err)
		case errors.As(err, &ge):
			cause := fmt.Sprintf("Graph answered %d %s: %s", ge.StatusCode, ge.Code, ge.Message)
			fix := ge.Hint()
			if fix == "" {
				fix = "see the detail; quote its request-id to Microsoft support"
			}
			return fail(cause, fix, err)
		}
		return explainOther(t, Graph, err)
	}
	return Result{OK: true, Detail: fmt.Sprintf("%s GET mailFolders/inbox of %s: %d items, %d unread", c.URL(), mailboxOrMe(t.Mailbox), f.TotalItemCount, f.UnreadItemCount)}
}

func mailboxOrMe(m string) string {
	if m == "" {
		return "/me"
	}
	return m
}

// ewsDisabled explains an EWS 403 that the token's claims do not: Exchange Online answers
// 403 Forbidden when EWS is switched off for the organisation or the mailbox (EWSEnabled),
// when the app is not on the EWS allow list, and during Microsoft's EWS "scream tests".
func ewsDisabled(t Target, err error) Result {
	return fail("EWS refused the request with HTTP 403 Forbidden: EWS is switched off for the tenant or for "+t.Mailbox+
		" (Exchange Online blocks EWS unless EWSEnabled is True for both the organisation and the mailbox and, from October 2026, the app is on the tenant's EWS app allow list; EWS ends in April 2027)",
		"move to Microsoft Graph, which this token setup can reach: run mailcheck -protocols graph and use the graph package (examples/graph-inbox, examples/graph-send); "+
			"stopgap until April 2027: an admin runs Set-OrganizationConfig -EWSEnabled $true (and adds the app id to the EWS allow list) and Set-CASMailbox -Identity "+t.Mailbox+" -EwsEnabled $true", err)
}
