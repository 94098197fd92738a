package server

import (
	"sort"
	"strings"

	"github.com/shoalmq/shoal/protocol/resp"
)

// commandDoc is one row of COMMAND's reply: what redis-cli (COMMAND DOCS, for hints) and
// go-redis (COMMAND INFO, in cluster mode, for read-only routing) need.
type commandDoc struct {
	name                string
	arity               int
	flags               []string
	firstKey, lastKey   int
	step                int
	group, since, about string
}

// commandDocs is every command the server knows, connection and data commands alike.
var commandDocs = []commandDoc{
	{"ping", -1, []string{"fast"}, 0, 0, 0, "connection", "1.0.0", "Returns the server's liveliness response."},
	{"echo", 2, []string{"fast"}, 0, 0, 0, "connection", "1.0.0", "Returns the given string."},
	{"hello", -1, []string{"noscript", "loading", "stale", "fast", "no_auth"}, 0, 0, 0, "connection", "6.0.0", "Handshakes with the Redis server."},
	{"auth", -2, []string{"noscript", "loading", "stale", "fast", "no_auth"}, 0, 0, 0, "connection", "1.0.0", "Authenticates the connection."},
	{"client", -2, []string{}, 0, 0, 0, "connection", "2.4.0", "A container for client connection commands."},
	{"select", 2, []string{"loading", "stale", "fast"}, 0, 0, 0, "connection", "1.0.0", "Changes the selected database."},
	{"command", -1, []string{"loading", "stale"}, 0, 0, 0, "server", "2.8.13", "Returns detailed information about all commands."},
	{"info", -1, []string{"loading", "stale"}, 0, 0, 0, "server", "1.0.0", "Returns information and statistics about the server."},
	{"quit", -1, []string{"noscript", "loading", "stale", "fast", "no_auth"}, 0, 0, 0, "connection", "1.0.0", "Closes the connection."},
	{"reset", 1, []string{"noscript", "loading", "stale", "fast", "no_auth"}, 0, 0, 0, "connection", "6.2.0", "Resets the connection."},
	{"xadd", -5, []string{"write", "denyoom", "fast"}, 1, 1, 1, "stream", "5.0.0", "Appends a new message to a stream. Creates the key if it doesn't exist."},
	{"xrange", -4, []string{"readonly"}, 1, 1, 1, "stream", "5.0.0", "Returns the messages from a stream within a range of IDs."},
	{"xrevrange", -4, []string{"readonly"}, 1, 1, 1, "stream", "5.0.0", "Returns the messages from a stream within a range of IDs in reverse order."},
	{"xread", -4, []string{"readonly", "blocking", "movablekeys"}, 0, 0, 0, "stream", "5.0.0", "Returns messages from multiple streams with IDs greater than the ones requested."},
	{"xreadgroup", -7, []string{"write", "blocking", "movablekeys"}, 0, 0, 0, "stream", "5.0.0", "Returns new or historical messages from a stream for a consumer in a group."},
	{"xlen", 2, []string{"readonly", "fast"}, 1, 1, 1, "stream", "5.0.0", "Return the number of messages in a stream."},
	{"xdel", -3, []string{"write", "fast"}, 1, 1, 1, "stream", "5.0.0", "Returns the number of messages after removing them from a stream."},
	{"xtrim", -4, []string{"write"}, 1, 1, 1, "stream", "5.0.0", "Deletes messages from the beginning of a stream."},
	{"xsetid", -3, []string{"write", "denyoom", "fast"}, 1, 1, 1, "stream", "5.0.0", "An internal command for replicating stream values."},
	{"xgroup", -2, []string{}, 0, 0, 0, "stream", "5.0.0", "A container for consumer groups commands."},
	{"xack", -4, []string{"write", "fast"}, 1, 1, 1, "stream", "5.0.0", "Returns the number of messages that were successfully acknowledged by the consumer group member of a stream."},
	{"xpending", -3, []string{"readonly"}, 1, 1, 1, "stream", "5.0.0", "Returns the information and entries from a stream consumer group's pending entries list."},
	{"xclaim", -6, []string{"write", "fast"}, 1, 1, 1, "stream", "5.0.0", "Changes, or acquires, ownership of a message in a consumer group, as if the message was delivered a consumer group member."},
	{"xautoclaim", -6, []string{"write", "fast"}, 1, 1, 1, "stream", "6.2.0", "Changes, or acquires, ownership of messages in a consumer group, as if the messages were delivered to as consumer group member."},
	{"xinfo", -2, []string{}, 0, 0, 0, "stream", "5.0.0", "A container for stream introspection commands."},
	{"del", -2, []string{"write"}, 1, -1, 1, "generic", "1.0.0", "Deletes one or more keys."},
	{"unlink", -2, []string{"write", "fast"}, 1, -1, 1, "generic", "4.0.0", "Asynchronously deletes one or more keys."},
	{"exists", -2, []string{"readonly", "fast"}, 1, -1, 1, "generic", "1.0.0", "Determines whether one or more keys exist."},
	{"type", 2, []string{"readonly", "fast"}, 1, 1, 1, "generic", "1.0.0", "Determines the type of value stored at a key."},
	{"keys", 2, []string{"readonly"}, 0, 0, 0, "generic", "1.0.0", "Returns all key names that match a pattern."},
	{"scan", -2, []string{"readonly"}, 0, 0, 0, "generic", "2.8.0", "Iterates over the key names in the database."},
}

var commandDocsByName = func() map[string]*commandDoc {
	m := make(map[string]*commandDoc, len(commandDocs))
	for i := range commandDocs {
		m[commandDocs[i].name] = &commandDocs[i]
	}
	return m
}()

// runCommand is COMMAND, COMMAND COUNT, COMMAND INFO [name ...], COMMAND DOCS [name ...] and
// COMMAND LIST.
func runCommand(_ *Server, _ *connState, args [][]byte) (resp.Value, bool) {
	if len(args) == 1 {
		return commandInfos(nil), false
	}
	switch sub := strings.ToLower(string(args[1])); sub {
	case "count":
		if len(args) != 2 {
			return resp.ErrorValue(resp.ErrWrongArgs("command|count")), false
		}
		return resp.Int(int64(len(commandDocs))), false
	case "info":
		return commandInfos(args[2:]), false
	case "docs":
		return commandDocsReply(args[2:]), false
	case "list":
		names := make([]resp.Value, len(commandDocs))
		for i, d := range commandDocs {
			names[i] = resp.BulkString(d.name)
		}
		return resp.Array(names...), false
	}
	return resp.ErrorValue(resp.ErrUnknownSubcommand(args[0], args[1])), false
}

// commandInfos is COMMAND INFO's reply: one 10-element entry per name (a null for unknown
// names), or every command when names is empty.
func commandInfos(names [][]byte) resp.Value {
	if len(names) == 0 {
		out := make([]resp.Value, len(commandDocs))
		for i := range commandDocs {
			out[i] = commandInfo(&commandDocs[i])
		}
		return resp.Array(out...)
	}
	out := make([]resp.Value, len(names))
	for i, n := range names {
		out[i] = resp.NullArray
		if d, ok := commandDocsByName[strings.ToLower(string(n))]; ok {
			out[i] = commandInfo(d)
		}
	}
	return resp.Array(out...)
}

func commandInfo(d *commandDoc) resp.Value {
	flags := make([]resp.Value, len(d.flags))
	for i, f := range d.flags {
		flags[i] = resp.SimpleString(f)
	}
	return resp.Array(
		resp.BulkString(d.name), resp.Int(int64(d.arity)), resp.Set(flags...),
		resp.Int(int64(d.firstKey)), resp.Int(int64(d.lastKey)), resp.Int(int64(d.step)),
		resp.Set(resp.SimpleString("@"+d.group)), resp.Array(), resp.Array(), resp.Array(),
	)
}

// commandDocsReply is COMMAND DOCS's reply: a map from name to {summary, since, group}.
func commandDocsReply(names [][]byte) resp.Value {
	var docs []*commandDoc
	if len(names) == 0 {
		for i := range commandDocs {
			docs = append(docs, &commandDocs[i])
		}
	} else {
		for _, n := range names {
			if d, ok := commandDocsByName[strings.ToLower(string(n))]; ok {
				docs = append(docs, d)
			}
		}
	}
	sort.Slice(docs, func(i, j int) bool { return docs[i].name < docs[j].name })
	kv := make([]resp.Value, 0, 2*len(docs))
	for _, d := range docs {
		kv = append(kv, resp.BulkString(d.name), resp.Map(
			resp.BulkString("summary"), resp.BulkString(d.about),
			resp.BulkString("since"), resp.BulkString(d.since),
			resp.BulkString("group"), resp.BulkString(d.group),
		))
	}
	return resp.Map(kv...)
}
