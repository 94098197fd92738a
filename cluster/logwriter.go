package cluster

import (
	"context"
	"log/slog"
	"strings"
)

// memberlistLog turns memberlist's log lines ("[LEVEL] memberlist: text") into slog records.
// memberlist logs through a *log.Logger writing here, one Write per line.
//
// Its DEBUG and INFO lines are chatter (pushes, probes, joins) and go out at DEBUG. Its WARN
// and ERR lines go out at INFO: on a healthy cluster they are routine (a member that stops
// makes every other one log failed probes and refused connections until it is declared dead),
// and what an operator must act on (refusals, join failures) this package logs itself at WARN
// or ERROR with a hint. The original level is kept as the attribute memberlist_level.
type memberlistLog struct {
	log *slog.Logger
}

func (w memberlistLog) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	level, text := slog.LevelDebug, line
	origin := ""
	if rest, ok := strings.CutPrefix(line, "["); ok {
		if tag, after, ok := strings.Cut(rest, "] "); ok {
			origin, text = tag, after
		}
	}
	if origin == "WARN" || origin == "ERR" {
		level = slog.LevelInfo
	}
	if w.log.Enabled(context.Background(), level) {
		w.log.Log(context.Background(), level, text, "memberlist_level", origin)
	}
	return len(p), nil
}
