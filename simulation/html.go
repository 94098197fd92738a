package simulation

import (
	"cmp"
	"fmt"
	"html"
	"io"
	"slices"
	"strings"

	"github.com/shoalmq/shoal/actors/replication"
	"github.com/shoalmq/shoal/simulation/check"
)

// WriteHTML writes a self-contained page with the timeline of one run (run with
// Config.Timeline or ClusterConfig.Timeline): per partition, one row per node with its
// leaderships (coloured by epoch), its down and paused times; a row of link faults; a row of
// acknowledged records (lost ones in red); then the run's notes (cluster tier) and the list of
// events. It needs no script and no network.
func WriteHTML(w io.Writer, r Result) error {
	var b strings.Builder
	end := int64(r.Ticks) + 1
	fmt.Fprintf(&b, `<!doctype html><html><head><meta charset="utf-8"><title>shoal sim seed %d</title><style>
body{font:13px system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:18px} h2{font-size:15px;margin-top:1.6em}
.fail{color:#b00;font-weight:bold} .ok{color:#070;font-weight:bold}
table{border-collapse:collapse} td,th{padding:1px 8px;text-align:left;vertical-align:top}
tr:nth-child(even){background:#f4f4f4} .mono{font-family:ui-monospace,monospace}
svg text{font:11px system-ui,sans-serif} .legend span{display:inline-block;margin-right:1.2em}
.sw{display:inline-block;width:12px;height:10px;margin-right:4px;vertical-align:middle}
</style></head><body>
`, r.Seed)
	length := fmt.Sprintf("%d nodes, %d partitions, %d ticks of %d ms (safety phase to the dashed line, then healed)",
		r.Nodes, r.Partitions, r.Ticks, r.TickMillis())
	if r.Tier == TierCluster {
		// Ticks are wall-clock milliseconds from before the cluster formed.
		length = fmt.Sprintf("%d nodes at the start, %d partitions, %d ms (formation, safety phase to the dashed line, then healed)",
			r.Nodes, r.Partitions, r.Ticks)
	}
	fmt.Fprintf(&b, "<h1>shoal sim — seed %d</h1>\n<p>%s; faults: <span class=mono>%s</span>", r.Seed, length, html.EscapeString(r.FaultMix))
	if r.Canary != "" {
		fmt.Fprintf(&b, "; canary: <b>%s</b>", html.EscapeString(string(r.Canary)))
	}
	b.WriteString("</p>\n")
	if r.Kind == check.KindNone {
		b.WriteString(`<p class=ok>every check passed</p>`)
	} else {
		fmt.Fprintf(&b, "<p class=fail>FAILED (%s)</p><ul>", r.Kind)
		for _, v := range r.Violations {
			fmt.Fprintf(&b, "<li class=mono>%s</li>", html.EscapeString(v.String()))
		}
		if r.Crash != "" {
			fmt.Fprintf(&b, "<li class=mono>simulator crash: %s</li>", html.EscapeString(r.Crash))
		}
		b.WriteString("</ul>\n")
	}
	b.WriteString(`<p class=legend><span><i class=sw style="background:hsl(0,60%,60%)"></i>leader (hue by epoch)</span>` +
		`<span><i class=sw style="background:#999"></i>node down</span><span><i class=sw style="background:#f3c623"></i>paused</span>` +
		`<span><i class=sw style="background:#8ab"></i>link fault</span><span><i class=sw style="background:#2a2"></i>acknowledged</span>` +
		`<span><i class=sw style="background:#d00"></i>acknowledged, lost (quorum: a failure)</span><span><i class=sw style="background:#e90"></i>lost, allowed (leader/none/excused)</span></p>` + "\n")
	healed := int64(-1) // no heal event: the run stopped in its safety phase
	for _, e := range r.Timeline {
		if e.Kind == EventHeal {
			healed = e.Tick
		}
	}
	ids := nodeIDs(r)
	for p := range r.Partitions {
		writePartitionSVG(&b, r, ids, p, end, healed)
	}
	if len(r.Notes) > 0 {
		b.WriteString("<h2>notes</h2>\n<ul class=mono>\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "<li>%s</li>\n", html.EscapeString(n))
		}
		b.WriteString("</ul>\n")
	}
	writeEventTable(&b, r)
	b.WriteString("</body></html>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

const (
	svgLeft    = 60
	svgWidth   = 1200
	svgRowH    = 18
	svgTopAxis = 20
)

// nodeIDs returns the rows of the nodes: the first r.Nodes, and those that joined later (the
// cluster tier's, named by the timeline), in order.
func nodeIDs(r Result) []replication.NodeID {
	var ids []replication.NodeID
	for i := range r.Nodes {
		ids = append(ids, replication.NodeID(fmt.Sprintf("n%d", i+1)))
	}
	for _, e := range r.Timeline {
		if e.Node != "" && !slices.Contains(ids, e.Node) {
			ids = append(ids, e.Node)
		}
	}
	// By length first: n10 comes after n9.
	slices.SortFunc(ids, func(a, b replication.NodeID) int { return cmp.Or(cmp.Compare(len(a), len(b)), cmp.Compare(a, b)) })
	return ids
}

// gridStep returns the axis step for a run of end ticks: 1, 2 or 5 times a power of ten, the
// smallest that draws at most 20 grid lines (so at least 8).
func gridStep(end int64) int64 {
	for step := int64(1); ; step *= 10 {
		for _, m := range []int64{1, 2, 5} {
			if end/(step*m) <= 20 {
				return step * m
			}
		}
	}
}

func writePartitionSVG(b *strings.Builder, r Result, ids []replication.NodeID, p int, end, healed int64) {
	rows := len(ids) + 2
	unit := "ticks"
	if r.Tier == TierCluster {
		unit = "ms"
	}
	height := svgTopAxis + rows*svgRowH + 10
	x := func(t int64) float64 { return svgLeft + float64(t)*float64(svgWidth)/float64(end) }
	fmt.Fprintf(b, "<h2>partition %d</h2>\n<svg width=%d height=%d xmlns=\"http://www.w3.org/2000/svg\">\n", p, svgLeft+svgWidth+20, height)
	step := gridStep(end)
	for t := int64(0); t <= end; t += step {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/><text x="%.1f" y="12">%d</text>`+"\n",
			x(t), svgTopAxis, x(t), height-10, x(t)-8, t)
	}
	if healed >= 0 {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#000" stroke-dasharray="4 3"/>`+"\n", x(healed), svgTopAxis, x(healed), height-10)
	}
	rowY := func(i int) int { return svgTopAxis + i*svgRowH }
	bar := func(row int, from, to int64, fill, title string) {
		fmt.Fprintf(b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"><title>%s</title></rect>`+"\n",
			x(from), rowY(row)+2, max(1, x(to)-x(from)), svgRowH-4, fill, html.EscapeString(title))
	}
	// lowerBar draws in the lower half of a row, over a leadership: a leader can be down.
	lowerBar := func(row int, from, to int64, fill, title string) {
		fmt.Fprintf(b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"><title>%s</title></rect>`+"\n",
			x(from), rowY(row)+svgRowH/2, max(1, x(to)-x(from)), svgRowH/2-2, fill, html.EscapeString(title))
	}
	for i, id := range ids {
		fmt.Fprintf(b, `<text x="4" y="%d">%s</text>`+"\n", rowY(i)+13, id)
		for _, iv := range intervals(r.Timeline, end, func(e Event) (bool, bool) {
			mine := e.Node == id && e.Partition == p
			return mine && e.Kind == EventLeader, mine && e.Kind == EventStepDown
		}) {
			hue := (int(iv.event.Epoch) * 67) % 360
			bar(i, iv.from, iv.to, fmt.Sprintf("hsl(%d,60%%,60%%)", hue), fmt.Sprintf("%s leads epoch %d, %s %d–%d", id, iv.event.Epoch, unit, iv.from, iv.to))
		}
		for _, iv := range intervals(r.Timeline, end, func(e Event) (bool, bool) {
			return e.Node == id && e.Kind == EventCrash, e.Node == id && e.Kind == EventRestart
		}) {
			lowerBar(i, iv.from, iv.to, "#999", fmt.Sprintf("%s down %d–%d: %s", id, iv.from, iv.to, iv.event.Detail))
		}
		for _, iv := range intervals(r.Timeline, end, func(e Event) (bool, bool) {
			return e.Node == id && e.Kind == EventPause, e.Node == id && (e.Kind == EventResume || e.Kind == EventCrash)
		}) {
			lowerBar(i, iv.from, iv.to, "#f3c623", fmt.Sprintf("%s paused %d–%d", id, iv.from, iv.to))
		}
	}
	faultRow, ackRow := len(ids), len(ids)+1
	fmt.Fprintf(b, `<text x="4" y="%d">faults</text><text x="4" y="%d">acks</text>`+"\n", rowY(faultRow)+13, rowY(ackRow)+13)
	for _, e := range r.Timeline {
		switch {
		case e.Kind == EventFault && e.Until > 0:
			bar(faultRow, e.Tick, e.Until, "#8ab", e.Detail)
		case e.Kind == EventFault && (e.Partition == p || e.Partition < 0):
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%d" r="3" fill="#579"><title>%s</title></circle>`+"\n", x(e.Tick), rowY(faultRow)+9, html.EscapeString(e.Detail))
		}
	}
	if r.History != nil {
		for _, op := range r.History.Ops {
			if op.Kind == check.Produce && op.Partition == p && op.Result == check.OK {
				fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#2a2" stroke-opacity="0.5"/>`+"\n",
					x(op.Complete), rowY(ackRow)+4, x(op.Complete), rowY(ackRow)+svgRowH-4)
			}
		}
	}
	for _, l := range r.Lost {
		if l.Partition != p {
			continue
		}
		color := "#d00"
		if l.Allowed {
			color = "#e90"
		}
		fmt.Fprintf(b, `<circle cx="%.1f" cy="%d" r="4" fill="%s"><title>lost: %s at offset %d (acks=%s), acknowledged at tick %d</title></circle>`+"\n",
			x(l.Tick), rowY(ackRow)+9, color, html.EscapeString(l.Value), l.Offset, l.Acks, l.Tick)
	}
	for _, v := range r.Violations {
		if v.Partition == p && v.Tick >= 0 {
			fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#d00" stroke-width="2"><title>%s</title></line>`+"\n",
				x(v.Tick), svgTopAxis, x(v.Tick), height-10, html.EscapeString(v.String()))
		}
	}
	b.WriteString("</svg>\n")
}

type interval struct {
	from, to int64
	event    Event
}

// intervals pairs each start event with the next end event (or the end of the run).
func intervals(events []Event, end int64, match func(Event) (start, stop bool)) []interval {
	var out []interval
	open := false
	var cur interval
	for _, e := range events {
		start, stop := match(e)
		switch {
		case start && !open:
			cur, open = interval{from: e.Tick, event: e}, true
		case start && open: // a new epoch without a step-down in between
			cur.to = e.Tick
			out = append(out, cur)
			cur = interval{from: e.Tick, event: e}
		case stop && open:
			cur.to = e.Tick
			out = append(out, cur)
			open = false
		}
	}
	if open {
		cur.to = end
		out = append(out, cur)
	}
	return out
}

func writeEventTable(b *strings.Builder, r Result) {
	b.WriteString("<h2>events</h2>\n<table><tr><th>tick</th><th>ms</th><th>event</th><th>partition</th><th>node</th><th>epoch</th><th>detail</th></tr>\n")
	for _, e := range r.Timeline {
		part, epoch := "", ""
		if e.Partition >= 0 {
			part = fmt.Sprint(e.Partition)
		}
		if e.Epoch > 0 {
			epoch = fmt.Sprint(e.Epoch)
		}
		kind := string(e.Kind)
		if e.Class != "" && string(e.Class) != kind {
			kind += " (" + string(e.Class) + ")"
		}
		fmt.Fprintf(b, "<tr><td>%d</td><td>%d</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
			e.Tick, e.Tick*r.TickMillis(), html.EscapeString(kind), part, e.Node, epoch, html.EscapeString(e.Detail))
	}
	b.WriteString("</table>\n")
}
