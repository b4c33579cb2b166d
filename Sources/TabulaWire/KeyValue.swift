/// OpenWhisk's `{"key": …, "value": …}` pair, used for parameters and annotations.
public struct KeyValue: Codable, Sendable, Hashable {
    public var key: String
    public var value: JSONValue

    public init(key: String, value: JSONValue) {
        self.key = key
        self.value = value
    }
}

extension [KeyValue] {
    /// The value of the first pair with the given key.
    public subscript(key: String) -> JSONValue? {
        first { $0.key == key }?.value
    }

    /// The pairs as one JSON object (later keys win).
    public var object: [String: JSONValue] {
        Dictionary(map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })
    }
}
