package autodiscover

import "time"

// SetNow replaces the clock of c's cache (tests only).
func SetNow(c *Client, now func() time.Time) { c.now = now }
