package budget

import (
	"errors"
	"io"
	"net"
	"testing"

	"github.com/modernauth/mailauth"
)

func TestBudget(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() {
		buf := make([]byte, 100)
		for {
			if _, err := b.Write(buf); err != nil {
				return
			}
		}
	}()
	c := New(a, 250)
	n, err := io.Copy(io.Discard, c)
	if n != 250 || !errors.Is(err, mailauth.ErrLineTooLong) || !c.Exceeded() {
		t.Fatalf("read %d, err %v", n, err)
	}
	if got := c.Check("x", errors.New("eof")); !errors.Is(got, mailauth.ErrLineTooLong) {
		t.Fatalf("Check = %v", got)
	}
	c.Disarm()
	buf := make([]byte, 1000)
	if n, err := io.ReadFull(c, buf); n != 1000 || err != nil {
		t.Fatalf("after Disarm: %d, %v", n, err)
	}
}
