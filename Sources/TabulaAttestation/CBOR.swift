/// A CBOR data item (RFC 8949), restricted to what attestation formats need.
///
/// Interoperable RA-TLS carries its evidence and claims as CBOR, and the claims are hashed into the
/// hardware report data, so both directions must be exact: the encoder writes the deterministic
/// encoding (shortest arguments, definite lengths, map keys sorted by their encoded bytes), and the
/// decoder accepts only shortest arguments and definite lengths, refuses duplicate map keys, simple
/// values, floats, nesting deeper than ``maximumDepth`` and trailing bytes. Every failure is an
/// `AttestationError(.malformed)`; no input can make it trap or allocate more than the input's size.
enum CBOR: Sendable, Hashable {
    /// Major type 0: an unsigned integer.
    case unsigned(UInt64)
    /// Major type 1: the integer `-1 - n`.
    case negative(UInt64)
    /// Major type 2: a byte string.
    case bytes([UInt8])
    /// Major type 3: a UTF-8 text string.
    case text(String)
    /// Major type 4: an array.
    case array([CBOR])
    /// Major type 5: a map, in the order given (the encoder sorts it).
    case map([Entry])
    /// Major type 6: a tagged item.
    indirect case tagged(UInt64, CBOR)

    /// One key/value pair of a map.
    struct Entry: Sendable, Hashable {
        var key: CBOR
        var value: CBOR

        init(_ key: CBOR, _ value: CBOR) {
            self.key = key
            self.value = value
        }
    }

    /// How deep arrays, maps and tags may nest before the decoder refuses the input.
    static let maximumDepth = 16

    /// The value of the entry whose key is the text `key`, if any.
    subscript(key: String) -> CBOR? {
        guard case .map(let entries) = self else { return nil }
        return entries.first { $0.key == .text(key) }?.value
    }
}

// MARK: - Encoding

extension CBOR {
    /// The deterministic encoding (RFC 8949 §4.2.1).
    var encoded: [UInt8] {
        var out: [UInt8] = []
        encode(into: &out)
        return out
    }

    private func encode(into out: inout [UInt8]) {
        switch self {
        case .unsigned(let value):
            Self.head(0, value, into: &out)
        case .negative(let value):
            Self.head(1, value, into: &out)
        case .bytes(let bytes):
            Self.head(2, UInt64(bytes.count), into: &out)
            out += bytes
        case .text(let text):
            let utf8 = Array(text.utf8)
            Self.head(3, UInt64(utf8.count), into: &out)
            out += utf8
        case .array(let items):
            Self.head(4, UInt64(items.count), into: &out)
            for item in items { item.encode(into: &out) }
        case .map(let entries):
            Self.head(5, UInt64(entries.count), into: &out)
            let pairs = entries.map { (key: $0.key.encoded, value: $0.value.encoded) }
            for pair in pairs.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
                out += pair.key
                out += pair.value
            }
        case .tagged(let tag, let item):
            Self.head(6, tag, into: &out)
            item.encode(into: &out)
        }
    }

    /// The initial byte and argument in the shortest form.
    private static func head(_ major: UInt8, _ argument: UInt64, into out: inout [UInt8]) {
        let type = major << 5
        switch argument {
        case 0..<24:
            out.append(type | UInt8(argument))
        case 24...0xFF:
            out += [type | 24, UInt8(argument)]
        case 0x100...0xFFFF:
            out.append(type | 25)
            out += (0..<2).reversed().map { UInt8(truncatingIfNeeded: argument >> ($0 * 8)) }
        case 0x1_0000...0xFFFF_FFFF:
            out.append(type | 26)
            out += (0..<4).reversed().map { UInt8(truncatingIfNeeded: argument >> ($0 * 8)) }
        default:
            out.append(type | 27)
            out += (0..<8).reversed().map { UInt8(truncatingIfNeeded: argument >> ($0 * 8)) }
        }
    }
}

// MARK: - Decoding

extension CBOR {
    /// Decodes exactly one data item that fills `bytes`.
    init(decoding bytes: [UInt8]) throws(AttestationError) {
        var reader = Reader(bytes: bytes)
        self = try reader.item(depth: 0)
        guard reader.offset == bytes.count else {
            throw AttestationError(.malformed, "CBOR: \(bytes.count - reader.offset) trailing bytes after the data item")
        }
    }

    private struct Reader {
        let bytes: [UInt8]
        var offset = 0

        var remaining: Int { bytes.count - offset }

        func fail(_ what: String) -> AttestationError {
            AttestationError(.malformed, "CBOR: \(what) at offset \(offset)")
        }

        mutating func take(_ count: Int) throws(AttestationError) -> [UInt8] {
            guard count >= 0, count <= remaining else { throw fail("truncated (\(count) bytes needed, \(remaining) left)") }
            defer { offset += count }
            return Array(bytes[offset..<(offset + count)])
        }

        /// Reads an initial byte and its argument, refusing indefinite lengths and non-shortest forms.
        mutating func head() throws(AttestationError) -> (major: UInt8, argument: UInt64) {
            let initial = try take(1)[0]
            let major = initial >> 5
            let info = initial & 0x1F
            switch info {
            case 0..<24:
                return (major, UInt64(info))
            case 24...27:
                let width = 1 << Int(info - 24)
                let value = try take(width).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                let shortest: UInt64 = switch width {
                case 1: 24
                case 2: 0x100
                case 4: 0x1_0000
                default: 0x1_0000_0000
                }
                guard value >= shortest else { throw fail("argument \(value) not in its shortest form") }
                return (major, value)
            case 31:
                throw fail("indefinite length")
            default:
                throw fail("reserved additional information \(info)")
            }
        }

        /// A length that the rest of the input can hold (each element needs at least `unit` bytes).
        func length(_ argument: UInt64, unit: Int) throws(AttestationError) -> Int {
            guard argument <= UInt64(remaining / unit) else {
                throw fail("length \(argument) exceeds the \(remaining) bytes left")
            }
            return Int(argument)
        }

        mutating func item(depth: Int) throws(AttestationError) -> CBOR {
            guard depth <= CBOR.maximumDepth else { throw fail("nesting deeper than \(CBOR.maximumDepth)") }
            let (major, argument) = try head()
            switch major {
            case 0:
                return .unsigned(argument)
            case 1:
                return .negative(argument)
            case 2:
                return .bytes(try take(length(argument, unit: 1)))
            case 3:
                let utf8 = try take(length(argument, unit: 1))
                guard let text = String(validating: utf8, as: UTF8.self) else { throw fail("text string is not UTF-8") }
                return .text(text)
            case 4:
                let count = try length(argument, unit: 1)
                var items: [CBOR] = []
                items.reserveCapacity(count)
                for _ in 0..<count { items.append(try item(depth: depth + 1)) }
                return .array(items)
            case 5:
                let count = try length(argument, unit: 2)
                var entries: [Entry] = []
                entries.reserveCapacity(count)
                var keys = Set<CBOR>()
                for _ in 0..<count {
                    let key = try item(depth: depth + 1)
                    guard keys.insert(key).inserted else { throw fail("duplicate map key") }
                    entries.append(Entry(key, try item(depth: depth + 1)))
                }
                return .map(entries)
            case 6:
                return .tagged(argument, try item(depth: depth + 1))
            default:
                throw fail("simple values and floats are not supported")
            }
        }
    }
}
