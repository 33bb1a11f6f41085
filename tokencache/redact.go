package tokencache

import (
	"fmt"
	"log/slog"
)

// String summarizes the cache without any token.
func (c *Cache) String() string {
	st := c.Stats()
	return fmt.Sprintf("tokencache.Cache{keys: %d, hits: %d, misses: %d, flights: %d, failures: %d}",
		c.Len(), st.Hits, st.Misses, st.Flights, st.Failures)
}

// GoString is like String.
func (c *Cache) GoString() string { return c.String() }

// Format prints the String form for every verb.
func (c *Cache) Format(f fmt.State, _ rune) { fmt.Fprint(f, c.String()) }

// LogValue implements [slog.LogValuer].
func (c *Cache) LogValue() slog.Value { return slog.StringValue(c.String()) }

// LogValue implements [slog.LogValuer] with the redacted form.
func (r Record) LogValue() slog.Value { return slog.StringValue(r.String()) }

// String describes the store without its records.
func (m *MemoryStore) String() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return fmt.Sprintf("tokencache.MemoryStore{%d records}", len(m.records))
}

// GoString is like String.
func (m *MemoryStore) GoString() string { return m.String() }

// Format prints the String form for every verb.
func (m *MemoryStore) Format(f fmt.State, _ rune) { fmt.Fprint(f, m.String()) }

// LogValue implements [slog.LogValuer].
func (m *MemoryStore) LogValue() slog.Value { return slog.StringValue(m.String()) }

// Format prints the String form for every verb.
func (s *EncryptedStore) Format(f fmt.State, _ rune) { fmt.Fprint(f, s.String()) }

// LogValue implements [slog.LogValuer].
func (s *EncryptedStore) LogValue() slog.Value { return slog.StringValue(s.String()) }

// GoString is like String.
func (s *FileStore) GoString() string { return s.String() }

// LogValue implements [slog.LogValuer].
func (s *FileStore) LogValue() slog.Value { return slog.StringValue(s.String()) }

// LogValue implements [slog.LogValuer] with the error text, which holds no
// secret.
func (e *IdPError) LogValue() slog.Value { return slog.StringValue(e.Error()) }

// LogValue implements [slog.LogValuer] with the error text.
func (e *InteractionRequiredError) LogValue() slog.Value { return slog.StringValue(e.Error()) }

// Format prints Error's text for every verb.
func (e *IdPError) Format(f fmt.State, _ rune) { fmt.Fprint(f, e.Error()) }

// Format prints Error's text for every verb.
func (e *InteractionRequiredError) Format(f fmt.State, _ rune) { fmt.Fprint(f, e.Error()) }
