package tokencache

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// signInFailure is the plain-words cause and fix of one AADSTS code.
type signInFailure struct{ cause, fix string }

// signInFailures are the Entra ID failures that end a sign-in or block a
// token request, from Microsoft's AADSTS error code reference.
var signInFailures = map[string]signInFailure{
	"AADSTS700082": {"the refresh token expired because it was not used for 90 days",
		"sign in again, and use the account at least once a month so it does not expire"},
	"AADSTS70043": {"the sign-in is older than the tenant's sign-in frequency policy allows (Conditional Access)",
		"sign in again; ask the administrator about the sign-in frequency if this happens too often"},
	"AADSTS70044": {"the session ended at the tenant's sign-in frequency limit (Conditional Access)",
		"sign in again; ask the administrator about the sign-in frequency if this happens too often"},
	"AADSTS50173": {"the refresh token was revoked, usually because the password changed or an administrator revoked the sessions",
		"sign in again with the current password"},
	"AADSTS50133": {"the session is invalid because the password changed or expired",
		"sign in again with the current password"},
	"AADSTS50076": {"the tenant requires multi-factor authentication for this access",
		"sign in interactively (device code or browser) and complete the second factor"},
	"AADSTS50079": {"the account must register for multi-factor authentication",
		"sign in interactively (device code or browser) and register a second factor"},
	"AADSTS53003": {"a Conditional Access policy blocked the sign-in (location, device or app not allowed)",
		"ask the administrator which policy applies, quoting the correlation id; sign-in logs name it"},
	"AADSTS65001": {"nobody consented to the permissions this application asks for",
		"an administrator must grant consent for the app (Enterprise applications > Permissions > Grant admin consent)"},
	"AADSTS7000215": {"the client secret is wrong (perhaps the secret's id was used instead of its value)",
		"copy the secret's value from the app registration, or create a new secret"},
	"AADSTS7000222": {"the client secret has expired",
		"create a new client secret in the app registration (Certificates & secrets) and configure it"},
	"AADSTS700016": {"no application with this client id exists in the tenant",
		"check the client id and tenant; a multi-tenant app must first be consented to in the tenant"},
	"AADSTS500011": {"the resource (Exchange Online) was not found in the tenant: it has no Exchange Online licence, or the scope names the wrong host",
		"check that the tenant has Exchange Online and that the scope's host is right for the cloud"},
	"AADSTS50057": {"the user account is disabled",
		"an administrator must enable the account (Entra ID > Users > Account enabled)"},
}

// Explain returns the plain-words cause of an Entra ID failure code
// ("AADSTS700082", or the bare number "700082") and what to do about it.
// ok is false for a code it does not know.
func Explain(aadsts string) (cause, fix string, ok bool) {
	if aadsts == "" {
		return "", "", false
	}
	if !strings.HasPrefix(aadsts, "AADSTS") {
		aadsts = "AADSTS" + aadsts
	}
	f, ok := signInFailures[aadsts]
	return f.cause, f.fix, ok
}

// IdleWarning is how long a refresh token may go unused before the cache
// warns: Entra ends it at [RefreshTokenInactivityLimit].
const IdleWarning = 80 * 24 * time.Hour

// RefreshTokenInactivityLimit is how long Entra ID keeps a refresh token
// that is not used.
const RefreshTokenInactivityLimit = 90 * 24 * time.Hour

// SignInHealth describes how long a delegated sign-in has lived and what
// will end it. Get one with [User.Health].
type SignInHealth struct {
	// Account is the user principal name.
	Account string
	// SignedIn reports whether the store holds a refresh token.
	SignedIn bool
	// SignedInAt is when the account last signed in; LastRedeemed when
	// its refresh token was last used. Both are zero for a record
	// written by an older version.
	SignedInAt, LastRedeemed time.Time
	// Age is how long ago the sign-in happened, Idle how long the
	// refresh token has gone unused.
	Age, Idle time.Duration
	// EndsAt is when the refresh token dies if it stays unused (last
	// use plus 90 days). Policies (sign-in frequency), a password change
	// or a revocation can end it earlier.
	EndsAt time.Time
	// Warning is set when the refresh token has gone unused for 80 days
	// or more.
	Warning string
}

// String describes the sign-in in one line, without any token.
func (h SignInHealth) String() string {
	if !h.SignedIn {
		return h.Account + ": not signed in"
	}
	if h.LastRedeemed.IsZero() {
		return h.Account + ": signed in (age unknown: the record predates sign-in tracking)"
	}
	s := fmt.Sprintf("%s: signed in %s ago, refresh token last used %s ago; it ends if unused until %s (90-day inactivity limit), or earlier at a sign-in frequency policy, a password change or a revocation",
		h.Account, roundAge(h.Age), roundAge(h.Idle), h.EndsAt.UTC().Format(time.RFC3339))
	if h.Warning != "" {
		s += "; WARNING: " + h.Warning
	}
	return s
}

func roundAge(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days", int(d/(24*time.Hour)))
	case d >= 2*time.Hour:
		return fmt.Sprintf("%d hours", int(d/time.Hour))
	case d >= time.Minute:
		return fmt.Sprintf("%d minutes", int(d/time.Minute))
	}
	return "less than a minute"
}

func (u *User) health(d partitionData) SignInHealth {
	h := SignInHealth{Account: u.account, SignedIn: d.MSAL != nil && d.Home != ""}
	if !h.SignedIn || d.Redeemed.IsZero() {
		return h
	}
	now := u.c.now()
	h.SignedInAt, h.LastRedeemed = d.SignedIn, d.Redeemed
	if !d.SignedIn.IsZero() {
		h.Age = now.Sub(d.SignedIn)
	}
	h.Idle = now.Sub(d.Redeemed)
	h.EndsAt = d.Redeemed.Add(RefreshTokenInactivityLimit)
	if h.Idle >= IdleWarning {
		h.Warning = fmt.Sprintf("the refresh token has not been used for %d days; Entra ID ends it at 90 days: use the account (request a token) or sign in again before %s",
			int(h.Idle/(24*time.Hour)), h.EndsAt.UTC().Format(time.RFC3339))
	}
	return h
}

// Health reads the account's record from the store and reports its
// sign-in age and what will end it. A refresh token unused for 80 days or
// more is counted in [Stats.IdleSignIns] and logged as a warning.
func (u *User) Health(ctx context.Context) (SignInHealth, error) {
	unlock, err := u.p.lockLocal(ctx)
	if err != nil {
		return SignInHealth{}, err
	}
	defer unlock()
	u.p.load(ctx)
	return u.checkIdle(ctx, u.p.data), nil
}

// checkIdle computes the health of d and warns when it is idle too long.
func (u *User) checkIdle(ctx context.Context, d partitionData) SignInHealth {
	h := u.health(d)
	if h.Warning != "" {
		u.c.stats.idle.Add(1)
		if u.c.log != nil {
			u.c.log.LogAttrs(ctx, slog.LevelWarn, "tokencache: refresh token close to its inactivity limit",
				slog.String("account", u.account), slog.Int("idle_days", int(h.Idle/(24*time.Hour))),
				slog.Time("ends_at", h.EndsAt))
		}
	}
	return h
}
