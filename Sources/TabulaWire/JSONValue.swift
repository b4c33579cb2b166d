/// A JSON value: the parameters a function receives and the result it returns.
///
/// Objects are kept as dictionaries; encoders in this package write keys sorted so that the
/// same value always serialises to the same bytes (results are hashed into receipts).
///
/// Numbers keep every digit: what a function prints is what its caller gets. The parser gives
/// each number text one case: ``integer(_:)`` when it is an `Int64` written the usual way,
/// ``number(_:)`` when it is the shortest text of its `Double` (`0.5`, `-2.25`), and otherwise
/// ``numberLiteral(_:)`` with the text itself (`18446744073709551615`, `1e400`, `-0`, `1.0`,
/// `0.1000000000000000055511151231257827`), so parsing and writing again gives the same bytes.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    /// A number kept as the text it was written with, valid by RFC 8259's grammar: one that
    /// neither `Int64` nor `Double` would give back as written. Make one with
    /// ``init(numberLiteral:)``, which checks the grammar and picks the canonical case.
    case numberLiteral(String)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])
}

extension JSONValue: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let exact = decoder as? JSONValueDecoder {
            // This package's decoder: the very value parsed, numbers as written.
            self = exact.value
        } else if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .numberLiteral(let text):
            // A foreign encoder cannot write a number's text; the nearest it can carry.
            if let value = Int64(text) {
                try container.encode(value)
            } else if let value = UInt64(text) {
                try container.encode(value)
            } else if let value = Double(text), value.isFinite {
                try container.encode(value)
            } else {
                throw EncodingError.invalidValue(text, EncodingError.Context(
                    codingPath: encoder.codingPath, debugDescription: "the number \(text) fits no Swift number type; encode with JSONValue.encode"))
            }
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}

extension JSONValue {
    /// The members of an object, or `nil` for any other value.
    public var objectValue: [String: JSONValue]? {
        if case .object(let members) = self { return members }
        return nil
    }

    /// The string, or `nil` for any other value.
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// Looks a member up in an object; `nil` for a missing member or a value that is not an object.
    public subscript(key: String) -> JSONValue? {
        objectValue?[key]
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByDictionaryLiteral, ExpressibleByArrayLiteral, ExpressibleByNilLiteral, ExpressibleByFloatLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .integer(value) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(nilLiteral: ()) { self = .null }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}
