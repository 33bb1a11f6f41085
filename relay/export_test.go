package relay

import "time"

// SetSMTPCapsTimes sets how long after a failed read, and after a good one, a session
// start reads the SMTP upstream's EHLO list again. Call it before Serve.
func (r *Relay) SetSMTPCapsTimes(retry, refresh time.Duration) {
	r.smtpCaps.mu.Lock()
	r.smtpCaps.retry, r.smtpCaps.refresh = retry, refresh
	r.smtpCaps.mu.Unlock()
}
