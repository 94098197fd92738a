// Package actors is the broker core of one Shoal node: Broker serves the native protocol's
// requests (Handle) on top of the node supervisor (actors/node) and its partition actors
// (actors/partition), all on one protoactor-go actor system.
//
// Handle decodes a request body, does the work, and returns the response struct of
// protocol/messages.go. It is the edge where storage's and the actors' errors become protocol
// sentinels (see wireError): a per-partition error goes in that partition's ErrorBody, an error
// that concerns the whole request is returned, for the transport to send as an error frame.
//
// Request to response:
//
//	TypeMetadata     MetadataRequest     -> *MetadataResponse
//	TypeCreateTopic  CreateTopicRequest  -> *Empty
//	TypeDeleteTopic  DeleteTopicRequest  -> *Empty
//	TypeListTopics   Empty               -> *ListTopicsResponse
//	TypeProduce      ProduceRequest      -> *ProduceResponse
//	TypeFetch        FetchRequest        -> *FetchResponse (long-poll up to MaxWaitMs)
//	TypeListOffsets  ListOffsetsRequest  -> *ListOffsetsResponse
//	TypeTrim         TrimRequest         -> *TrimResponse
//
// On a single node the leader of every partition is this node and AcksQuorum is AcksLeader:
// both answer once the batch is durable under the fsync policy, and consumers see exactly what
// is durable (the high watermark).
package actors
