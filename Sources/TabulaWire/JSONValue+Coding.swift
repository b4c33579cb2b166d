public import Foundation

extension JSONValue {
    /// How deep objects and arrays may nest in a document that ``init(parsing:maximumDepth:)`` reads
    /// by default: deep enough for any real document, shallow enough that no parse or walk of the
    /// value exhausts a stack.
    public static let maximumDepth = 512

    /// Parses one JSON document.
    ///
    /// - Parameter maximumDepth: how deep objects and arrays may nest; a deeper document is refused
    ///   (see ``isTooDeep(_:)``).
    public init(parsing bytes: some Sequence<UInt8>, maximumDepth: Int = JSONValue.maximumDepth) throws {
        let parsed = try bytes.withContiguousStorageIfAvailable { try Parser.parse($0, maximumDepth: maximumDepth) }
        if let parsed {
            self = parsed
        } else {
            self = try Array(bytes).withUnsafeBufferPointer { try Parser.parse($0, maximumDepth: maximumDepth) }
        }
    }

    /// Whether `error`, thrown by ``init(parsing:maximumDepth:)``, says the document nests too deep.
    public static func isTooDeep(_ error: any Error) -> Bool {
        (error as? Parser.Failure)?.tooDeep == true
    }

    /// Parses one JSON document from text.
    public init(parsing text: String) throws {
        try self.init(parsing: Array(text.utf8))
    }

    /// The canonical encoding: compact, keys sorted, slashes unescaped.
    public var encoded: [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(64)
        write(to: &output)
        return output
    }

    /// The canonical encoding as text.
    public var encodedString: String {
        String(decoding: encoded, as: UTF8.self)
    }

    /// Encodes any `Encodable` value the canonical way (compact, keys sorted).
    ///
    /// Dates and data use their own `Encodable` conformances (numbers and arrays), unlike
    /// `JSONEncoder`'s strategies; our wire types carry neither.
    public static func encode(_ value: some Encodable) -> Data {
        Data(bytes(value))
    }

    /// ``encode(_:)`` as bytes.
    public static func bytes(_ value: some Encodable) -> [UInt8] {
        general(value)
    }

    private static func general(_ value: some Encodable) -> [UInt8] {
        if let output = handWritten(value) { return output }
        if let json = try? JSONValueEncoder.encode(value) { return json.encoded }
        // An integer beyond `Int64` (or a conformance that throws): Foundation's encoder, with
        // the same canonical options, writes what `JSONValue` cannot hold.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)).map { Array($0) } ?? Array("null".utf8)
    }

    /// The same for a type whose encoding is hand-written, chosen when the type is known where it
    /// is called: no dynamic cast on the confidential hot path.
    package static func bytes(_ value: some JSONValueRepresentable & Encodable) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(512)
        if value.writeJSON(to: &output) { return output }
        return general(value)
    }

    /// The hand-written encoding of a ``JSONValueRepresentable`` value, or of an array of them
    /// (the activations list), or `nil` for the general path.
    private static func handWritten(_ value: some Encodable) -> [UInt8]? {
        var output: [UInt8] = []
        output.reserveCapacity(256)
        if let representable = value as? any JSONValueRepresentable {
            return representable.writeJSON(to: &output) ? output : nil
        }
        guard let items = value as? [any JSONValueRepresentable] else { return nil }
        output.append(UInt8(ascii: "["))
        for (index, item) in items.enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            guard item.writeJSON(to: &output) else { return nil }
        }
        output.append(UInt8(ascii: "]"))
        return output
    }
}
