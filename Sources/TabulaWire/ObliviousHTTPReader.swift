extension ObliviousHTTP {
    /// A bounds-checked cursor over untrusted bytes: every read either succeeds or throws
    /// ``WireError/Code/truncated``, so decoders never trap on short input.
    struct Reader {
        private let bytes: [UInt8]
        private var offset = 0
        /// What is being decoded, for error messages ("key configuration", "encapsulated request").
        private let what: String

        init(_ bytes: [UInt8], what: String) {
            self.bytes = bytes
            self.what = what
        }

        var isAtEnd: Bool { offset == bytes.count }
        var remainingCount: Int { bytes.count - offset }

        mutating func readUInt8() throws -> UInt8 {
            try readBytes(1)[0]
        }

        mutating func readUInt16() throws -> UInt16 {
            let pair = try readBytes(2)
            return UInt16(pair[0]) << 8 | UInt16(pair[1])
        }

        mutating func readBytes(_ count: Int) throws -> [UInt8] {
            guard count <= remainingCount else {
                throw WireError(.truncated, "the \(what) ends after \(bytes.count) bytes; \(count - remainingCount) more were expected at offset \(offset)")
            }
            defer { offset += count }
            return Array(bytes[offset..<(offset + count)])
        }

        mutating func readRest() -> [UInt8] {
            defer { offset = bytes.count }
            return Array(bytes[offset...])
        }
    }

    /// A 16-bit integer in network byte order.
    static func bigEndian(_ value: UInt16) -> [UInt8] {
        [UInt8(value >> 8), UInt8(truncatingIfNeeded: value)]
    }

    /// `0x0020`-style hex for identifiers in messages.
    static func hex(_ value: UInt16) -> String {
        let digits = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: 4 - digits.count) + digits
    }
}
