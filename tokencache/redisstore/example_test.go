package redisstore_test

import (
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/modernauth/mailauth/tokencache"
	"github.com/modernauth/mailauth/tokencache/redisstore"
)

// Example shares one token cache between the replicas of a service: each
// replica builds the same store over its own Redis client. The AES-GCM
// wrapper keeps refresh and access tokens unreadable in Redis; every
// replica needs the same 32-byte key (from a secret manager, not from
// source code). No connection is made until the cache needs a token.
func Example() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()

	store := redisstore.New(rdb, &redisstore.Options{Prefix: "mailsync:tokens:"})
	key := make([]byte, 32) // load the real key from your secret store
	enc, err := tokencache.NewEncryptedStore(store, key)
	if err != nil {
		fmt.Println(err)
		return
	}
	cache := tokencache.New(&tokencache.Options{Store: enc})
	_ = cache // cache.AppOnly(...) / cache.Delegated(...) as usual

	fmt.Println(store)
	// Output: redisstore.Store(prefix "mailsync:tokens:")
}
