/// A bounds-checked little-endian cursor over quote bytes.
///
/// Every read checks the remaining length first, so that truncated or hostile input ends in
/// `AttestationError.malformed` instead of a trap.
struct QuoteReader {
    let bytes: [UInt8]
    private(set) var offset: Int

    init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    var remaining: Int { bytes.count - offset }

    /// Reads `count` bytes, naming `field` in the error if the input ends first.
    mutating func read(_ count: Int, _ field: String) throws(AttestationError) -> [UInt8] {
        guard count >= 0, count <= remaining else {
            throw AttestationError(.malformed, "quote truncated: \(field) needs \(count) bytes, \(max(remaining, 0)) left")
        }
        let slice = Array(bytes[offset..<(offset + count)])
        offset += count
        return slice
    }

    /// Refuses bytes left over in a part whose length was declared: the parts inside it must fill it.
    func expectEnd(_ part: String, declared: Int) throws(AttestationError) {
        guard remaining == 0 else {
            throw AttestationError(
                .malformed,
                "\(part) is declared as \(declared) bytes but its contents end after \(offset): \(remaining) bytes belong to nothing; the quote was altered or badly made")
        }
    }

    mutating func uint16(_ field: String) throws(AttestationError) -> UInt16 {
        let b = try read(2, field)
        return UInt16(b[0]) | UInt16(b[1]) << 8
    }

    mutating func uint32(_ field: String) throws(AttestationError) -> UInt32 {
        let b = try read(4, field)
        return UInt32(b[0]) | UInt32(b[1]) << 8 | UInt32(b[2]) << 16 | UInt32(b[3]) << 24
    }
}

extension Array where Element == UInt8 {
    /// The bytes at `range`, or empty when out of bounds; only used on buffers whose size was checked.
    func bytes(_ range: Range<Int>) -> [UInt8] {
        guard range.lowerBound >= 0, range.upperBound <= count else { return [] }
        return Array(self[range])
    }

    func littleEndianUInt16(at offset: Int) -> UInt16 {
        guard offset >= 0, offset + 2 <= count else { return 0 }
        return UInt16(self[offset]) | UInt16(self[offset + 1]) << 8
    }
}
