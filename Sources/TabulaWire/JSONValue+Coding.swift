public import Foundation

extension JSONValue {
    /// Parses one JSON document.
    public init(parsing bytes: some Sequence<UInt8>) throws {
        self = try JSONDecoder().decode(JSONValue.self, from: Data(bytes))
    }

    /// Parses one JSON document from text.
    public init(parsing text: String) throws {
        try self.init(parsing: Array(text.utf8))
    }

    /// The canonical encoding: compact, keys sorted, slashes unescaped.
    public var encoded: [UInt8] {
        Array(Self.encode(self))
    }

    /// The canonical encoding as text.
    public var encodedString: String {
        String(decoding: encoded, as: UTF8.self)
    }

    /// Encodes any `Encodable` value the canonical way (compact, keys sorted).
    public static func encode(_ value: some Encodable) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding our own value types cannot fail: they hold no non-finite numbers
        // (the decoder never produces them) and no non-string keys.
        return (try? encoder.encode(value)) ?? Data("null".utf8)
    }
}
