package group

import (
	"slices"

	"github.com/shoalmq/shoal/protocol/batch"
)

// pendingEntry is one entry of a pending entries list (Redis's streamNACK). The group's list and
// its owner's list share the pointer.
type pendingEntry struct {
	// Invariant: owner.pending holds this entry under the same id, and no other consumer does.
	owner         *consumer
	deliveryMs    int64 // when it was last delivered (leader's clock, ms)
	deliveryCount int64 // Invariant: >= 0
}

// pendingList maps ids to pending entries and keeps them in id order. Removal is lazy: a removed
// id stays in order until more than half of order is dead, so acknowledging from the front of a
// long list costs amortised O(1) instead of a memmove per XACK; new deliveries have ids above
// every pending one, so they append.
type pendingList struct {
	byID map[batch.ID]*pendingEntry
	// Invariant: strictly ascending; holds every key of byID, and possibly removed ids.
	order []batch.ID
}

func (p *pendingList) len() int { return len(p.byID) }

func (p *pendingList) get(id batch.ID) *pendingEntry { return p.byID[id] }

// put adds or replaces the entry of id.
func (p *pendingList) put(id batch.ID, e *pendingEntry) {
	if p.byID == nil {
		p.byID = make(map[batch.ID]*pendingEntry)
	}
	if _, ok := p.byID[id]; !ok {
		n := len(p.order)
		if n == 0 || p.order[n-1].Less(id) {
			p.order = append(p.order, id)
		} else if i, found := p.search(id); !found {
			p.order = slices.Insert(p.order, i, id)
		}
	}
	p.byID[id] = e
}

// remove drops id; absent ids are ignored.
func (p *pendingList) remove(id batch.ID) {
	if _, ok := p.byID[id]; !ok {
		return
	}
	delete(p.byID, id)
	if len(p.order) > 2*len(p.byID)+32 {
		p.order = slices.DeleteFunc(p.order, func(id batch.ID) bool { return p.byID[id] == nil })
	}
}

func (p *pendingList) search(id batch.ID) (int, bool) {
	return slices.BinarySearchFunc(p.order, id, batch.ID.Compare)
}

// ascend calls fn for every entry with id >= from in id order until fn returns false. fn must
// not change the list.
func (p *pendingList) ascend(from batch.ID, fn func(batch.ID, *pendingEntry) bool) {
	i, _ := p.search(from)
	for _, id := range p.order[i:] {
		if e := p.byID[id]; e != nil && !fn(id, e) {
			return
		}
	}
}

// bounds returns the smallest and largest pending ids; ok is false when the list is empty.
func (p *pendingList) bounds() (first, last batch.ID, ok bool) {
	if len(p.byID) == 0 {
		return batch.ID{}, batch.ID{}, false
	}
	for _, id := range p.order {
		if p.byID[id] != nil {
			first = id
			break
		}
	}
	for i := len(p.order) - 1; i >= 0; i-- {
		if p.byID[p.order[i]] != nil {
			last = p.order[i]
			break
		}
	}
	return first, last, true
}
