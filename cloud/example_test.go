package cloud_test

import (
	"fmt"

	"github.com/modernauth/mailauth/cloud"
)

func Example() {
	c := cloud.Global
	fmt.Println(c.IMAPAddr())
	fmt.Println(c.DelegatedScopes(cloud.IMAP))
	fmt.Println(c.AppOnlyScope())
	// Output:
	// outlook.office365.com:993
	// [https://outlook.office365.com/IMAP.AccessAsUser.All offline_access]
	// https://outlook.office365.com/.default
}

func ExampleByName() {
	c, err := cloud.ByName("usgov")
	if err != nil {
		panic(err)
	}
	c.AuthorityHost = "https://login.example.test" // every field can be overridden
	fmt.Println(c.Authority("contoso.onmicrosoft.us"))
	// Output: https://login.example.test/contoso.onmicrosoft.us
}
