// Package node is the node supervisor: the actor that starts, stops and supervises the
// partition actors of one node, and the topic catalog it keeps in the data dir.
//
// # Files
//
//	<data-dir>/catalog.json                      topics and their settings (written atomically)
//	<data-dir>/catalog.lock                      held while a Node runs on the data dir
//	<data-dir>/topics/<topic>/<partition>/       one partition log (see storage)
//	<data-dir>/deleted/                          topics being deleted; emptied at start
//
// # Concurrency
//
// Catalog changes (create, delete, the load at start) are messages to the supervisor actor, so
// they happen one at a time and a topic is created once even when many produces auto-create it
// together. The actor publishes an immutable routing table after each change; lookups (Topic,
// Partition, Topics) read it without a lock or a message, so the produce and fetch paths never
// go through the supervisor.
//
// # Supervision
//
// Partition actors are children of the supervisor actor, whose strategy is
// partition.StopOnFailure: a failing partition is stopped and marked failed, never restarted
// with empty state; the other partitions keep working. The supervisor itself is spawned under a
// root guardian with the same strategy.
//
// NB(node): until the cluster work moves the catalog into the replicated __meta partition, the
// catalog is a local file; topic names starting with "__" are reserved for that.
package node
