package partition

import (
	"fmt"
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"
)

// StopOnFailure returns the supervisor strategy for partition actors: a failed child is stopped,
// never restarted or resumed. protoactor's default strategy restarts a panicking actor with a
// fresh instance, which for a partition would mean an empty producer table and lost pending
// produces; stopping it keeps the failure visible (the partition records it) until the node
// reopens the partition.
//
// Use it as the supervisor of the actor that spawns partitions (actor.WithSupervisor), or as
// the guardian of a root context (RootContext.WithGuardian).
func StopOnFailure(logger *slog.Logger) actor.SupervisorStrategy {
	return &stopOnFailure{logger: logger}
}

type stopOnFailure struct {
	logger *slog.Logger
}

// HandleFailure stops the failed child. It runs in the supervisor's context.
func (s *stopOnFailure) HandleFailure(_ *actor.ActorSystem, supervisor actor.Supervisor, child *actor.PID, _ *actor.RestartStatistics, reason any, message any) {
	s.logger.Error("actor failed; stopping it", "actor", child.GetId(), "reason", fmt.Sprint(reason), "message", fmt.Sprintf("%T", message))
	supervisor.StopChildren(child)
}
