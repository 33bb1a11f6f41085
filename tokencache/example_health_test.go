package tokencache_test

import (
	"fmt"

	"github.com/modernauth/mailauth/tokencache"
)

// Explain turns an Entra ID failure code into its cause and what to do.
func ExampleExplain() {
	cause, fix, ok := tokencache.Explain("AADSTS700082")
	fmt.Println(ok)
	fmt.Println(cause)
	fmt.Println(fix)
	// Output:
	// true
	// the refresh token expired because it was not used for 90 days
	// sign in again, and use the account at least once a month so it does not expire
}

// ParseManagedIdentity reads the value of a -managed-identity flag.
func ExampleParseManagedIdentity() {
	sys := tokencache.ParseManagedIdentity("system")
	fmt.Println("system-assigned:", sys.ClientID == "" && sys.ResourceID == "" && sys.ObjectID == "")
	fmt.Printf("%+v\n", tokencache.ParseManagedIdentity("object:6f1c0e8a-0000-4000-8000-000000000001").ObjectID)
	// Output:
	// system-assigned: true
	// 6f1c0e8a-0000-4000-8000-000000000001
}
