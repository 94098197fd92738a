package replication

import "fmt"

// NodeID names a node of the cluster.
type NodeID string

// Epoch numbers leaderships of one partition; it grows by at least one at each change of leader.
type Epoch uint64

// Offset is a record's position in the partition log; an "end" is the offset after the last
// record.
type Offset uint64

// MessageType tells what a Message is.
type MessageType uint8

// Message types. Append only: a number, once given a meaning, keeps it (they travel on the wire).
const (
	// MsgAppend: leader → replica. Batches starting at Index (possibly none: a heartbeat), the
	// epoch of the entry at Index-1 (PrevEpoch), and the leader's commit point.
	MsgAppend MessageType = 1
	// MsgAppendResp: replica → leader. Match is the end of the prefix known to equal the
	// leader's log, Durable how much of it is durable; Reject asks the leader to back up to the
	// divergence of its log and (End, History).
	MsgAppendResp MessageType = 2
	// MsgPromise: candidate → voter. Promise Epoch to From.
	MsgPromise MessageType = 3
	// MsgPromiseResp: voter → candidate. Granted, with the voter's End, LastEpoch and History.
	MsgPromiseResp MessageType = 4
	// MsgFetch: candidate → the most advanced promiser. Send your log from Index.
	MsgFetch MessageType = 5
	// MsgFetchResp: promiser → candidate. Batches from Index (none at the promiser's end).
	MsgFetchResp MessageType = 6
	// MsgTransfer: leader → a caught-up voter. Campaign now: the leader hands its leadership
	// over (a drain, a leave, or the preferred leader taking back its partition).
	MsgTransfer MessageType = 7
)

var messageTypeNames = map[MessageType]string{
	MsgAppend: "append", MsgAppendResp: "append-resp", MsgPromise: "promise",
	MsgPromiseResp: "promise-resp", MsgFetch: "fetch", MsgFetchResp: "fetch-resp", MsgTransfer: "transfer",
}

func (t MessageType) String() string {
	if s, ok := messageTypeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("MessageType(%d)", uint8(t))
}

// Message is what replicas of one partition send each other. The shell adds the partition's
// name when it puts a Message on the wire.
type Message struct {
	Type  MessageType `msgpack:"t"`
	From  NodeID      `msgpack:"f"`
	To    NodeID      `msgpack:"to"`
	Epoch Epoch       `msgpack:"e"`
	// Index: MsgAppend, MsgFetch, MsgFetchResp: the offset Data starts at. MsgAppendResp: the
	// Index of the append it answers.
	Index     Offset `msgpack:"i"`
	PrevEpoch Epoch  `msgpack:"pe"`
	// Data holds whole stored batches back to back.
	Data   []byte `msgpack:"d"`
	Commit Offset `msgpack:"c"`
	Reject bool   `msgpack:"r"`
	// Match and Durable: MsgAppendResp, see MsgAppendResp.
	Match   Offset `msgpack:"m"`
	Durable Offset `msgpack:"du"`
	// End, LastEpoch and History describe the sender's log (rejections and promises).
	End       Offset  `msgpack:"en"`
	LastEpoch Epoch   `msgpack:"le"`
	History   History `msgpack:"h"`
	// Granted: MsgPromiseResp. Learner: the sender is an unclean learner.
	Granted bool `msgpack:"g"`
	Learner bool `msgpack:"l"`
	// Transfer: MsgPromise of a candidate its leader asked to take over; voters set their
	// lease aside for it.
	Transfer bool `msgpack:"x"`
	// Behind: MsgPromiseResp refused because the candidate's log does not reach the sender's
	// newest config entry (the candidate's replica set is not the newest one).
	Behind bool `msgpack:"b"`
}

func (m Message) String() string {
	s := fmt.Sprintf("%s→%s %s e%d", m.From, m.To, m.Type, m.Epoch)
	switch m.Type {
	case MsgAppend:
		s += fmt.Sprintf(" i%d pe%d c%d %s", m.Index, m.PrevEpoch, m.Commit, describeBatches(m.Data))
	case MsgAppendResp:
		if m.Reject {
			s += fmt.Sprintf(" i%d reject end%d hist%v", m.Index, m.End, m.History)
		} else {
			s += fmt.Sprintf(" i%d match%d durable%d", m.Index, m.Match, m.Durable)
		}
	case MsgPromiseResp:
		s += fmt.Sprintf(" granted=%t end%d last-epoch%d hist%v", m.Granted, m.End, m.LastEpoch, m.History)
		if m.Behind {
			s += " behind"
		}
	case MsgFetch:
		s += fmt.Sprintf(" i%d", m.Index)
	case MsgFetchResp:
		s += fmt.Sprintf(" i%d %s", m.Index, describeBatches(m.Data))
	}
	if m.Learner {
		s += " learner"
	}
	if m.Transfer {
		s += " transfer"
	}
	return s
}

// LogWrite is one write to the log, done in order: a truncation of the log to end To, or the
// append of one stored batch (its offset is the log end at that point).
type LogWrite struct {
	Truncate bool
	To       Offset
	Batch    []byte
}

// Ready is what the shell must do, in this order: the log writes, then persist Promise (when
// non-zero, durably), then send Messages. Commit is the commit point after it; consumers may
// read below it and acks=quorum producers whose records end at or below it are answered.
type Ready struct {
	Writes   []LogWrite
	Promise  Epoch
	Messages []Message
	Commit   Offset
}

// IsEmpty reports whether there is nothing to do.
func (rd Ready) IsEmpty() bool {
	return len(rd.Writes) == 0 && rd.Promise == 0 && len(rd.Messages) == 0
}

// LogReader reads the replica's own log for replication.
type LogReader interface {
	// Read returns whole stored batches starting exactly at from (a batch boundary), at least one
	// batch when from is below the log end, and at most maxBytes unless the first batch alone is
	// larger. The caller owns the returned slice.
	Read(from Offset, maxBytes int) ([]byte, error)
}

// Role is what a replica does in its epoch.
type Role uint8

// Roles.
const (
	RoleFollower Role = iota
	RoleCandidate
	RoleLeader
)

func (r Role) String() string {
	switch r {
	case RoleFollower:
		return "follower"
	case RoleCandidate:
		return "candidate"
	case RoleLeader:
		return "leader"
	}
	return fmt.Sprintf("Role(%d)", uint8(r))
}
