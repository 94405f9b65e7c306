package spool

// A journal file (ID.json) holds a file's journal in one of two layouts.
//
// Slotted (written from this version on): two slots of slotSize bytes
// each, the file 2*slotSize long. Each slot holds at most one record: a
// header (magic, sequence number, payload length, CRC-32C of header and
// payload) and the journal's JSON. Record seq lives in slot seq%2. An
// update writes record seq+1 into the slot the newest record is not in,
// in place, and fdatasyncs the file: no new file, no rename, no directory
// fsync, and the file's size and blocks do not change, so fdatasync has no
// metadata to commit. Recovery takes the valid record of the highest
// sequence number. A crash inside an update tears at most the slot being
// written, which then fails its checksum (or still holds its older
// record); the other slot holds the journal as the last completed update
// left it. So recovery finds the old state or the new one, never a mix,
// and never an older state than the last update that returned.
//
// The file itself is made (and, when a record outgrows its slot, made
// again with larger slots) as every journal was before: a temporary file
// written whole, fsynced, renamed into place, the directory fsynced.
//
// Plain (earlier versions): the journal's JSON alone, replaced whole by
// rename at each update. Recovery reads either layout and never writes
// through the file it read: a recovered file's first update makes its
// journal file anew, slotted.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"

	"golang.org/x/sys/unix"
)

// recordMagic starts every record ("s3mount journal, record format 1").
var recordMagic = [4]byte{'S', '3', 'J', '1'}

// recordHeader: magic, seq (uint64), payload length (uint32), CRC-32C
// (uint32) of the first 16 header bytes and the payload; little-endian.
const recordHeader = 20

// slotAlign: slots are whole pages, so that writing one never rewrites a
// block of the other.
const slotAlign = 4096

// maxSlot bounds a slot: a record of the largest journal accepted.
const maxSlot = (maxJournalSize + recordHeader + slotAlign - 1) / slotAlign * slotAlign

// maxJournalFile bounds a journal file of either layout.
const maxJournalFile = 2 * maxSlot

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encodeRecord is record seq holding payload.
func encodeRecord(seq uint64, payload []byte) []byte {
	b := make([]byte, recordHeader+len(payload))
	copy(b, recordMagic[:])
	binary.LittleEndian.PutUint64(b[4:], seq)
	binary.LittleEndian.PutUint32(b[12:], uint32(len(payload)))
	copy(b[recordHeader:], payload)
	crc := crc32.Update(crc32.Checksum(b[:16], castagnoli), castagnoli, payload)
	binary.LittleEndian.PutUint32(b[16:], crc)
	return b
}

// decodeRecord reads the record at the start of slot (nil, false: none
// there that is whole: never written, torn, or not ours).
func decodeRecord(slot []byte) (payload []byte, seq uint64, ok bool) {
	if len(slot) < recordHeader || !bytes.Equal(slot[:4], recordMagic[:]) {
		return nil, 0, false
	}
	seq = binary.LittleEndian.Uint64(slot[4:])
	n := binary.LittleEndian.Uint32(slot[12:])
	if n > maxJournalSize || int(n) > len(slot)-recordHeader {
		return nil, 0, false
	}
	payload = slot[recordHeader : recordHeader+int(n)]
	crc := crc32.Update(crc32.Checksum(slot[:16], castagnoli), castagnoli, payload)
	if crc != binary.LittleEndian.Uint32(slot[16:]) {
		return nil, 0, false
	}
	return payload, seq, true
}

// slotFor is the slot size that holds a record of n bytes.
func slotFor(n int) int64 {
	return int64(max(slotAlign, (n+slotAlign-1)/slotAlign*slotAlign))
}

// isSlotted tells the layouts apart: a plain journal is JSON, which
// json.Marshal starts with '{'; a slotted file is pages long and starts
// with a record's magic, or, torn, with bytes of one.
func isSlotted(b []byte) bool {
	return len(b) >= 2*slotAlign && len(b)%(2*slotAlign) == 0 && b[0] != '{'
}

// parsedJournal is a journal file as read.
type parsedJournal struct {
	j    Journal
	seq  uint64 // of the newest record (slotted), 0 for a plain journal
	slot int64  // slot size; 0: plain
}

// parseJournalFile reads either layout. An error is damage: no whole
// record in either slot, or a journal that does not decode.
func parseJournalFile(b []byte) (parsedJournal, error) {
	if !isSlotted(b) {
		if len(b) > maxJournalSize {
			return parsedJournal{}, fmt.Errorf("not a journal: larger than %d bytes", maxJournalSize)
		}
		j, err := decodeJournal(b)
		return parsedJournal{j: j}, err
	}
	slot := int64(len(b) / 2)
	var best []byte
	var bestSeq uint64
	for i := range int64(2) {
		payload, seq, ok := decodeRecord(b[i*slot : (i+1)*slot])
		if !ok || int64(seq%2) != i {
			continue
		}
		if best == nil || seq > bestSeq {
			best, bestSeq = payload, seq
		}
	}
	if best == nil {
		return parsedJournal{}, errors.New("not a journal: no whole record in either slot")
	}
	j, err := decodeJournal(best)
	if err != nil {
		return parsedJournal{}, err
	}
	return parsedJournal{j: j, seq: bestSeq, slot: slot}, nil
}

// journalFault, when set by a test, fails journal writes before they touch
// the disk, as a crash at that point would leave it.
var journalFault func(path string) error

// fdatasync flushes a file's data (and only the metadata needed to read
// it back); tests replace it to see when it is called.
var fdatasync = func(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }

// saveJournal persists payload as f's next journal record. Called with
// f.mu held.
func (f *File) saveJournal(payload []byte) error {
	path := f.journalPath()
	if journalFault != nil {
		if err := journalFault(path); err != nil {
			return err
		}
	}
	if err := f.sp.noSpace("write", path, true); err != nil {
		return err
	}
	seq := f.jseq + 1
	rec := encodeRecord(seq, payload)
	if f.jfile != nil && int64(len(rec)) <= f.jslot {
		// A failed write or sync leaves jseq as it was: the next attempt
		// writes the same slot again, never the one holding the newest
		// record that completed.
		if _, err := f.jfile.WriteAt(rec, int64(seq%2)*f.jslot); err != nil {
			return err
		}
		f.sp.hook(OpJournalSlot, path)
		if err := fdatasync(f.jfile); err != nil {
			return err
		}
		f.sp.hook(OpJournalSync, path)
		f.jseq = seq
		return nil
	}
	// No slotted file yet (a new file, or a plain journal recovered from an
	// earlier version), or the record outgrew its slot: the file is made
	// whole, the record in its slot and the other slot empty.
	slot := slotFor(len(rec))
	b := make([]byte, 2*slot)
	copy(b[int64(seq%2)*slot:], rec)
	jf, err := f.sp.createJournalFile(path, b)
	// Even on failure: the rename may have happened, and the file open
	// may no longer be the one at the name.
	f.closeJournalFile()
	if err != nil {
		return err
	}
	f.jfile, f.jslot, f.jseq = jf, slot, seq
	return nil
}

// closeJournalFile closes the open journal file, if any: the next update
// makes the file again. Called with f.mu held.
func (f *File) closeJournalFile() {
	if f.jfile != nil {
		f.jfile.Close()
		f.jfile = nil
	}
}
