// Package protocol is Shoal's native wire protocol: frames, message types, the error-code table,
// limits, the version range and the key-to-partition function that client and server share.
//
// # Frames
//
// Every message is one frame on a TCP stream:
//
//	offset size field
//	 0      4   BodyLength  bytes of the body that follows the 16-byte header (big-endian)
//	 4      2   Type        MessageType (append-only table)
//	 6      2   Flags       FlagResponse, FlagError
//	 8      8   RequestID   chosen by the requester; a response carries its request's id
//	16          Body        msgpack of the request or response struct of Type; for FlagError,
//	                        an ErrorBody
//
// Request ids let one connection carry many requests in flight (pipelining); responses may come
// back in any order. A frame whose body exceeds MaxFrameBytes, whose type or flags are unknown,
// or whose body does not decode is a protocol error: the receiver closes the connection.
//
// Record batches travel inside Produce and Fetch bodies as msgpack binary strings holding the
// protocol/batch bytes, exactly as they are stored on disk.
package protocol
