// Package batch is the record-batch byte layout shared by the wire and the disk.
//
// A batch is stored on disk exactly as it travels on the wire, so a fetch copies bytes and never
// re-encodes records. The layout is flat and little-endian:
//
//	offset size field
//	 0      4   Length          total bytes of the batch, this header included
//	 4      4   CRC             CRC32C (Castagnoli) of bytes [8, Length)
//	 8      1   Magic           format version, 1
//	 9      1   Reserved        0
//	10      2   Attributes      AttrControl, AttrAutoID
//	12      4   RecordCount     number of records, >= 1
//	16      8   BaseOffset      offset of the first record
//	24      8   LeaderEpoch     epoch of the leader that appended the batch
//	32     16   FirstID         id of the first record (ms, seq)
//	48     16   LastID          id of the last record (ms, seq)
//	64      8   FirstTimestamp  ms since the Unix epoch of the first record
//	72      8   MaxTimestamp    the largest record timestamp in the batch
//	80      8   ProducerID      idempotent producer, NoProducer when absent
//	88      4   BaseSequence    producer sequence of the first record
//	92      4   Reserved        0
//	96          records
//
// Each record is
//
//	uvarint  body length (bytes after this varint)
//	byte     attributes (0)
//	varint   timestamp delta from FirstTimestamp
//	uvarint  offset delta from BaseOffset (always the record's index: offsets are dense)
//	uvarint  id ms delta from FirstID.Ms
//	uvarint  id seq: the delta from FirstID.Seq when the ms delta is 0, else the absolute seq
//	varint   key length (-1: no key), key bytes
//	varint   value length (-1: no value), value bytes
//	uvarint  header count, then per header: uvarint field length, field, uvarint value length, value
//
// Records are encoded relative to the header, so the leader assigns offsets, epoch and ids (for a
// batch built with AttrAutoID) by rewriting the header and the CRC only; see Stamp.
//
// Control batches (AttrControl) carry log-internal entries (tombstones, epoch starts, group
// changes). They take offsets like data but have no ids: their FirstID and LastID are zero and
// do not take part in the partition's id order.
//
// Every function that reads bytes is total: any input gives a value or an error, never a panic.
package batch
