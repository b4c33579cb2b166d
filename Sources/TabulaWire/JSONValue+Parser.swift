extension JSONValue {
    /// A strict JSON parser (RFC 8259) into ``JSONValue``: one value, optional surrounding
    /// whitespace, nothing after it; strings must be valid UTF-8 with valid escapes; nesting is
    /// bounded. Numbers keep their text when `Int64` or `Double` would change it (see ``JSONValue``).
    ///
    /// Hand-written rather than Foundation's `JSONDecoder`: every invocation parses its
    /// parameters and its result, and this is several times faster.
    struct Parser {
        private let bytes: UnsafeBufferPointer<UInt8>
        private var index = 0
        private var depth = 0
        private let maximumDepth: Int

        struct Failure: Error, CustomStringConvertible {
            let description: String
            /// Set when the document nests deeper than allowed; it may be well-formed otherwise.
            var tooDeep = false
        }

        static func parse(_ bytes: UnsafeBufferPointer<UInt8>, maximumDepth: Int = JSONValue.maximumDepth) throws -> JSONValue {
            var parser = Parser(bytes: bytes, maximumDepth: maximumDepth)
            parser.skipWhitespace()
            let value = try parser.value()
            parser.skipWhitespace()
            guard parser.index == bytes.count else { throw parser.failure("unexpected text after the JSON value") }
            return value
        }

        private init(bytes: UnsafeBufferPointer<UInt8>, maximumDepth: Int) {
            self.bytes = bytes
            self.maximumDepth = maximumDepth
        }

        private func failure(_ what: String) -> Failure {
            Failure(description: "\(what) at byte \(index)")
        }

        private mutating func skipWhitespace() {
            while index < bytes.count, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[index]) { index += 1 }
        }

        private mutating func value() throws -> JSONValue {
            guard index < bytes.count else { throw failure("the JSON ends early") }
            switch bytes[index] {
            case UInt8(ascii: "{"): return try object()
            case UInt8(ascii: "["): return try array()
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try literal("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
            default: throw failure("unexpected character")
            }
        }

        private mutating func literal(_ text: StaticString) throws {
            let count = text.utf8CodeUnitCount
            guard index + count <= bytes.count,
                  (0..<count).allSatisfy({ bytes[index + $0] == text.utf8Start[$0] })
            else { throw failure("invalid literal") }
            index += count
        }

        private mutating func nest() throws {
            depth += 1
            guard depth <= maximumDepth else {
                var failure = failure("the JSON nests deeper than \(maximumDepth) levels")
                failure.tooDeep = true
                throw failure
            }
        }

        private mutating func object() throws -> JSONValue {
            try nest()
            index += 1
            var members: [String: JSONValue] = [:]
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                index += 1
                depth -= 1
                return .object(members)
            }
            while true {
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw failure("expected a member name") }
                let key = try string()
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw failure("expected ':'") }
                index += 1
                skipWhitespace()
                members[key] = try value()
                skipWhitespace()
                guard index < bytes.count else { throw failure("the object is not closed") }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                guard bytes[index] == UInt8(ascii: "}") else { throw failure("expected ',' or '}'") }
                index += 1
                depth -= 1
                return .object(members)
            }
        }

        private mutating func array() throws -> JSONValue {
            try nest()
            index += 1
            var items: [JSONValue] = []
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                index += 1
                depth -= 1
                return .array(items)
            }
            while true {
                skipWhitespace()
                items.append(try value())
                skipWhitespace()
                guard index < bytes.count else { throw failure("the array is not closed") }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                guard bytes[index] == UInt8(ascii: "]") else { throw failure("expected ',' or ']'") }
                index += 1
                depth -= 1
                return .array(items)
            }
        }

        private mutating func string() throws -> String {
            index += 1
            let start = index
            // The common case: no escapes, so the bytes are the string.
            while index < bytes.count, bytes[index] != UInt8(ascii: "\""), bytes[index] != UInt8(ascii: "\\") {
                guard bytes[index] >= 0x20 else { throw failure("a control character inside a string") }
                index += 1
            }
            guard index < bytes.count else { throw failure("the string is not closed") }
            var utf8 = Array(bytes[start..<index])
            while bytes[index] != UInt8(ascii: "\"") {
                index += 1  // the backslash
                guard index < bytes.count else { throw failure("the string is not closed") }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(escape)
                case UInt8(ascii: "b"): utf8.append(0x08)
                case UInt8(ascii: "f"): utf8.append(0x0C)
                case UInt8(ascii: "n"): utf8.append(0x0A)
                case UInt8(ascii: "r"): utf8.append(0x0D)
                case UInt8(ascii: "t"): utf8.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                            throw failure("a lone UTF-16 surrogate")
                        }
                        index += 2
                        let low = try hex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw failure("a lone UTF-16 surrogate") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        throw failure("a lone UTF-16 surrogate")
                    }
                    utf8.append(contentsOf: String(Character(Unicode.Scalar(scalar)!)).utf8)
                default:
                    throw failure("an invalid escape")
                }
                while index < bytes.count, bytes[index] != UInt8(ascii: "\""), bytes[index] != UInt8(ascii: "\\") {
                    guard bytes[index] >= 0x20 else { throw failure("a control character inside a string") }
                    utf8.append(bytes[index])
                    index += 1
                }
                guard index < bytes.count else { throw failure("the string is not closed") }
            }
            index += 1
            guard let text = String(validating: utf8, as: UTF8.self) else { throw failure("a string that is not valid UTF-8") }
            return text
        }

        private mutating func hex4() throws -> UInt32 {
            guard index + 4 <= bytes.count else { throw failure("a short \\u escape") }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[index]
                let digit: UInt32
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
                default: throw failure("an invalid \\u escape")
                }
                value = value << 4 | digit
                index += 1
            }
            return value
        }

        private mutating func number() throws -> JSONValue {
            let start = index
            if bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) else { throw failure("an invalid number") }
            if bytes[index] == UInt8(ascii: "0") {
                index += 1
            } else {
                while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
            }
            var integral = true
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                integral = false
                index += 1
                let digits = index
                while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
                guard index > digits else { throw failure("an invalid number") }
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
                integral = false
                index += 1
                if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
                let digits = index
                while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
                guard index > digits else { throw failure("an invalid number") }
            }
            return JSONValue(checkedNumber: String(decoding: bytes[start..<index], as: UTF8.self), integral: integral)
        }
    }
}

extension JSONValue {
    /// A number from its text, exactly as written, in its canonical case (see ``JSONValue``);
    /// `nil` unless `text` is one number by RFC 8259's grammar, with nothing around it.
    public init?(numberLiteral text: String) {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, let last = bytes.last, first == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first),
              (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(last),
              let value = try? JSONValue(parsing: bytes)
        else { return nil }
        self = value
    }

    /// The case for a number text the parser checked; `integral` when it has no fraction and no exponent.
    init(checkedNumber text: String, integral: Bool) {
        // The grammar allows no leading zeros, so an integer text that Int64 reads is the one it
        // writes, but for "-0".
        if integral, text != "-0", let value = Int64(text) {
            self = .integer(value)
        } else if !integral, let value = Double(text), value.isFinite, Self.text(of: value) == text {
            self = .number(value)
        } else {
            self = .numberLiteral(text)
        }
    }
}
