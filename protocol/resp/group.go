package resp

import (
	"github.com/shoalmq/shoal/protocol/batch"
)

// GroupStart is the id of XGROUP CREATE and SETID: "$" (the stream's last id) or an id.
type GroupStart struct {
	Last bool // "$"
	ID   batch.ID
}

// XGroupCreate is XGROUP CREATE key group id|$ [MKSTREAM] [ENTRIESREAD n] [MAXDELIVERIES n].
type XGroupCreate struct {
	Key, Group  string
	Start       GroupStart
	MkStream    bool
	EntriesRead int64 // -1 when absent
	// MaxDeliveries is Shoal's extension: after this many deliveries an entry moves to the
	// group's dead-letter stream instead of being delivered again; 0 (absent) means never.
	MaxDeliveries int64
}

// Name returns "xgroup|create".
func (c *XGroupCreate) Name() string { return "xgroup|create" }

// Keys returns the stream key.
func (c *XGroupCreate) Keys() []string { return []string{c.Key} }

// XGroupSetID is XGROUP SETID key group id|$ [ENTRIESREAD n].
type XGroupSetID struct {
	Key, Group  string
	Start       GroupStart
	EntriesRead int64 // -1 when absent
}

// Name returns "xgroup|setid".
func (c *XGroupSetID) Name() string { return "xgroup|setid" }

// Keys returns the stream key.
func (c *XGroupSetID) Keys() []string { return []string{c.Key} }

// XGroupDestroy is XGROUP DESTROY key group.
type XGroupDestroy struct{ Key, Group string }

// Name returns "xgroup|destroy".
func (c *XGroupDestroy) Name() string { return "xgroup|destroy" }

// Keys returns the stream key.
func (c *XGroupDestroy) Keys() []string { return []string{c.Key} }

// XGroupCreateConsumer is XGROUP CREATECONSUMER key group consumer.
type XGroupCreateConsumer struct{ Key, Group, Consumer string }

// Name returns "xgroup|createconsumer".
func (c *XGroupCreateConsumer) Name() string { return "xgroup|createconsumer" }

// Keys returns the stream key.
func (c *XGroupCreateConsumer) Keys() []string { return []string{c.Key} }

// XGroupDelConsumer is XGROUP DELCONSUMER key group consumer.
type XGroupDelConsumer struct{ Key, Group, Consumer string }

// Name returns "xgroup|delconsumer".
func (c *XGroupDelConsumer) Name() string { return "xgroup|delconsumer" }

// Keys returns the stream key.
func (c *XGroupDelConsumer) Keys() []string { return []string{c.Key} }

var xgroupHelp = &Help{Command: "XGROUP", Lines: []string{
	"CREATE <key> <groupname> <id|$> [option]",
	"    Create a new consumer group. Options are:",
	"    * MKSTREAM",
	"      Create the empty stream if it does not exist.",
	"    * ENTRIESREAD entries_read",
	"      Set the group's entries_read counter (internal use).",
	"    * MAXDELIVERIES count",
	"      Shoal: move an entry to the dead-letter stream after count deliveries.",
	"CREATECONSUMER <key> <groupname> <consumer>",
	"    Create a new consumer in the specified group.",
	"DELCONSUMER <key> <groupname> <consumer>",
	"    Remove the specified consumer.",
	"DESTROY <key> <groupname>",
	"    Remove the specified group.",
	"SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
	"    Set the current group ID and entries_read counter.",
}}

// xgroupArity is the arity of each XGROUP subcommand (Redis's command table).
var xgroupArity = map[string]int{"create": -5, "setid": -5, "destroy": 4, "createconsumer": 5, "delconsumer": 5, "help": 2}

// parseXGroup follows xgroupCommand: the subcommand's arity, then CREATE/SETID options (from
// argument 5), then the subcommand itself.
func parseXGroup(args [][]byte) (Command, error) {
	sub := lower(args[1])
	arity, ok := xgroupArity[sub]
	if !ok {
		return nil, ErrUnknownSubcommand(args[0], args[1])
	}
	if !arityOK(arity, len(args)) {
		return nil, ErrWrongArgs("xgroup|" + sub)
	}
	if sub == "help" {
		return xgroupHelp, nil
	}
	key, group := string(args[1+1]), string(args[3])
	opts := groupOptions{entriesRead: -1}
	if err := opts.parse(args, sub); err != nil {
		return nil, err
	}
	switch sub {
	case "create":
		if len(args) > 8+2 { // Redis allows 5..8 arguments; MAXDELIVERIES adds two
			return nil, ErrSubcommandSyntax(args[0], args[1])
		}
		start, err := parseGroupStart(args[4])
		if err != nil {
			return nil, err
		}
		return &XGroupCreate{Key: key, Group: group, Start: start, MkStream: opts.mkStream,
			EntriesRead: opts.entriesRead, MaxDeliveries: opts.maxDeliveries}, nil
	case "setid":
		if len(args) != 5 && len(args) != 7 {
			return nil, ErrSubcommandSyntax(args[0], args[1])
		}
		start, err := parseGroupStart(args[4])
		if err != nil {
			return nil, err
		}
		return &XGroupSetID{Key: key, Group: group, Start: start, EntriesRead: opts.entriesRead}, nil
	case "destroy":
		return &XGroupDestroy{Key: key, Group: group}, nil
	case "createconsumer":
		return &XGroupCreateConsumer{Key: key, Group: group, Consumer: string(args[4])}, nil
	default: // "delconsumer"
		return &XGroupDelConsumer{Key: key, Group: group, Consumer: string(args[4])}, nil
	}
}

type groupOptions struct {
	mkStream      bool
	entriesRead   int64
	maxDeliveries int64
}

func (o *groupOptions) parse(args [][]byte, sub string) error {
	create, setid := sub == "create", sub == "setid"
	for i := 5; i < len(args); {
		switch {
		case create && is(args[i], "mkstream"):
			o.mkStream = true
			i++
		case (create || setid) && is(args[i], "entriesread") && i+1 < len(args):
			n, err := parseInteger(args[i+1])
			if err != nil {
				return err
			}
			if n < 0 && n != -1 {
				return ErrEntriesRead
			}
			o.entriesRead = n
			i += 2
		case create && is(args[i], "maxdeliveries") && i+1 < len(args):
			n, err := parseInteger(args[i+1])
			if err != nil {
				return err
			}
			if n < 0 {
				return ErrMaxDeliveries
			}
			o.maxDeliveries = n
			i += 2
		default:
			return ErrSubcommandSyntax(args[0], args[1])
		}
	}
	return nil
}

func parseGroupStart(b []byte) (GroupStart, error) {
	if len(b) == 1 && b[0] == '$' {
		return GroupStart{Last: true}, nil
	}
	id, err := parseID(b, 0, idStrict)
	return GroupStart{ID: id}, err
}

// XInfoStream is XINFO STREAM key [FULL [COUNT n]].
type XInfoStream struct {
	Key  string
	Full bool
	// Count is FULL's entry and PEL limit: 10 by default (and for a negative COUNT), 0 for all.
	Count int64
}

// Name returns "xinfo|stream".
func (c *XInfoStream) Name() string { return "xinfo|stream" }

// Keys returns the stream key.
func (c *XInfoStream) Keys() []string { return []string{c.Key} }

// XInfoGroups is XINFO GROUPS key.
type XInfoGroups struct{ Key string }

// Name returns "xinfo|groups".
func (c *XInfoGroups) Name() string { return "xinfo|groups" }

// Keys returns the stream key.
func (c *XInfoGroups) Keys() []string { return []string{c.Key} }

// XInfoConsumers is XINFO CONSUMERS key group.
type XInfoConsumers struct{ Key, Group string }

// Name returns "xinfo|consumers".
func (c *XInfoConsumers) Name() string { return "xinfo|consumers" }

// Keys returns the stream key.
func (c *XInfoConsumers) Keys() []string { return []string{c.Key} }

var xinfoHelp = &Help{Command: "XINFO", Lines: []string{
	"CONSUMERS <key> <groupname>",
	"    Show consumers of <groupname>.",
	"GROUPS <key>",
	"    Show the stream consumer groups.",
	"STREAM <key> [FULL [COUNT <count>]",
	"    Show information about the stream.",
}}

var xinfoArity = map[string]int{"stream": -3, "groups": 3, "consumers": 4, "help": 2}

func parseXInfo(args [][]byte) (Command, error) {
	sub := lower(args[1])
	arity, ok := xinfoArity[sub]
	if !ok {
		return nil, ErrUnknownSubcommand(args[0], args[1])
	}
	if !arityOK(arity, len(args)) {
		return nil, ErrWrongArgs("xinfo|" + sub)
	}
	switch sub {
	case "help":
		return xinfoHelp, nil
	case "groups":
		return &XInfoGroups{Key: string(args[2])}, nil
	case "consumers":
		return &XInfoConsumers{Key: string(args[2]), Group: string(args[3])}, nil
	}
	c := &XInfoStream{Key: string(args[2]), Count: 10}
	opts := args[3:]
	switch {
	case len(opts) == 0:
		return c, nil
	case len(opts) != 1 && len(opts) != 3, !is(opts[0], "full"), len(opts) == 3 && !is(opts[1], "count"):
		return nil, ErrSubcommandSyntax(args[0], args[1])
	}
	c.Full = true
	if len(opts) == 3 {
		n, err := parseInteger(opts[2])
		if err != nil {
			return nil, err
		}
		if n >= 0 {
			c.Count = n
		}
	}
	return c, nil
}
