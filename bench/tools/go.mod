// Helper programs of bench/compare.sh. A module of its own, so that they stay out of Shoal's
// go.mod, its ./... (vet, tests, the architecture check) and its dependency list. Standard
// library only.
module github.com/shoalmq/shoal/bench/tools

go 1.26.8
