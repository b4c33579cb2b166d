// Binary HTTP (RFC 9292) encoding and decoding.
//
// A message is a framing indicator, control data (the request target, or status codes), then three
// sections: header fields, content, trailer fields. Known-length framing (0 request, 1 response)
// prefixes every section with its length; indeterminate-length framing (2, 3) ends field sections
// with a zero and sends content as chunks ended by a zero. All integers are QUIC variable-length
// integers (RFC 9000 §16). Decoding reads untrusted bytes, so every length is checked against what
// is left before it is used: bad input throws a `WireError`, never traps.

extension BinaryHTTPRequest {
    /// Decodes a request in either framing: known-length (indicator 0) or indeterminate-length (2).
    ///
    /// Sections missing at the end are empty (RFC 9292 §3.8 lets an encoder omit them), and zero
    /// padding after the message is ignored. Throws ``WireError`` for anything else: truncation inside
    /// a part, a length that overruns its section, a response's framing indicator, non-zero bytes after
    /// the message, or a field that HTTP forbids (see ``WireError/Code/invalidField``).
    public init(decoding bytes: [UInt8]) throws(WireError) {
        var reader = BinaryHTTPReader(bytes[...], label: "Binary HTTP request")
        let framing: BinaryHTTPFraming
        switch try reader.readVarint("the framing indicator") {
        case 0: framing = .knownLength
        case 2: framing = .indeterminateLength
        case let other:
            let hint = other == 1 || other == 3 ? " (\(other) marks a response)" : ""
            throw WireError(
                .invalidFramingIndicator,
                "Binary HTTP request: framing indicator \(other) is not 0 (known-length) or 2 (indeterminate-length)\(hint)"
            )
        }
        method = try reader.readControlText("the method", isToken: true)
        scheme = try reader.readControlText("the scheme")
        authority = try reader.readControlText("the authority")
        path = try reader.readControlText("the path")
        headerFields = try reader.readFieldSection(framing, "the header section")
        content = try reader.readContent(framing)
        trailerFields = try reader.readFieldSection(framing, "the trailer section")
        try reader.expectPadding()
    }

    /// Encodes the request with known-length framing (indicator 0), integers in their shortest form.
    ///
    /// Field names are lowercased. With `truncatingEmptySections`, empty trailing sections (trailers,
    /// then content, then headers) are left out as RFC 9292 §3.8 allows; that is how the RFC 9458
    /// test vectors are written, and it saves a few bytes. Throws ``WireError`` with
    /// ``WireError/Code/invalidField`` for a method that is not an HTTP token, a field name that is
    /// not a token, or a CR, LF or NUL in any value: such a message would not decode.
    public func encoded(truncatingEmptySections: Bool = false) throws(WireError) -> [UInt8] {
        var writer = BinaryHTTPWriter(label: "Binary HTTP request")
        writer.writeVarint(0)
        try writer.writeControlText(method, "the method", isToken: true)
        try writer.writeControlText(scheme, "the scheme")
        try writer.writeControlText(authority, "the authority")
        try writer.writeControlText(path, "the path")
        try writer.writeSections(headerFields, content, trailerFields, truncating: truncatingEmptySections)
        return writer.bytes
    }
}

extension BinaryHTTPResponse {
    /// Decodes a response in either framing: known-length (indicator 1) or indeterminate-length (3).
    ///
    /// Informational (1xx) responses before the final one are parsed and kept. Throws ``WireError``
    /// for a status code outside 100–599, a message that ends after an informational response, and
    /// the same framing, length, padding and field errors as ``BinaryHTTPRequest/init(decoding:)``.
    public init(decoding bytes: [UInt8]) throws(WireError) {
        var reader = BinaryHTTPReader(bytes[...], label: "Binary HTTP response")
        let framing: BinaryHTTPFraming
        switch try reader.readVarint("the framing indicator") {
        case 1: framing = .knownLength
        case 3: framing = .indeterminateLength
        case let other:
            let hint = other == 0 || other == 2 ? " (\(other) marks a request)" : ""
            throw WireError(
                .invalidFramingIndicator,
                "Binary HTTP response: framing indicator \(other) is not 1 (known-length) or 3 (indeterminate-length)\(hint)"
            )
        }
        // Informational (1xx) responses come first; the first status of 200 or more is the final one.
        var informational: [Informational] = []
        var code = try reader.readVarint("the status code")
        while (100..<200).contains(code) {
            let fields = try reader.readFieldSection(framing, "the header section of the \(code) response")
            informational.append(Informational(status: Int(code), headerFields: fields))
            if reader.isAtEnd {
                throw WireError(
                    .invalidStatusCode,
                    "Binary HTTP response: the message ends after informational status \(code); a final status (200–599) must follow"
                )
            }
            code = try reader.readVarint("the status code")
        }
        guard (200..<600).contains(code) else {
            throw WireError(.invalidStatusCode, "Binary HTTP response: status code \(code) is outside 100–599")
        }
        status = Int(code)
        informationalResponses = informational
        headerFields = try reader.readFieldSection(framing, "the header section")
        content = try reader.readContent(framing)
        trailerFields = try reader.readFieldSection(framing, "the trailer section")
        try reader.expectPadding()
    }

    /// Encodes the response with known-length framing (indicator 1), integers in their shortest form.
    ///
    /// Field names are lowercased; `truncatingEmptySections` is as for
    /// ``BinaryHTTPRequest/encoded(truncatingEmptySections:)``. Throws ``WireError`` with
    /// ``WireError/Code/invalidStatusCode`` for a final status outside 200–599 or an informational one
    /// outside 100–199, and ``WireError/Code/invalidField`` for a field that would not decode.
    public func encoded(truncatingEmptySections: Bool = false) throws(WireError) -> [UInt8] {
        var writer = BinaryHTTPWriter(label: "Binary HTTP response")
        writer.writeVarint(1)
        for response in informationalResponses {
            guard (100..<200).contains(response.status) else {
                throw WireError(
                    .invalidStatusCode,
                    "Binary HTTP response: informational status \(response.status) is outside 100–199"
                )
            }
            let section = try writer.fieldSection(response.headerFields, "the header section of the \(response.status) response")
            writer.writeVarint(UInt64(response.status))
            writer.bytes += section
        }
        guard (200..<600).contains(status) else {
            throw WireError(.invalidStatusCode, "Binary HTTP response: final status \(status) is outside 200–599")
        }
        writer.writeVarint(UInt64(status))
        try writer.writeSections(headerFields, content, trailerFields, truncating: truncatingEmptySections)
        return writer.bytes
    }
}

// MARK: - Framing, reading and writing

enum BinaryHTTPFraming {
    case knownLength
    case indeterminateLength
}

/// Reads the parts of a Binary HTTP message from untrusted bytes, throwing on every bad length.
struct BinaryHTTPReader {
    private let bytes: ArraySlice<UInt8>
    private var position: Int
    /// Prefixes error messages: "Binary HTTP request" or "Binary HTTP response".
    private let label: String
    /// What the bytes are, for error messages: the whole message, or one known-length section.
    private let container: String
    /// Running out of the whole message means it was cut short (`truncated`); running out of a
    /// known-length section means a length inside it disagrees with the section's own (`malformed`).
    private let shortage: WireError.Code

    init(_ bytes: ArraySlice<UInt8>, label: String, container: String = "the message", shortage: WireError.Code = .truncated) {
        self.bytes = bytes
        self.position = bytes.startIndex
        self.label = label
        self.container = container
        self.shortage = shortage
    }

    var isAtEnd: Bool { position == bytes.endIndex }
    private var remaining: Int { bytes.endIndex - position }

    /// A QUIC variable-length integer: the top two bits of the first byte give its length (1, 2, 4 or 8).
    mutating func readVarint(_ what: String) throws(WireError) -> UInt64 {
        guard position < bytes.endIndex else { throw short(what, needing: 1) }
        let length = 1 << Int(bytes[position] >> 6)
        guard remaining >= length else { throw short(what, needing: length) }
        var value = UInt64(bytes[position] & 0x3F)
        for byte in bytes[(position + 1)..<(position + length)] {
            value = value << 8 | UInt64(byte)
        }
        position += length
        return value
    }

    mutating func read(count: UInt64, _ what: String) throws(WireError) -> ArraySlice<UInt8> {
        // Compare as UInt64 before converting: a hostile length may not fit in an Int.
        guard count <= UInt64(remaining) else { throw short(what, needing: count) }
        let start = position
        position += Int(count)
        return bytes[start..<position]
    }

    mutating func readLengthPrefixed(_ what: String) throws(WireError) -> ArraySlice<UInt8> {
        let count = try readVarint("the length of \(what)")
        return try read(count: count, what)
    }

    /// One part of the request control data: length-prefixed UTF-8 text free of CR, LF and NUL.
    mutating func readControlText(_ what: String, isToken: Bool = false) throws(WireError) -> String {
        let raw = try readLengthPrefixed(what)
        return try BinaryHTTPText.decode(raw, what, label: label, isToken: isToken)
    }

    /// A header or trailer section in the given framing; a section missing at the end of the message is empty.
    mutating func readFieldSection(_ framing: BinaryHTTPFraming, _ section: String) throws(WireError) -> [BinaryHTTPField] {
        if isAtEnd { return [] }
        var fields: [BinaryHTTPField] = []
        switch framing {
        case .knownLength:
            let body = try readLengthPrefixed(section)
            var lines = BinaryHTTPReader(body, label: label, container: section, shortage: .malformed)
            while !lines.isAtEnd {
                let name = try lines.readLengthPrefixed("a field name")
                let value = try lines.readLengthPrefixed("a field value")
                fields.append(try BinaryHTTPText.field(name, value, in: section, label: label))
            }
        case .indeterminateLength:
            // Field lines until a zero name length, which is the section's terminator.
            while true {
                let nameLength = try readVarint("\(section) (a field name length or its zero terminator)")
                if nameLength == 0 { break }
                let name = try read(count: nameLength, "a field name in \(section)")
                let value = try readLengthPrefixed("a field value in \(section)")
                fields.append(try BinaryHTTPText.field(name, value, in: section, label: label))
            }
        }
        return fields
    }

    /// The content in the given framing; content missing at the end of the message is empty.
    mutating func readContent(_ framing: BinaryHTTPFraming) throws(WireError) -> [UInt8] {
        if isAtEnd { return [] }
        switch framing {
        case .knownLength:
            return Array(try readLengthPrefixed("the content"))
        case .indeterminateLength:
            // Non-empty chunks until a zero length.
            var content: [UInt8] = []
            while true {
                let count = try readVarint("the content (a chunk length or its zero terminator)")
                if count == 0 { return content }
                content += try read(count: count, "a content chunk")
            }
        }
    }

    /// Only zero bytes may follow a message: they are padding (RFC 9292 §3.8).
    func expectPadding() throws(WireError) {
        if let index = bytes[position...].firstIndex(where: { $0 != 0 }) {
            let offset = index - bytes.startIndex
            throw WireError(
                .malformed,
                "\(label): byte \(offset) is \(bytes[index]) but only zero padding may follow the end of the message"
            )
        }
    }

    private func short(_ what: String, needing needed: some BinaryInteger) -> WireError {
        WireError(shortage, "\(label): \(container) ends inside \(what), which needs \(needed) byte\(needed == 1 ? "" : "s") but \(remaining) remain")
    }
}

/// Builds a known-length Binary HTTP message.
struct BinaryHTTPWriter {
    var bytes: [UInt8] = []
    let label: String

    init(label: String) {
        self.label = label
    }

    /// The shortest QUIC variable-length encoding of `value`.
    mutating func writeVarint(_ value: UInt64) {
        // Every value written is a count of bytes in memory or a status code, far below 2^62.
        precondition(value < 1 << 62, "Binary HTTP integer \(value) does not fit in 62 bits")
        switch value {
        case ..<(1 << 6): bytes.append(UInt8(value))
        case ..<(1 << 14): append(value | 0x4000, byteCount: 2)
        case ..<(1 << 30): append(value | 0x8000_0000, byteCount: 4)
        default: append(value | 0xC000_0000_0000_0000, byteCount: 8)
        }
    }

    private mutating func append(_ value: UInt64, byteCount: Int) {
        for shift in stride(from: (byteCount - 1) * 8, through: 0, by: -8) {
            bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift)))
        }
    }

    mutating func writeLengthPrefixed(_ data: some Collection<UInt8>) {
        writeVarint(UInt64(data.count))
        bytes += data
    }

    mutating func writeControlText(_ text: String, _ what: String, isToken: Bool = false) throws(WireError) {
        try BinaryHTTPText.check(Array(text.utf8), what, label: label, isToken: isToken)
        writeLengthPrefixed(text.utf8)
    }

    /// A known-length field section, length prefix included, with names lowercased.
    func fieldSection(_ fields: [BinaryHTTPField], _ section: String) throws(WireError) -> [UInt8] {
        var lines = BinaryHTTPWriter(label: label)
        for field in fields {
            // ASCII-only lowercasing: names are tokens, and Unicode case mapping could change their length.
            let name = field.name.utf8.map { (0x41...0x5A).contains($0) ? $0 | 0x20 : $0 }
            let value = Array(field.value.utf8)
            try BinaryHTTPText.checkField(name, value, in: section, label: label)
            lines.writeLengthPrefixed(name)
            lines.writeLengthPrefixed(value)
        }
        var prefixed = BinaryHTTPWriter(label: label)
        prefixed.writeLengthPrefixed(lines.bytes)
        return prefixed.bytes
    }

    /// Headers, content and trailers; with `truncating`, empty sections at the end are left out.
    mutating func writeSections(
        _ headers: [BinaryHTTPField], _ content: [UInt8], _ trailers: [BinaryHTTPField], truncating: Bool
    ) throws(WireError) {
        var contentSection = BinaryHTTPWriter(label: label)
        contentSection.writeLengthPrefixed(content)
        var sections = [
            try fieldSection(headers, "the header section"),
            contentSection.bytes,
            try fieldSection(trailers, "the trailer section"),
        ]
        // An empty section encodes as the single byte 0 (a zero length).
        while truncating, sections.last == [0] {
            sections.removeLast()
        }
        for section in sections {
            bytes += section
        }
    }
}

/// The checks HTTP/2 and HTTP/3 apply to fields (RFC 9113 §8.2.1), applied to Binary HTTP too.
///
/// A server replays these requests, possibly over HTTP/1.1, so a CR or LF in a value or a name that
/// is not a token would let a client smuggle a second request or header past whatever checks the first.
enum BinaryHTTPText {
    private static let tokenSymbols = Set("!#$%&'*+-.^_`|~".utf8)

    /// tchar from RFC 9110 §5.6.2, less the uppercase letters when `allowUppercase` is false.
    static func isToken(_ bytes: some Collection<UInt8>, allowUppercase: Bool) -> Bool {
        !bytes.isEmpty
            && bytes.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
                case UInt8(ascii: "A")...UInt8(ascii: "Z"): allowUppercase
                default: tokenSymbols.contains(byte)
                }
            }
    }

    static func hasLineBreakOrNUL(_ bytes: some Collection<UInt8>) -> Bool {
        bytes.contains { $0 == 0x00 || $0 == 0x0A || $0 == 0x0D }
    }

    /// The bytes shown in an error message: quoted, escaped, and cut short if long.
    static func quoted(_ bytes: some Collection<UInt8>) -> String {
        let text = String(decoding: bytes.prefix(64), as: UTF8.self).debugDescription
        return bytes.count > 64 ? text + "…" : text
    }

    static func check(_ bytes: some Collection<UInt8>, _ what: String, label: String, isToken: Bool) throws(WireError) {
        if isToken, !Self.isToken(bytes, allowUppercase: true) {
            throw WireError(.invalidField, "\(label): \(what) \(quoted(bytes)) is not an HTTP token")
        }
        if hasLineBreakOrNUL(bytes) {
            throw WireError(.invalidField, "\(label): \(what) \(quoted(bytes)) contains a CR, LF or NUL")
        }
    }

    static func decode(_ bytes: ArraySlice<UInt8>, _ what: String, label: String, isToken: Bool) throws(WireError) -> String {
        try check(bytes, what, label: label, isToken: isToken)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw WireError(.invalidField, "\(label): \(what) \(quoted(bytes)) is not valid UTF-8")
        }
        return text
    }

    static func checkField(_ name: some Collection<UInt8>, _ value: some Collection<UInt8>, in section: String, label: String) throws(WireError) {
        guard isToken(name, allowUppercase: false) else {
            throw WireError(.invalidField, "\(label): field name \(quoted(name)) in \(section) is not a lowercase HTTP token")
        }
        if hasLineBreakOrNUL(value) {
            throw WireError(.invalidField, "\(label): the value of field \(quoted(name)) in \(section) contains a CR, LF or NUL")
        }
    }

    static func field(_ name: ArraySlice<UInt8>, _ value: ArraySlice<UInt8>, in section: String, label: String) throws(WireError) -> BinaryHTTPField {
        try checkField(name, value, in: section, label: label)
        guard let valueText = String(validating: value, as: UTF8.self) else {
            throw WireError(.invalidField, "\(label): the value of field \(quoted(name)) in \(section) is not valid UTF-8")
        }
        // A lowercase token is ASCII, so the name is valid UTF-8.
        return BinaryHTTPField(String(decoding: name, as: UTF8.self), valueText)
    }
}
