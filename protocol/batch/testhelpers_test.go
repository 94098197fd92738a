package batch

import (
	"encoding/binary"
	"hash/crc32"
)

func putUint16(b []byte, pos int, v uint16) { binary.LittleEndian.PutUint16(b[pos:], v) }
func putUint32(b []byte, pos int, v uint32) { binary.LittleEndian.PutUint32(b[pos:], v) }
func putUint64(b []byte, pos int, v uint64) { binary.LittleEndian.PutUint64(b[pos:], v) }

// resum rewrites the CRC after a test changed the bytes on purpose.
func resum(b []byte) { putUint32(b, posCRC, crc32.Checksum(b[crcStart:], castagnoli)) }
