// Package graphbench compares the graph package with msgraph-sdk-go doing the same work in
// the same run: decoding a page of 100 messages, and one GET of a message through each
// client over the same in-memory transport. It is its own module so that the main
// module's go test ./... never builds msgraph-sdk-go. Run:
//
//	cd bench/graph && go test -run XXX -bench . -benchmem -count 5
package graphbench
