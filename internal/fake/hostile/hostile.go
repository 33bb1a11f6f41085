// Package hostile holds the test doubles of a bad day: loopback servers that
// greet and then send one endless line or endless capability lines, and a
// heap meter that reports how much a call made the process heap grow.
package hostile

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"time"

	"github.com/modernauth/mailauth"
)

// HeapPeak runs f and returns the highest heap size (bytes of live and
// unswept objects) sampled while it ran, and how far that peak rose above
// the heap before f started (0 when it did not). The heap is sampled every
// 200 microseconds and once after f returns.
func HeapPeak(f func()) (peak, growth uint64) {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	base := read()
	stop := make(chan struct{})
	done := make(chan uint64)
	go func() {
		max := base
		t := time.NewTicker(200 * time.Microsecond)
		defer t.Stop()
		for {
			if v := read(); v > max {
				max = v
			}
			select {
			case <-stop:
				done <- max
				return
			case <-t.C:
			}
		}
	}()
	f()
	close(stop)
	peak = <-done
	if peak > base {
		growth = peak - base
	}
	return peak, growth
}

// Server is a loopback TCP server whose every connection gets Greeting and
// then Flood, repeated until the client goes away or the server is closed.
type Server struct {
	// Greeting is written once when a client connects (an IMAP "* OK",
	// an SMTP "220 ...").
	Greeting string
	// Flood is written over and over after the greeting; when empty, the
	// server closes the connection instead.
	Flood string
	// Reply, when set, is called with each line the client sends before the
	// flood starts; its reply is written, and the flood starts after it when
	// flood is true. With Reply nil the flood follows the greeting.
	Reply func(line string) (reply string, flood bool)
	// TLS, when set, makes the server speak TLS from the first byte.
	TLS *tls.Config

	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	conn map[net.Conn]struct{}
	sent int64
}

// Start listens on 127.0.0.1 and serves in the background; Close stops it.
func (s *Server) Start() (addr string, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	if s.TLS != nil {
		ln = tls.NewListener(ln, s.TLS)
	}
	s.ln = ln
	s.conn = map[net.Conn]struct{}{}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conn[c] = struct{}{}
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c)
				s.mu.Lock()
				delete(s.conn, c)
				s.mu.Unlock()
				c.Close()
			}()
		}
	}()
	return ln.Addr().String(), nil
}

// Sent returns how many flood bytes the server has written in all.
func (s *Server) Sent() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent
}

func (s *Server) serve(c net.Conn) {
	if _, err := c.Write([]byte(s.Greeting)); err != nil {
		return
	}
	if s.Reply != nil {
		var line []byte
		buf := make([]byte, 1)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
			if buf[0] != '\n' {
				if len(line) < 1<<16 {
					line = append(line, buf[0])
				}
				continue
			}
			r, flood := s.Reply(string(bytes.TrimRight(line, "\r")))
			line = line[:0]
			if _, err := c.Write([]byte(r)); err != nil {
				return
			}
			if flood {
				break
			}
		}
	}
	if s.Flood == "" {
		return
	}
	chunk := bytes.Repeat([]byte(s.Flood), max(1, 32<<10/max(1, len(s.Flood))))
	for {
		n, err := c.Write(chunk)
		s.mu.Lock()
		s.sent += int64(n)
		s.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// BigToken returns an unsigned JWT of about n bytes for mailbox (a token
// with many group claims), valid for an hour and meant for Exchange Online.
func BigToken(mailbox string, n int) string {
	enc := base64.RawURLEncoding
	var groups []string
	for size := 0; size < n*3/4; size += 39 {
		groups = append(groups, fmt.Sprintf("%08x-0000-4000-8000-%012x", len(groups), len(groups)))
	}
	claims, _ := json.Marshal(map[string]any{
		"aud": "https://outlook.office.com", "upn": mailbox, "exp": time.Now().Add(time.Hour).Unix(),
		"scp": "IMAP.AccessAsUser.All POP.AccessAsUser.All SMTP.Send", "groups": groups,
	})
	return enc.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc.EncodeToString(claims) + ".c2ln"
}

// Close stops the listener, drops every connection and waits for the
// server's goroutines.
func (s *Server) Close() {
	if s.ln == nil {
		return
	}
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conn {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// TB is the part of testing.TB that ExpectLineTooLong uses (the test doubles do not link
// the testing package).
type TB interface {
	Helper()
	Logf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// MaxHeapGrowth is the heap growth a dial against a hostile server may cause.
const MaxHeapGrowth = 8 << 20

// ExpectLineTooLong runs dial with a context that ends after deadline and fails t
// unless dial returns an error that wraps mailauth.ErrLineTooLong and says "line too
// long", before the deadline, with the heap grown by less than MaxHeapGrowth. It
// returns that error.
func ExpectLineTooLong(t TB, deadline time.Duration, dial func(ctx context.Context) error) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	var err error
	_, growth := HeapPeak(func() { err = dial(ctx) })
	elapsed := time.Since(start)
	t.Logf("err = %v; %v; heap growth %.2f MiB", err, elapsed.Round(time.Millisecond), float64(growth)/(1<<20))
	if err == nil || !strings.Contains(err.Error(), "line too long") || !errors.Is(err, mailauth.ErrLineTooLong) {
		t.Fatalf("err = %v, want one wrapping mailauth.ErrLineTooLong (line too long)", err)
	}
	if elapsed >= deadline {
		t.Fatalf("took %v, deadline %v", elapsed, deadline)
	}
	if growth >= MaxHeapGrowth {
		t.Fatalf("heap grew by %d bytes", growth)
	}
	return err
}
