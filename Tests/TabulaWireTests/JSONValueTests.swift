import Foundation
import Testing
@testable import TabulaWire

@Suite("JSON values: parsing and canonical encoding")
struct JSONValueTests {
    @Test func parsesWhatFoundationParsesToTheSameValue() throws {
        let documents = [
            #"{"a":1,"b":[true,false,null],"c":{"d":"e"},"f":-0.5,"g":1000,"h":"\u00e9\ud83d\ude00\n\"/\\"}"#,
            #"[]"#, #"{}"#, #" [ 1 , 2 ] "#, #""text""#, "12", "-9223372036854775808", "0.1", "2.5e-07",
        ]
        for document in documents {
            let ours = try JSONValue(parsing: document)
            let foundation = try JSONDecoder().decode(JSONValue.self, from: Data(document.utf8))
            #expect(ours == foundation, "\(document)")
        }
    }

    @Test func refusesWhatIsNotJSON() {
        let bad = [
            "", "{", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "01", "1.", ".5", "1e", "+1", "tru", "nul", "\"abc", "\"\\x\"",
            "\"\\ud800\"", "\"\\udc00x\"", "\"a\u{01}b\"", "[1] 2", "{\"a\":1}}", "NaN", "-", "-a", "1e+", "0x10", "1.5.2", "Infinity",
            String(repeating: "[", count: 600) + String(repeating: "]", count: 600),
        ]
        for text in bad {
            #expect(throws: (any Error).self, "\(text.prefix(40))") { try JSONValue(parsing: text) }
        }
        #expect(throws: (any Error).self) { try JSONValue(parsing: [0x22, 0xFF, 0x22]) }
    }

    /// Every digit survives: a function's numbers reach its caller as it wrote them, whatever
    /// Int64 or Double would make of them.
    @Test("numbers are written again exactly as they were parsed", arguments: [
        "18446744073709551615", "123456789012345678901234567890", "-123456789012345678901234567890", "0.1000000000000000055511151231257827",
        "-0", "-0.0", "0.0", "1e400", "-1e400", "1E400", "1e-400", "1.0", "1e3", "2.50", "-1E-5", "1.5e+300", "9223372036854775808",
        "-9223372036854775809", "0", "42", "-9223372036854775808", "9223372036854775807", "0.5", "-2.25", "0.1", "1e+15", "3.141592653589793",
    ])
    func numbersKeepEveryDigit(text: String) throws {
        #expect(try JSONValue(parsing: text).encodedString == text)
        #expect(try JSONValue(parsing: " [\(text) , {\"n\":\(text)}] ").encodedString == "[\(text),{\"n\":\(text)}]")
        let value = try #require(JSONValue(numberLiteral: text))
        #expect(value == (try JSONValue(parsing: text)))
        // Through a Decodable type whose member is a JSONValue, and back through the encoders.
        struct Holder: Codable { var n: JSONValue; var tag: String }
        let holder = try JSONValue.decode(Holder.self, from: Array(#"{"n":\#(text),"tag":"t"}"#.utf8))
        #expect(holder.n.encodedString == text)
        #expect(String(decoding: JSONValue.bytes(holder), as: UTF8.self) == #"{"n":\#(text),"tag":"t"}"#)
        #expect(try JSONValue(parsing: text).prettyEncodedString == text)
    }

    @Test func numbersTakeTheirCanonicalCase() throws {
        #expect(try JSONValue(parsing: "42") == .integer(42))
        #expect(try JSONValue(parsing: "0.5") == .number(0.5))
        #expect(try JSONValue(parsing: "-0") == .numberLiteral("-0"))
        #expect(try JSONValue(parsing: "1.0") == .numberLiteral("1.0"))
        #expect(try JSONValue(parsing: "18446744073709551615") == .numberLiteral("18446744073709551615"))
        #expect(JSONValue(numberLiteral: "7") == .integer(7))
        for bad in ["", "01", "1.", ".5", "+1", " 1", "1 ", "NaN", "0x10", "-", "1e", "1e+", "--1", "1_000", "١"] {
            #expect(JSONValue(numberLiteral: bad) == nil, "\(bad)")
        }
        // Typed members read the exact text too.
        struct Counter: Decodable { var big: UInt64; var small: Int8; var ratio: Double }
        let counter = try JSONValue.decode(Counter.self, from: Array(#"{"big":18446744073709551615,"small":-128,"ratio":1e3}"#.utf8))
        #expect(counter.big == .max && counter.small == -128 && counter.ratio == 1000)
        #expect(throws: DecodingError.self) { try JSONValue.decode(Counter.self, from: Array(#"{"big":18446744073709551616,"small":0,"ratio":1}"#.utf8)) }
        #expect(throws: DecodingError.self) { try JSONValue.decode(Counter.self, from: Array(#"{"big":1,"small":128,"ratio":1}"#.utf8)) }
        #expect(throws: DecodingError.self) { try JSONValue.decode(Counter.self, from: Array(#"{"big":1.5,"small":1,"ratio":1}"#.utf8)) }
        #expect(throws: DecodingError.self) { try JSONValue.decode(Counter.self, from: Array(#"{"big":1,"small":1,"ratio":1e400}"#.utf8)) }
        #expect(throws: DecodingError.self) { try JSONValue.decode(Counter.self, from: Array(#"{"big":1,"small":1}"#.utf8)) }
        // Foundation's encoder gets the nearest it can hold, or a clear error.
        #expect(String(decoding: try JSONEncoder().encode(JSONValue.numberLiteral("18446744073709551615")), as: UTF8.self) == "18446744073709551615")
        #expect(throws: EncodingError.self) { try JSONEncoder().encode(JSONValue.numberLiteral("1e400")) }
    }

    @Test func encodesCanonically() throws {
        let value: JSONValue = ["b": [1, 2.5, "x/y"], "a": ["z": .null, "y": true], "c": "line\n\t\"quoted\" \u{1}"]
        #expect(value.encodedString == #"{"a":{"y":true,"z":null},"b":[1,2.5,"x/y"],"c":"line\n\t\"quoted\" \u0001"}"#)
        #expect(try JSONValue(parsing: value.encoded) == value)
        #expect(JSONValue.number(.infinity).encodedString == "null")
    }

    /// Strings are scanned eight bytes at a time: every character that needs an escape is found
    /// wherever it falls in a word, in short strings and long ones, next to multi-byte UTF-8.
    @Test func escapesEveryCharacterThatNeedsItAtEveryOffset() throws {
        let special: [Character] = ["\"", "\\", "\n", "\u{0}", "\u{1F}", "\t", "é", "😀", " ", "\u{7F}"]
        for length in [0, 1, 7, 8, 9, 15, 16, 17, 40] {
            for offset in 0...length {
                for character in special {
                    var text = String(repeating: "a", count: length)
                    text.insert(character, at: text.index(text.startIndex, offsetBy: offset))
                    let written = JSONValue.string(text).encoded
                    // Foundation's parser refuses unescaped control characters and stray quotes.
                    #expect(try JSONDecoder().decode(String.self, from: Data(written)) == text, "\(length) \(offset) \(character)")
                    #expect(written.allSatisfy { $0 >= 0x20 })
                }
            }
        }
    }

    @Test func encodesCodableTypesLikeFoundationSortedKeys() throws {
        struct Sample: Codable { var name: String; var count: Int; var nested: [String: [Int]]; var optional: String?; var big: UInt64 }
        let sample = Sample(name: "a/b", count: 3, nested: ["y": [1], "x": []], optional: nil, big: 7)
        let foundation = JSONEncoder()
        foundation.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        #expect(JSONValue.bytes(sample) == Array(try foundation.encode(sample)))
        // Integers beyond Int64 are written exactly, not rounded through Double.
        let huge = Sample(name: "", count: 0, nested: [:], optional: "o", big: .max)
        #expect(String(decoding: JSONValue.bytes(huge), as: UTF8.self).contains("18446744073709551615"))
    }

    /// The hand-built values of the per-invocation types say exactly what their `Encodable`
    /// conformances say (compared through Foundation's encoder), optional members absent or not.
    @Test func handBuiltValuesMatchTheirEncodableConformances() throws {
        func viaFoundation(_ value: some Encodable) throws -> JSONValue {
            try JSONValue(parsing: JSONEncoder().encode(value))
        }
        let response = Activation.Response(ActivationResponse(status: .applicationError, result: ["error": "no", "n": 1.5]))
        var bare = Activation.Response(ActivationResponse(status: .success, result: [:]))
        bare.result = nil
        let annotations = [KeyValue(key: "limits", value: ["timeout": 60000, "memory": 256]), KeyValue(key: "confidential", value: true)]
        let activations = [
            Activation(namespace: "ns", name: "a", version: "0.0.2", subject: "who", activationId: String(repeating: "f", count: 32),
                       start: 1_700_000_000_000, end: 1_700_000_000_250, response: response, logs: ["one", "two \"quoted\""], annotations: annotations),
            Activation(namespace: "ns", name: "a", version: "0.0.1", subject: "who", activationId: "id", start: 1, end: 2,
                       response: nil, logs: nil, annotations: [], publish: true),
            Activation(namespace: "ns", name: "a", version: "0.0.1", subject: "who", activationId: "id", start: 1, end: 2,
                       response: bare, logs: [], annotations: []),
            Activation(namespace: "ns", name: "step", version: "0.0.1", subject: "who", activationId: "id", start: 1, end: 2,
                       response: bare, logs: [], annotations: [], cause: "sequence-id"),
        ]
        func handWritten(_ value: some JSONValueRepresentable) throws -> JSONValue? {
            var output: [UInt8] = []
            guard value.writeJSON(to: &output) else { return nil }
            #expect(output == JSONValue.bytes(value))
            // Canonical: what the hand-written bytes hold, written the canonical way, is them.
            #expect(try JSONValue(parsing: output).encoded == output)
            return try JSONValue(parsing: output)
        }
        for activation in activations {
            #expect(try handWritten(activation) == (try viaFoundation(activation)))
        }
        // A list of them, as the activations list answers.
        #expect(try JSONValue(parsing: JSONValue.bytes(activations)) == (try viaFoundation(activations)))
        #expect(try JSONValue(parsing: JSONValue.bytes(activations)).encoded == JSONValue.bytes(activations))
        let receipt = Receipt(
            activationId: "id", namespace: "ns", name: "a", moduleDigest: "00", snapshotDigest: "11", policyDigest: "22", sandbox: 3,
            sequence: 9, requestDigest: "33", responseDigest: "44", epoch: 7, tee: "simulated", issuedAt: 1_700_000_000_000, salt: "55")
        #expect(try handWritten(receipt) == (try viaFoundation(receipt)))
        var huge = receipt
        huge.sequence = .max
        #expect(try handWritten(huge) == nil)
        #expect(String(decoding: JSONValue.bytes(huge), as: UTF8.self).contains("18446744073709551615"))
        #expect(String(decoding: JSONValue.bytes([receipt, huge]), as: UTF8.self).contains("18446744073709551615"))
        let result = ConfidentialResult(activationId: "id", status: "success", success: true, result: ["v": [1, "x", nil]], logs: ["l"])
        #expect(try handWritten(result) == (try viaFoundation(result)))
        #expect(try handWritten(KeyValue(key: "k", value: [1, 2])) == (try viaFoundation(KeyValue(key: "k", value: [1, 2]))))
        #expect(try handWritten(response) == (try viaFoundation(response)))
        #expect(try handWritten(bare) == (try viaFoundation(bare)))
    }

    /// A hand-made number literal is written only when it is a number: the case is public.
    @Test func numberLiteralsThatAreNotNumbersAreWrittenAsNull() {
        for text in ["1", "-0", "0.5e-3", "18446744073709551615", "1E+400"] {
            #expect(String(decoding: JSONValue.array([.numberLiteral(text)]).encoded, as: UTF8.self) == "[\(text)]")
        }
        for text in ["", "-", "01", "1.", ".5", "1e", "1,\"x\":2", "1}", "NaN", "0x10", "1 "] {
            #expect(String(decoding: JSONValue.array([.numberLiteral(text)]).encoded, as: UTF8.self) == "[null]", "\(text)")
        }
    }

    /// What a string costs once stored: the length the writer writes, escapes and quotes included.
    @Test func encodedLengthIsWhatTheWriterWrites() {
        for text in ["", "plain", "\u{01}\u{1F}", "\"\\\n\r\t\u{08}\u{0C}", "é\u{7F}x", String(repeating: "\u{01}a", count: 100)] {
            #expect(JSONValue.encodedLength(of: text) == JSONValue.string(text).encoded.count, "\(text.debugDescription)")
        }
    }
}
