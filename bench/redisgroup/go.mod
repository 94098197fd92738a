// Helper program of bench/redis.sh: a module of its own (go-redis, at the version of Shoal's
// go.mod), out of Shoal's ./... (vet, tests, the architecture check).
module github.com/shoalmq/shoal/bench/redisgroup

go 1.26.8

require github.com/redis/go-redis/v9 v9.23.0

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
)
