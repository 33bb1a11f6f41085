// Package wbxml encodes and decodes WBXML as Exchange ActiveSync uses it
// ([MS-ASWBXML]): WBXML 1.3, header 03 01 6A 00, code pages 0 to 25, no
// string table, no attributes, content as inline strings (STR_I) or OPAQUE
// data.
//
// Three levels are offered:
//
//   - the token API: a streaming [Decoder] and [Encoder], allocation-free
//     per element, for large Sync responses;
//   - the tree API: [Node], built with [Elem], [Text] and [Opaque], encoded
//     by [Marshal] and decoded by [Unmarshal];
//   - a readable XML form for debugging: [ToXML] and [FromXML].
//
// Decoding is strict: every deviation from what ActiveSync uses is an
// [*Error] carrying the byte offset and an [ErrorKind]. The code page tables
// are generated from MS-ASWBXML's tag list (go generate).
//
// # Struct mapping
//
// [MarshalStruct], [UnmarshalStruct], [NodeFromStruct] and
// [Node.DecodeStruct] map command structures to Go structs. A struct
// stands for an element, its tagged fields for child elements. The field
// tag is
//
//	`wbxml:"[Namespace:]Name[,omitempty]"`
//
// Without a namespace a field's element is on the code page of the element
// that holds it (when encoding) and matches children of any page (when
// decoding). Fields without a wbxml tag are ignored. Field types:
//
//   - string: inline text; integers and unsigned integers: decimal text;
//   - []byte: OPAQUE content (decoding also accepts inline text);
//   - bool: presence of an empty element, as AirSync GetChanges or
//     MoreAvailable; false omits it;
//   - a struct or pointer to struct: a nested element (a nil pointer is
//     omitted);
//   - *Node: the child subtree as is;
//   - a slice of any of these but byte: one element per item (repeated
//     children such as Add or Folder).
//
// With omitempty, zero strings and numbers, empty slices and nil pointers
// are left out when encoding; without it they are written as empty elements
// (strings) or "0" (numbers).
//
// [MS-ASWBXML]: https://learn.microsoft.com/en-us/openspecs/exchange_server_protocols/ms-aswbxml/
package wbxml
