package main

import (
	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth/internal/lab"
)

type (
	oauth2TokenSource = oauth2.TokenSource
	tokencacheSource  = oauth2.TokenSource
)

// smtpAddr is the lab's SMTP submission address (STARTTLS).
func smtpAddr(l *lab.Lab) string { return "" }

// labProtocols are the checks run against the lab.
var labProtocols = []string{"imap", "pop", "ews", "eas", "autodiscover"}
