import Foundation
import Testing
import TabulaWire

@Suite("JSON values: parsing and canonical encoding")
struct JSONValueTests {
    @Test func parsesWhatFoundationParsesToTheSameValue() throws {
        let documents = [
            #"{"a":1,"b":[true,false,null],"c":{"d":"e"},"f":-0.5,"g":1e3,"h":"\u00e9\ud83d\ude00\n\"/\\"}"#,
            #"[]"#, #"{}"#, #" [ 1 , 2 ] "#, #""text""#, "12", "-9223372036854775808", "9223372036854775808", "0.1",
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
            "\"\\ud800\"", "\"\\udc00x\"", "\"a\u{01}b\"", "[1] 2", "{\"a\":1}}", "NaN", "1e999",
            String(repeating: "[", count: 600) + String(repeating: "]", count: 600),
        ]
        for text in bad {
            #expect(throws: (any Error).self, "\(text.prefix(40))") { try JSONValue(parsing: text) }
        }
        #expect(throws: (any Error).self) { try JSONValue(parsing: [0x22, 0xFF, 0x22]) }
    }

    @Test func encodesCanonically() throws {
        let value: JSONValue = ["b": [1, 2.5, "x/y"], "a": ["z": .null, "y": true], "c": "line\n\t\"quoted\" \u{1}"]
        #expect(value.encodedString == #"{"a":{"y":true,"z":null},"b":[1,2.5,"x/y"],"c":"line\n\t\"quoted\" \u0001"}"#)
        #expect(try JSONValue(parsing: value.encoded) == value)
        #expect(JSONValue.number(.infinity).encodedString == "null")
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
}
