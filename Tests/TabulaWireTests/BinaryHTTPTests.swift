import Foundation
import TabulaTestSupport
import Testing
import TabulaWire

@Suite("Binary HTTP")
struct BinaryHTTPTests {
    // MARK: RFC 9458 Appendix A vectors

    @Test func decodesTheRFC9458Request() throws {
        let bytes = try Self.vector.request
        let request = try BinaryHTTPRequest(decoding: bytes)
        #expect(request.method == "GET")
        #expect(request.scheme == "https")
        #expect(request.authority == "example.com")
        #expect(request.path == "/")
        #expect(request.headerFields.isEmpty)
        #expect(request.content.isEmpty)
        #expect(request.trailerFields.isEmpty)
        // The vector leaves out its three empty sections, as RFC 9292 §3.8 allows.
        #expect(try request.encoded(truncatingEmptySections: true) == bytes)
        #expect(try request.encoded() == bytes + [0, 0, 0])
    }

    @Test func decodesTheRFC9458Response() throws {
        let bytes = try Self.vector.response
        let response = try BinaryHTTPResponse(decoding: bytes)
        #expect(response.status == 200)
        #expect(response.informationalResponses.isEmpty)
        #expect(response.headerFields.isEmpty)
        #expect(response.content.isEmpty)
        #expect(response.trailerFields.isEmpty)
        #expect(try response.encoded(truncatingEmptySections: true) == bytes)
        #expect(try response.encoded() == bytes + [0, 0, 0])
    }

    // MARK: Round trips and encoding details

    @Test func requestRoundTripLowercasesNames() throws {
        let request = BinaryHTTPRequest(
            method: "POST", authority: "fn.example", path: "/run?x=1",
            headerFields: [.init("Content-Type", "application/json"), .init("x-dup", "1"), .init("x-dup", "2 ünï")],
            content: Array(repeating: 0x7B, count: 300),
            trailerFields: [.init("Digest", "sha-256=abc")]
        )
        for truncating in [false, true] {
            let decoded = try BinaryHTTPRequest(decoding: request.encoded(truncatingEmptySections: truncating))
            var expected = request
            expected.headerFields[0].name = "content-type"
            expected.trailerFields[0].name = "digest"
            #expect(decoded == expected)
        }
    }

    @Test func responseRoundTripKeepsInformationalResponses() throws {
        let response = BinaryHTTPResponse(
            status: 404, headerFields: [.init("content-length", "2")], content: Array("no".utf8),
            informationalResponses: [.init(status: 100), .init(status: 103, headerFields: [.init("link", "</a>; rel=preload")])]
        )
        #expect(try BinaryHTTPResponse(decoding: response.encoded()) == response)
        #expect(try BinaryHTTPResponse(decoding: response.encoded(truncatingEmptySections: true)) == response)
    }

    @Test(arguments: [
        (0, [0x00]), (63, [0x3F]), (64, [0x40, 0x40]), (16383, [0x7F, 0xFF]),
        (16384, [0x80, 0x00, 0x40, 0x00]),
    ] as [(Int, [UInt8])])
    func contentLengthUsesTheShortestVarint(length: Int, prefix: [UInt8]) throws {
        let encoded = try BinaryHTTPResponse(status: 200, content: [UInt8](repeating: 1, count: length)).encoded()
        // 01 (framing), 40 c8 (status 200), 00 (no header fields), then the content length.
        #expect(Array(encoded[0..<4]) == [0x01, 0x40, 0xC8, 0x00])
        #expect(Array(encoded[4..<(4 + prefix.count)]) == prefix)
        #expect(encoded.count == 4 + prefix.count + length + 1)
    }

    @Test func acceptsLongerVarintsAndZeroPadding() throws {
        // Status 200 as an 8-byte varint, all three sections present and empty, then padding.
        let response = try BinaryHTTPResponse(decoding: [0x01, 0xC0, 0, 0, 0, 0, 0, 0, 0xC8, 0, 0, 0, 0, 0, 0, 0])
        #expect(response == BinaryHTTPResponse(status: 200))
    }

    // MARK: Indeterminate-length framing

    @Test func decodesAnIndeterminateLengthRequest() throws {
        var bytes: [UInt8] = [0x02]
        for part in ["PUT", "https", "", "/k"] { bytes += [UInt8(part.utf8.count)] + Array(part.utf8) }
        bytes += [6] + Array("accept".utf8) + [3] + Array("*/*".utf8) + [4] + Array("host".utf8) + [1] + Array("h".utf8) + [0]
        bytes += [3] + Array("hel".utf8) + [2] + Array("lo".utf8) + [0]  // two content chunks
        bytes += [2] + Array("tr".utf8) + [1] + Array("v".utf8) + [0]
        bytes += [0, 0]  // padding
        let request = try BinaryHTTPRequest(decoding: bytes)
        #expect(request == BinaryHTTPRequest(
            method: "PUT", scheme: "https", authority: "", path: "/k",
            headerFields: [.init("accept", "*/*"), .init("host", "h")], content: Array("hello".utf8),
            trailerFields: [.init("tr", "v")]
        ))
    }

    @Test func decodesAnIndeterminateLengthResponseWithInformationalResponses() throws {
        var bytes: [UInt8] = [0x03]
        bytes += [0x40, 0x67] + [4] + Array("link".utf8) + [3] + Array("</>".utf8) + [0]  // 103 Early Hints
        bytes += [0x40, 0x64, 0]  // 100 Continue, no fields
        bytes += [0x40, 0xC8, 0]  // 200, no header fields
        bytes += [2] + Array("ok".utf8)  // one chunk, then the message simply ends (truncation)
        let response = try BinaryHTTPResponse(decoding: bytes + [0])
        #expect(response.status == 200)
        #expect(response.informationalResponses == [.init(status: 103, headerFields: [.init("link", "</>")]), .init(status: 100)])
        #expect(response.content == Array("ok".utf8))
        #expect(response.trailerFields.isEmpty)
        // Without the chunk terminator the content is cut short: truncation is only allowed between sections.
        #expect(Self.code { try BinaryHTTPResponse(decoding: bytes) } == .truncated)
    }

    // MARK: Errors

    @Test func rejectsBadFramingIndicators() {
        #expect(Self.code { try BinaryHTTPRequest(decoding: Self.vectorResponse) } == .invalidFramingIndicator)
        #expect(Self.code { try BinaryHTTPResponse(decoding: Self.vectorRequest) } == .invalidFramingIndicator)
        #expect(Self.code { try BinaryHTTPRequest(decoding: [0x04]) } == .invalidFramingIndicator)
        #expect(Self.code { try BinaryHTTPRequest(decoding: [0x40, 0x00] + Self.vectorRequest.dropFirst()) } == nil)
    }

    @Test func rejectsTruncationInsideAPart() throws {
        #expect(Self.code { try BinaryHTTPRequest(decoding: []) } == .truncated)
        #expect(Self.code { try BinaryHTTPResponse(decoding: [0x01, 0x40]) } == .truncated)
        // Every cut inside the control data of the vector request fails; the full vector decodes.
        let request = try Self.vectorRequest
        for count in 0..<request.count {
            #expect(Self.code { try BinaryHTTPRequest(decoding: Array(request.prefix(count))) } == .truncated)
        }
        // A length as large as a varint allows, with nothing after it.
        #expect(Self.code { try BinaryHTTPRequest(decoding: [0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]) } == .truncated)
    }

    @Test func rejectsAFieldLineThatOverrunsItsSection() throws {
        // Header section of 4 bytes holding a name of 1 byte and a value that claims 9.
        let bytes = try Self.vectorRequest + [0x04, 0x01, 0x61, 0x09, 0x62, 0x00, 0x00]
        let error = try #require(throws: WireError.self) { try BinaryHTTPRequest(decoding: bytes) }
        #expect(error.code == .malformed)
        #expect(error.message.contains("header section"))
    }

    @Test func rejectsNonZeroPadding() throws {
        let error = try #require(throws: WireError.self) { try BinaryHTTPResponse(decoding: Self.vectorResponse + [0, 0, 0, 0, 7]) }
        #expect(error.code == .malformed)
        #expect(error.message.contains("padding"))
    }

    @Test func rejectsInvalidStatusCodes() {
        #expect(Self.code { try BinaryHTTPResponse(decoding: [0x01, 0x40, 0x63]) } == .invalidStatusCode)  // 99
        #expect(Self.code { try BinaryHTTPResponse(decoding: [0x01, 0x42, 0x58]) } == .invalidStatusCode)  // 600
        #expect(Self.code { try BinaryHTTPResponse(decoding: [0x01, 0x40, 0x64, 0x00]) } == .invalidStatusCode)  // only a 100
        #expect(Self.code { try BinaryHTTPResponse(decoding: [0x01, 0x40, 0x64]) } == .invalidStatusCode)
        #expect(Self.code { try BinaryHTTPResponse(status: 700).encoded() } == .invalidStatusCode)
        #expect(Self.code { try BinaryHTTPResponse(status: 101).encoded() } == .invalidStatusCode)
        #expect(Self.code {
            try BinaryHTTPResponse(status: 200, informationalResponses: [.init(status: 204)]).encoded()
        } == .invalidStatusCode)
    }

    @Test func rejectsFieldsHTTPForbids() {
        // Uppercase name on the wire.
        #expect(Self.code { try BinaryHTTPRequest(decoding: Self.vectorRequest + [0x04, 0x01, 0x41, 0x01, 0x62]) } == .invalidField)
        // CR LF in a value, in either direction.
        #expect(Self.code { try BinaryHTTPRequest(decoding: Self.vectorRequest + [0x05, 0x01, 0x61, 0x02, 0x0D, 0x0A]) } == .invalidField)
        let smuggler = BinaryHTTPRequest(method: "GET", authority: "a", path: "/", headerFields: [.init("x", "1\r\nhost: evil")])
        #expect(Self.code { try smuggler.encoded() } == .invalidField)
        #expect(Self.code { try BinaryHTTPRequest(method: "G T", authority: "a", path: "/").encoded() } == .invalidField)
        #expect(Self.code { try BinaryHTTPRequest(method: "GET", authority: "a", path: "/", headerFields: [.init("", "v")]).encoded() } == .invalidField)
        // Invalid UTF-8 in the path.
        #expect(Self.code { try BinaryHTTPRequest(decoding: [0x00, 0x03] + Array("GET".utf8) + [0x00, 0x00, 0x01, 0xFF]) } == .invalidField)
    }

    // MARK: Hostile input never traps

    @Test func everyPrefixAndByteFlipDecodesOrThrows() throws {
        let rich = try [
            Self.vectorRequest, Self.vectorResponse,
            BinaryHTTPRequest(
                method: "POST", authority: "a", path: "/", headerFields: [.init("a", "b")], content: Array(0..<200),
                trailerFields: [.init("t", "u")]
            ).encoded(),
            BinaryHTTPResponse(status: 200, headerFields: [.init("a", "b")], content: [1, 2, 3],
                               informationalResponses: [.init(status: 103, headerFields: [.init("l", "m")])]).encoded(),
        ]
        var random = SplitMix64(seed: 9292)
        for message in rich {
            for count in 0...message.count {
                Self.decodeBoth(Array(message.prefix(count)))
            }
            for _ in 0..<2_000 {
                var mutated = message
                for _ in 0...Int.random(in: 0..<3, using: &random) {
                    mutated[Int.random(in: 0..<mutated.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                }
                Self.decodeBoth(mutated)
            }
        }
        for _ in 0..<2_000 {
            Self.decodeBoth((0..<Int.random(in: 0..<40, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) })
        }
    }

    // MARK: Helpers

    /// Decodes as both kinds; the point is only that nothing traps, and that errors say something.
    private static func decodeBoth(_ bytes: [UInt8]) {
        for decode in [{ _ = try BinaryHTTPRequest(decoding: $0) }, { _ = try BinaryHTTPResponse(decoding: $0) }] as [([UInt8]) throws -> Void] {
            do { try decode(bytes) } catch let error as WireError { #expect(!error.message.isEmpty) } catch { Issue.record(error) }
        }
    }

    /// The code of the `WireError` thrown, or `nil` if nothing was thrown.
    private static func code(_ body: () throws -> Any) -> WireError.Code? {
        do {
            _ = try body()
            return nil
        } catch let error as WireError {
            return error.code
        } catch {
            Issue.record(error)
            return nil
        }
    }

    private struct Vector: Decodable {
        var requestHex: String
        var responseHex: String
        enum CodingKeys: String, CodingKey {
            case requestHex = "request_bhttp"
            case responseHex = "response_bhttp"
        }

        var request: [UInt8] { get throws { try BinaryHTTPTests.bytes(hex: requestHex) } }
        var response: [UInt8] { get throws { try BinaryHTTPTests.bytes(hex: responseHex) } }
    }

    /// RFC 9458 Appendix A.
    private static var vector: Vector {
        get throws {
            try JSONDecoder().decode(Vector.self, from: Fixtures.data("ohttp/rfc9458-appendixA.json"))
        }
    }

    private static var vectorRequest: [UInt8] { get throws { try vector.request } }
    private static var vectorResponse: [UInt8] { get throws { try vector.response } }

    private static func bytes(hex: String) throws -> [UInt8] {
        let digits = Array(hex.utf8)
        try #require(digits.count.isMultiple(of: 2))
        return try stride(from: 0, to: digits.count, by: 2).map { index in
            try #require(UInt8(String(decoding: digits[index..<(index + 2)], as: UTF8.self), radix: 16))
        }
    }

    /// A seeded generator, so a failing mutation can be reproduced.
    private struct SplitMix64: RandomNumberGenerator {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }
}
