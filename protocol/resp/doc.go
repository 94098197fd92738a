// Package resp is the pure half of Shoal's Redis protocol front: RESP reply values and their
// RESP2/RESP3 encoding, typed stream commands parsed from request arguments with Redis 7.0's
// argument validation and error texts, Redis's glob matcher for KEYS and SCAN MATCH, and a
// streaming scanner that checks request framing against limits before a parser sees it.
//
// The package does no I/O, reads no clock and starts no goroutine, so every function here is
// deterministic and fuzzable. The network half, the server loop and the connection commands
// (PING, HELLO, AUTH, CLIENT, SELECT, COMMAND, INFO...) live in protocol/resp/server, which is
// the only RESP package that imports net and github.com/tidwall/redcon.
//
// # Parse
//
// Parse turns one request's arguments into a Command: one struct per data command (XAdd,
// XRange, XRead, XReadGroup, XGroupCreate, ...). It validates everything Redis validates before
// it looks at the keyspace, in Redis's order, and returns Redis's exact error text as an Error.
// Checks that need the keyspace (NOGROUP, WRONGTYPE, "no such key", an id not above the
// stream's top) are the Backend's. NB(resp): where Redis looks a key up before parsing some
// arguments (XCLAIM checks the group before min-idle-time; XINFO checks the key before the
// subcommand's options; XREADGROUP reports NOGROUP before a "$" id), Shoal reports the argument
// error first, because it parses before it executes.
//
// Stream ids stay text-parsed into batch.ID with Redis's rules per position: a range start
// "1000" is 1000-0 and a range end 1000-18446744073709551615; "-" and "+" are the smallest and
// largest ids; "(" makes a range bound exclusive (Parse turns it into the next or previous id);
// XADD takes "*", "<ms>-*" or an explicit id; XREAD takes "$" and "+" (Redis 7.4); XREADGROUP
// takes ">". Numbers follow Redis's string2ll/string2ull quirks (string2ull accepts " 1" and
// "+1" through strtoull, for example).
//
// # Shoal extensions
//
//   - XGROUP CREATE key group id [MKSTREAM] [ENTRIESREAD n] [MAXDELIVERIES n]: a group whose
//     entries are moved to a dead-letter stream after n deliveries (XGroupCreate.MaxDeliveries;
//     0 means never). The backend names the dead-letter stream.
//   - XREADGROUP ... [CLAIM min-idle-ms] ...: as in Redis 8.4, also hand out pending entries
//     idle at least min-idle-ms before new ones.
//
// # Ownership
//
// Parse does not copy field values: XAdd.Fields alias the argument slices, so the caller keeps
// the argument bytes unchanged until the command is done (redcon gives every request its own
// copy, so the server does). Keys, group and consumer names are copied into strings.
package resp
