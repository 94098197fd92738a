package cluster

import "errors"

// Sentinels of the membership layer. Errors returned by this package wrap one of them (use
// errors.Is) and add the names, addresses and numbers an operator needs.
var (
	// ErrRefused marks a permanent refusal: this node and the cluster it tried to join (or a node
	// that tried to join this one) cannot be one cluster as configured. A duplicate node id, a
	// different cluster id, or protocol version ranges that do not overlap. The message says what
	// to change. Join does not retry after it.
	ErrRefused = errors.New("cluster: refused")
	// ErrInvalidConfig marks a Config that Start rejects; the message has one line per bad field.
	ErrInvalidConfig = errors.New("cluster: invalid config")
	// ErrShutdown is returned by WaitJoined once the membership was shut down or left.
	ErrShutdown = errors.New("cluster: membership shut down")
)
