// Package cluster is Shoal's membership: a wrapper over hashicorp/memberlist (SWIM gossip).
package cluster
