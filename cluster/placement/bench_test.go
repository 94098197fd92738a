package placement

// Method: benchmarks only (never part of make test), run with
//
//	go test -run '^$' -bench . -benchmem ./cluster/placement
//
// Desired builds a ring per call (what a caller with a bare member list pays); DesiredOn reuses
// one; Assign computes a whole cluster of 1,000 partitions at RF 3.

import (
	"fmt"
	"testing"

	"github.com/shoalmq/shoal/cluster/ring"
)

func BenchmarkDesired(b *testing.B) {
	for _, n := range []int{3, 10, 30} {
		members := nodes(n)
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			p := 0
			for b.Loop() {
				Desired(members, "orders", p%1000, 3)
				p++
			}
		})
	}
}

func BenchmarkDesiredOn(b *testing.B) {
	for _, n := range []int{3, 10, 30} {
		r := ring.New(nodes(n))
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			p := 0
			for b.Loop() {
				DesiredOn(r, "orders", p%1000, 3)
				p++
			}
		})
	}
}

func BenchmarkAssign(b *testing.B) {
	for _, n := range []int{3, 10, 30} {
		r := ring.New(nodes(n))
		for _, w := range workloads[:2] {
			b.Run(fmt.Sprintf("nodes=%d/%s", n, w.name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					Assign(r, w.topics(3))
				}
			})
		}
	}
}
