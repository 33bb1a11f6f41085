package ews

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// findItemDoc builds a FindItem response of n messages with the summary
// properties the client asks for, shaped like Exchange's (see
// testdata/samples/finditem_response.xml).
func findItemDoc(n int) []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">
  <s:Header>
    <h:ServerVersionInfo MajorVersion="15" MinorVersion="20" MajorBuildNumber="8093" MinorBuildNumber="18" Version="V2018_01_08" xmlns:h="http://schemas.microsoft.com/exchange/services/2006/types" xmlns="http://schemas.microsoft.com/exchange/services/2006/types"/>
  </s:Header>
  <s:Body>
    <m:FindItemResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
      <m:ResponseMessages>
        <m:FindItemResponseMessage ResponseClass="Success">
          <m:ResponseCode>NoError</m:ResponseCode>
`)
	fmt.Fprintf(&b, `          <m:RootFolder IndexedPagingOffset="%d" TotalItemsInView="%d" IncludesLastItemInRange="true">
            <t:Items>
`, n, n)
	for i := range n {
		fmt.Fprintf(&b, `              <t:Message>
                <t:ItemId Id="AAMkADVlZTQ5NWE0LTdjZmYtNDhjYi05ZjBiLTk2ZDc2ZjFlNGQ0NABGAAAAAADg%06dBwBvQsmAAA=" ChangeKey="CQAAABYAAABvQsmAAAAB%06d"/>
                <t:ParentFolderId Id="AAMkADVlZTQ5NWE0LTdjZmYtNDhjYi05ZjBiLTk2ZDc2ZjFlNGQ0NAAuAAAAAADgAQ==" ChangeKey="AQAAAA=="/>
                <t:ItemClass>IPM.Note</t:ItemClass>
                <t:Subject>Quarterly report &amp; figures, part %d</t:Subject>
                <t:DateTimeReceived>2026-11-02T09:%02d:00Z</t:DateTimeReceived>
                <t:Size>%d</t:Size>
                <t:Importance>Normal</t:Importance>
                <t:DateTimeSent>2026-11-02T09:%02d:00Z</t:DateTimeSent>
                <t:HasAttachments>false</t:HasAttachments>
                <t:From>
                  <t:Mailbox>
                    <t:Name>Sender %d</t:Name>
                    <t:EmailAddress>sender%d@fabrikam.com</t:EmailAddress>
                    <t:RoutingType>SMTP</t:RoutingType>
                  </t:Mailbox>
                </t:From>
                <t:InternetMessageId>&lt;BN%06d.namprd06.prod.outlook.com&gt;</t:InternetMessageId>
                <t:IsRead>true</t:IsRead>
              </t:Message>
`, i, i, i, i%60, 10000+i, i%60, i%7, i%7, i)
	}
	b.WriteString(`            </t:Items>
          </m:RootFolder>
        </m:FindItemResponseMessage>
      </m:ResponseMessages>
    </m:FindItemResponse>
  </s:Body>
</s:Envelope>
`)
	return []byte(b.String())
}

// parseFindItemPage is the client's FindItem page parse.
func parseFindItemPage(doc []byte) ([]Item, error) {
	var page []Item
	_, err := parseResponse(bytes.NewReader(doc), "FindItem", func(d *xml.Decoder, se xml.StartElement) error {
		if se.Name.Local != "RootFolder" {
			return skip(d)
		}
		return eachChild(d, func(c xml.StartElement) error {
			if c.Name.Local != "Items" {
				return skip(d)
			}
			return decodeItems(d, false, func(it Item) { page = append(page, it) })
		})
	})
	return page, err
}

func TestFindItemDoc(t *testing.T) {
	page, err := parseFindItemPage(findItemDoc(50))
	if err != nil || len(page) != 50 || page[49].From.Address != "sender0@fabrikam.com" || page[3].Subject != "Quarterly report & figures, part 3" {
		t.Fatalf("parse: %v, %d items", err, len(page))
	}
}

// BenchmarkParseFindItem parses a 1000-item FindItem page (the largest page
// Exchange returns by default) and reports MB/s and allocations per item.
func BenchmarkParseFindItem(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("items=%d", n), func(b *testing.B) {
			doc := findItemDoc(n)
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for b.Loop() {
				page, err := parseFindItemPage(doc)
				if err != nil || len(page) != n {
					b.Fatal(err)
				}
			}
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N*n), "allocs/item")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/item")
		})
	}
}

// BenchmarkParseFindItemUnmarshal is the anchor: the whole document through
// xml.Unmarshal into structs, as most EWS libraries do.
func BenchmarkParseFindItemUnmarshal(b *testing.B) {
	type mbox struct {
		Name, EmailAddress, RoutingType string
	}
	type msg struct {
		ItemID struct {
			ID        string `xml:"Id,attr"`
			ChangeKey string `xml:"ChangeKey,attr"`
		} `xml:"ItemId"`
		ItemClass, Subject, DateTimeReceived, DateTimeSent, Importance, InternetMessageId string
		Size                                                                              int64
		HasAttachments, IsRead                                                            bool
		From                                                                              mbox `xml:"From>Mailbox"`
	}
	type envelope struct {
		Items []msg `xml:"Body>FindItemResponse>ResponseMessages>FindItemResponseMessage>RootFolder>Items>Message"`
	}
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("items=%d", n), func(b *testing.B) {
			doc := findItemDoc(n)
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for b.Loop() {
				var env envelope
				if err := xml.Unmarshal(doc, &env); err != nil || len(env.Items) != n {
					b.Fatal(err, len(env.Items))
				}
			}
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N*n), "allocs/item")
		})
	}
}
