package wbxml_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/modernauth/mailauth/eas/wbxml"
)

// Build a FolderSync request with the tree API and look at its bytes and
// its XML form.
func Example() {
	req := wbxml.Elem("FolderHierarchy", "FolderSync",
		wbxml.Text("FolderHierarchy", "SyncKey", "0"))
	b, err := wbxml.Marshal(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("% X\n", b)
	x, _ := wbxml.ToXML(b)
	fmt.Print(string(x))
	// Output:
	// 03 01 6A 00 00 07 56 52 03 30 00 01 01
	// <?xml version="1.0" encoding="utf-8"?>
	// <FolderSync xmlns="FolderHierarchy">
	//   <SyncKey>0</SyncKey>
	// </FolderSync>
}

// Read a response with Unmarshal and walk it with Child and ChildText.
func ExampleUnmarshal() {
	resp, _ := wbxml.FromXML([]byte(`<FolderSync xmlns="FolderHierarchy">
  <Status>1</Status>
  <SyncKey>1</SyncKey>
  <Changes>
    <Count>1</Count>
    <Add><ServerId>5</ServerId><ParentId>0</ParentId><DisplayName>Inbox</DisplayName><Type>2</Type></Add>
  </Changes>
</FolderSync>`))
	root, err := wbxml.Unmarshal(resp)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("status", root.ChildText("Status"), "key", root.ChildText("SyncKey"))
	for _, add := range root.Child("Changes").All("Add") {
		fmt.Println(add.ChildText("ServerId"), add.ChildText("DisplayName"))
	}
	// Output:
	// status 1 key 1
	// 5 Inbox
}

// Stream a document token by token; Data is only valid until the next call.
func ExampleDecoder() {
	doc, _ := wbxml.Marshal(wbxml.Elem("ComposeMail", "SendMail",
		wbxml.Text("ComposeMail", "ClientId", "42"),
		wbxml.Elem("ComposeMail", "SaveInSentItems"),
		wbxml.Opaque("ComposeMail", "Mime", []byte("Subject: hi\r\n\r\nbody"))))
	d := wbxml.NewDecoder(bytes.NewReader(doc))
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(tok)
	}
	// Output:
	// start ComposeMail:SendMail
	// start ComposeMail:ClientId
	// text (2 bytes)
	// end ComposeMail:ClientId
	// start ComposeMail:SaveInSentItems
	// end ComposeMail:SaveInSentItems
	// start ComposeMail:Mime
	// opaque (19 bytes)
	// end ComposeMail:Mime
	// end ComposeMail:SendMail
}

// Write a document with the token-level Encoder.
func ExampleEncoder() {
	var buf bytes.Buffer
	e := wbxml.NewEncoder(&buf)
	e.Start(wbxml.PingPing)
	e.Start(wbxml.PingHeartbeatInterval)
	e.Text("480")
	e.End()
	e.End()
	if err := e.Close(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("% X\n", buf.Bytes())
	// Output:
	// 03 01 6A 00 00 0D 45 48 03 34 38 30 00 01 01
}

// Errors are typed and carry the byte offset of the offending token.
func ExampleError() {
	_, err := wbxml.Unmarshal([]byte{0x03, 0x01, 0x6A, 0x00, 0x45, 0x7F, 0x01})
	var we *wbxml.Error
	if errors.As(err, &we) {
		fmt.Println(we.Kind, "at offset", we.Offset)
	}
	// Output:
	// unknown tag at offset 5
}

// Map command structures to Go structs with `wbxml` field tags.
func ExampleMarshalStruct() {
	type sendMail struct {
		ClientID        string `wbxml:"ClientId"`
		SaveInSentItems bool   `wbxml:"SaveInSentItems"`
		Mime            []byte `wbxml:"Mime"`
	}
	b, err := wbxml.MarshalStruct("ComposeMail", "SendMail", sendMail{
		ClientID: "1", SaveInSentItems: true, Mime: []byte("Subject: hi\r\n\r\nhello\r\n"),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	x, _ := wbxml.ToXML(b)
	fmt.Print(string(x))

	var back sendMail
	if err := wbxml.UnmarshalStruct(b, &back); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%q\n", back.Mime)
	// Output:
	// <?xml version="1.0" encoding="utf-8"?>
	// <SendMail xmlns="ComposeMail">
	//   <ClientId>1</ClientId>
	//   <SaveInSentItems/>
	//   <Mime>Subject: hi&#xD;
	// &#xD;
	// hello&#xD;
	// </Mime>
	// </SendMail>
	// "Subject: hi\r\n\r\nhello\r\n"
}

// Stream a large Sync response: walk the tokens and decode each Add as a
// small tree.
func ExampleDecoder_DecodeElement() {
	resp, _ := wbxml.Marshal(wbxml.Elem("AirSync", "Sync", wbxml.Elem("AirSync", "Collections",
		wbxml.Elem("AirSync", "Collection",
			wbxml.Text("AirSync", "SyncKey", "2"),
			wbxml.Elem("AirSync", "Commands",
				wbxml.Elem("AirSync", "Add", wbxml.Text("AirSync", "ServerId", "5:1"),
					wbxml.Elem("AirSync", "ApplicationData", wbxml.Text("Email", "Subject", "hello"))),
				wbxml.Elem("AirSync", "Add", wbxml.Text("AirSync", "ServerId", "5:2"),
					wbxml.Elem("AirSync", "ApplicationData", wbxml.Text("Email", "Subject", "again"))))))))
	d := wbxml.NewDecoder(bytes.NewReader(resp))
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		if tok.Kind == wbxml.StartToken && tok.Tag == wbxml.AirSyncAdd {
			add, err := d.DecodeElement(tok)
			if err != nil {
				fmt.Println(err)
				return
			}
			fmt.Println(add.ChildText("ServerId"), add.Child("ApplicationData").ChildText("email:Subject"))
		}
	}
	// Output:
	// 5:1 hello
	// 5:2 again
}
