package check

import "testing"

func TestSimCheckGroupRedelivered(t *testing.T) {
	// A clean history: new entries once each, acked, some pending, claimed once.
	c := New(1, nodes, false)
	c.GroupRead(1, 2, 0, "c1", true, []string{"1-0", "2-0"})
	c.GroupAckInvoked(0, []string{"1-0"})
	c.GroupAcked(3, 0, []string{"1-0"})
	c.GroupRead(4, 5, 0, "c2", false, []string{"2-0"}) // claimed: not new, not acked
	c.GroupRead(4, 6, 0, "c2", true, []string{"3-0"})
	c.GroupFinal(7, 0, "3-0", map[string]bool{"2-0": true, "3-0": true}, []string{"1-0", "2-0", "3-0", "4-0"})
	only(t, c, "")
	if c.Counts.GroupDelivered != 4 {
		t.Fatalf("delivered %d, want 4", c.Counts.GroupDelivered)
	}

	// New twice: the group's last-delivered id went back.
	d := New(1, nodes, false)
	d.GroupRead(1, 2, 0, "c1", true, []string{"1-0"})
	d.GroupRead(3, 4, 0, "c2", true, []string{"1-0"})
	only(t, d, GroupRedelivered)

	// Delivered again after its XACK completed.
	e := New(1, nodes, false)
	e.GroupRead(1, 2, 0, "c1", true, []string{"1-0"})
	e.GroupAckInvoked(0, []string{"1-0"})
	e.GroupAcked(3, 0, []string{"1-0"})
	e.GroupRead(4, 5, 0, "c2", false, []string{"1-0"})
	only(t, e, GroupRedelivered)

	// A claim that began before the XACK completed may still return it (the two raced).
	f := New(1, nodes, false)
	f.GroupRead(1, 2, 0, "c1", true, []string{"1-0"})
	f.GroupAckInvoked(0, []string{"1-0"})
	f.GroupRead(3, 5, 0, "c2", false, []string{"1-0"})
	f.GroupAcked(4, 0, []string{"1-0"})
	only(t, f, "")

	// Pending after healing though acked.
	g := New(1, nodes, false)
	g.GroupRead(1, 2, 0, "c1", true, []string{"1-0"})
	g.GroupAckInvoked(0, []string{"1-0"})
	g.GroupAcked(3, 0, []string{"1-0"})
	g.GroupFinal(4, 0, "1-0", map[string]bool{"1-0": true}, []string{"1-0"})
	only(t, g, GroupRedelivered)
}

func TestSimCheckGroupLost(t *testing.T) {
	// The group passed 2-0 without anyone acknowledging it or it being pending.
	c := New(1, nodes, false)
	c.GroupRead(1, 2, 0, "c1", true, []string{"1-0"})
	c.GroupAckInvoked(0, []string{"1-0"})
	c.GroupFinal(3, 0, "2-0", map[string]bool{}, []string{"1-0", "2-0"})
	only(t, c, GroupLost)

	// A delivered entry past the healed group's last-delivered id.
	d := New(1, nodes, false)
	d.GroupRead(1, 2, 0, "c1", true, []string{"1-0", "2-0"})
	d.GroupFinal(3, 0, "1-0", map[string]bool{"1-0": true}, []string{"1-0", "2-0"})
	only(t, d, GroupLost)

	// An unparsable last-delivered id is reported, not skipped.
	e := New(1, nodes, false)
	e.GroupFinal(3, 0, "x", nil, nil)
	only(t, e, GroupLost)
}

func TestSimCheckGroupExcused(t *testing.T) {
	// Under fsync=interval a majority crash of the partition excuses a group that went back.
	c := New(1, nodes, true)
	c.Dropped(0, "n1", 5, 6)
	c.Dropped(0, "n2", 5, 6)
	c.GroupRead(1, 2, 0, "c1", true, []string{"1-0"})
	c.GroupRead(3, 4, 0, "c1", true, []string{"1-0"})
	only(t, c, "")
	if c.Counts.GroupExcused != 1 {
		t.Fatalf("group excused %d, want 1", c.Counts.GroupExcused)
	}
	// One replica's crash excuses nothing.
	d := New(1, nodes, true)
	d.Dropped(0, "n1", 5, 6)
	d.GroupRead(1, 2, 0, "c1", true, []string{"1-0"})
	d.GroupRead(3, 4, 0, "c1", true, []string{"1-0"})
	only(t, d, GroupRedelivered)
}
