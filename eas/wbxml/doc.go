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
// [MS-ASWBXML]: https://learn.microsoft.com/en-us/openspecs/exchange_server_protocols/ms-aswbxml/
package wbxml
