// Command wbxml converts ActiveSync WBXML to its readable XML form and back.
//
//	wbxml decode < body.wbxml > body.xml
//	wbxml encode < body.xml > body.wbxml
//
// decode accepts -legacy to read the tags of protocol versions 2.5 to 12.x.
// encode knows from the code page tables which elements are binary (OPAQUE).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/modernauth/mailauth/eas/wbxml"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "wbxml:", err)
		os.Exit(1)
	}
}

const maxInput = 64 << 20

func run(args []string, in io.Reader, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: wbxml decode|encode [-legacy] < input > output")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	legacy := fs.Bool("legacy", false, "decode: accept tags of protocol versions 2.5 to 12.x")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	b, err := io.ReadAll(io.LimitReader(in, maxInput+1))
	if err != nil {
		return err
	}
	if len(b) > maxInput {
		return fmt.Errorf("input larger than %d bytes", maxInput)
	}
	var res []byte
	switch args[0] {
	case "decode":
		if *legacy {
			res, err = wbxml.LegacyToXML(b)
		} else {
			res, err = wbxml.ToXML(b)
		}
	case "encode":
		res, err = wbxml.FromXML(b)
	default:
		return fmt.Errorf("unknown command %q: want decode or encode", args[0])
	}
	if err != nil {
		return err
	}
	_, err = out.Write(res)
	return err
}
