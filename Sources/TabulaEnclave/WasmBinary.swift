/// The section layout of a WebAssembly binary, and the LEB128 encoding it uses.
///
/// WasmKit parses modules but does not write them. Tabula rewrites modules in two ways: it adds
/// exports so that the snapshot can reach module-internal state, and it adds the deadline's
/// checkpoints (``DeadlineChecks``). This is the section layout both work on, beside the bounds
/// check of ``ModuleBounds``. Validation is left to WasmKit.
struct WasmBinary {
    struct Section {
        var id: UInt8
        var contents: [UInt8]
    }

    static let header: [UInt8] = [0x00, 0x61, 0x73, 0x6D, 0x01, 0x00, 0x00, 0x00]

    /// Section ids in the order the binary format requires them (custom sections may go anywhere).
    static let order: [UInt8] = [1, 2, 3, 4, 5, 13, 6, 7, 8, 9, 12, 10, 11]
    static let customSectionID: UInt8 = 0
    static let typeSectionID: UInt8 = 1
    static let importSectionID: UInt8 = 2
    static let tableSectionID: UInt8 = 4
    static let globalSectionID: UInt8 = 6
    static let exportSectionID: UInt8 = 7
    static let startSectionID: UInt8 = 8
    static let elementSectionID: UInt8 = 9
    static let codeSectionID: UInt8 = 10
    static let dataSectionID: UInt8 = 11

    var sections: [Section]

    init(bytes: [UInt8]) throws(EnclaveError) {
        guard bytes.count >= 8, Array(bytes[0..<8]) == Self.header else {
            throw EnclaveError(.invalidModule, "not a WebAssembly module: the file does not start with the wasm magic number and version 1")
        }
        guard bytes.count <= ModuleBounds.maxBinaryBytes else {
            throw EnclaveError(.invalidModule, "the module is \(FunctionModule.mebibytes(UInt64(bytes.count))), more than the \(FunctionModule.mebibytes(UInt64(ModuleBounds.maxBinaryBytes))) Tabula loads")
        }
        var reader = Reader(bytes: bytes, offset: 8)
        var sections: [Section] = []
        while !reader.isAtEnd {
            let id = try reader.byte()
            let size = Int(try reader.u32())
            let contents = try reader.bytes(count: size)
            sections.append(Section(id: id, contents: contents))
        }
        self.sections = sections
    }

    var bytes: [UInt8] {
        var out = Self.header
        for section in sections {
            out.append(section.id)
            Self.appendLEB128(UInt64(section.contents.count), to: &out)
            out += section.contents
        }
        return out
    }

    /// Appends entries to the vector that makes up a section, creating the section in its proper
    /// place when the module has none.
    mutating func appendEntries(sectionID: UInt8, count: Int, entries: [UInt8]) throws(EnclaveError) {
        guard count > 0 else { return }
        if let index = sections.firstIndex(where: { $0.id == sectionID }) {
            var reader = Reader(bytes: sections[index].contents, offset: 0)
            let existing = try reader.u32()
            var contents: [UInt8] = []
            Self.appendLEB128(UInt64(existing) + UInt64(count), to: &contents)
            contents += sections[index].contents[reader.offset...]
            contents += entries
            sections[index].contents = contents
        } else {
            var contents: [UInt8] = []
            Self.appendLEB128(UInt64(count), to: &contents)
            contents += entries
            let rank = Self.order.firstIndex(of: sectionID)!
            let insertAt = sections.firstIndex { section in
                guard let other = Self.order.firstIndex(of: section.id) else { return false }
                return other > rank
            } ?? sections.count
            sections.insert(Section(id: sectionID, contents: contents), at: insertAt)
        }
    }

    static func appendLEB128(_ value: UInt64, to out: inout [UInt8]) {
        var value = value
        repeat {
            var byte = UInt8(value & 0x7F)
            value >>= 7
            if value != 0 { byte |= 0x80 }
            out.append(byte)
        } while value != 0
    }

    static func appendSignedLEB128(_ value: Int64, to out: inout [UInt8]) {
        var value = value
        while true {
            let byte = UInt8(value & 0x7F)
            value >>= 7
            let done = (value == 0 && byte & 0x40 == 0) || (value == -1 && byte & 0x40 != 0)
            out.append(done ? byte : byte | 0x80)
            if done { return }
        }
    }

    static func appendName(_ name: String, to out: inout [UInt8]) {
        let utf8 = Array(name.utf8)
        appendLEB128(UInt64(utf8.count), to: &out)
        out += utf8
    }

    struct Reader {
        let bytes: [UInt8]
        var offset: Int

        var isAtEnd: Bool { offset >= bytes.count }

        mutating func byte() throws(EnclaveError) -> UInt8 {
            guard offset < bytes.count else { throw Self.truncated }
            defer { offset += 1 }
            return bytes[offset]
        }

        mutating func bytes(count: Int) throws(EnclaveError) -> [UInt8] {
            guard count >= 0, count <= bytes.count - offset else { throw Self.truncated }
            defer { offset += count }
            return Array(bytes[offset..<offset + count])
        }

        /// An unsigned LEB128 of at most `bits` bits, refused when longer or larger.
        mutating func leb128(bits: UInt64 = 64) throws(EnclaveError) -> UInt64 {
            var result: UInt64 = 0
            var shift: UInt64 = 0
            let start = offset
            while true {
                let next = try byte()
                let payload = UInt64(next & 0x7F)
                // The last byte may hold only the bits that remain of the width.
                guard shift < bits, bits - shift >= 7 || payload >> (bits - shift) == 0 else {
                    throw EnclaveError(.invalidModule, "malformed WebAssembly module: the integer at byte \(start) does not fit in \(bits) bits")
                }
                result |= payload << shift
                if next & 0x80 == 0 { return result }
                shift += 7
            }
        }

        /// A `u32`, the width of every size, count and index in the binary format.
        mutating func u32() throws(EnclaveError) -> UInt32 {
            UInt32(truncatingIfNeeded: try leb128(bits: 32))
        }

        /// Skips a signed LEB128 of at most `bits` bits (a heap type, a constant).
        mutating func skipSigned(bits: UInt64) throws(EnclaveError) {
            var shift: UInt64 = 0
            let start = offset
            while try byte() & 0x80 != 0 {
                shift += 7
                guard shift < bits else {
                    throw EnclaveError(.invalidModule, "malformed WebAssembly module: the integer at byte \(start) does not fit in \(bits) bits")
                }
            }
        }

        /// Skips `count` bytes.
        mutating func skip(_ count: Int) throws(EnclaveError) {
            guard count >= 0, count <= bytes.count - offset else { throw Self.truncated }
            offset += count
        }

        var remaining: Int { bytes.count - offset }

        static let truncated = EnclaveError(.invalidModule, "malformed WebAssembly module: a section runs past the end of the file")
    }
}
