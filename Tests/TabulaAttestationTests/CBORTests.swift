@testable import TabulaAttestation
import TabulaWire
import Testing

@Suite("CBOR")
struct CBORTests {
    /// RFC 8949 Appendix A examples (the deterministic ones) and their encodings.
    static let vectors: [(CBOR, String)] = [
        (.unsigned(0), "00"), (.unsigned(23), "17"), (.unsigned(24), "1818"), (.unsigned(255), "18ff"),
        (.unsigned(256), "190100"), (.unsigned(1000), "1903e8"), (.unsigned(1_000_000), "1a000f4240"),
        (.unsigned(1_000_000_000_000), "1b000000e8d4a51000"), (.unsigned(UInt64.max), "1bffffffffffffffff"),
        (.negative(0), "20"), (.negative(9), "29"), (.negative(99), "3863"), (.negative(999), "3903e7"),
        (.bytes([]), "40"), (.bytes([1, 2, 3, 4]), "4401020304"),
        (.text(""), "60"), (.text("a"), "6161"), (.text("IETF"), "6449455446"), (.text("ü"), "62c3bc"),
        (.array([]), "80"), (.array([.unsigned(1), .array([.unsigned(2), .unsigned(3)])]), "8201820203"),
        (.map([]), "a0"),
        (.map([.init(.text("a"), .unsigned(1)), .init(.text("b"), .array([.unsigned(2), .unsigned(3)]))]), "a26161016162820203"),
        (.tagged(1, .unsigned(1_363_896_240)), "c11a514b67b0"),
        (.tagged(60000, .array([.bytes([0xAA]), .bytes([])])), "d9ea608241aa40"),
    ]

    @Test func encodesAndDecodesTheRFCExamples() throws {
        for (value, hex) in Self.vectors {
            #expect(value.encoded.hex == hex, "\(value)")
            #expect(try CBOR(decoding: [UInt8](hex: hex)!) == value, "\(hex)")
        }
    }

    @Test func lengthsAtEveryWidthRoundTrip() throws {
        for count in [0, 23, 24, 255, 256, 65535, 65536] {
            let value = CBOR.bytes([UInt8](repeating: 7, count: count))
            #expect(try CBOR(decoding: value.encoded) == value)
            let text = CBOR.text(String(repeating: "x", count: count))
            #expect(try CBOR(decoding: text.encoded) == text)
        }
        let items = CBOR.array((0..<300).map { .unsigned(UInt64($0)) })
        #expect(try CBOR(decoding: items.encoded) == items)
    }

    @Test func mapKeysAreSortedByTheirEncoding() {
        // "nonce" (0x65…) sorts before "pubkey-hash" (0x6b…), and 10 (0x0a) before 100 (0x1864) before -1 (0x20).
        let map = CBOR.map([
            .init(.text("pubkey-hash"), .unsigned(1)), .init(.negative(0), .unsigned(2)),
            .init(.text("nonce"), .unsigned(3)), .init(.unsigned(100), .unsigned(4)), .init(.unsigned(10), .unsigned(5)),
        ])
        #expect(map.encoded.hex == "a50a05186404200265" + Array("nonce".utf8).hex + "036b" + Array("pubkey-hash".utf8).hex + "01")
    }

    @Test func refusesNonCanonicalAndUnsupportedInput() {
        let refused = [
            "1817",  // 23 in two bytes
            "190017",  // 23 in three bytes
            "1a0000ffff",  // 65535 in five bytes
            "1b00000000ffffffff",  // 2^32-1 in nine bytes
            "5801aa",  // a 1-byte string with a one-byte length
            "5f41aaff",  // indefinite byte string
            "9f01ff",  // indefinite array
            "bf6161 01ff".replacingOccurrences(of: " ", with: ""),  // indefinite map
            "1c", "1d", "1e",  // reserved
            "f4", "f5", "f6", "f97e00", "fb3ff199999999999a",  // simple values and floats
            "a2616101616102",  // duplicate key
            "0000",  // trailing byte
            "62c328",  // invalid UTF-8
            "",  // nothing
        ]
        for hex in refused {
            #expect(throws: AttestationError.self, "\(hex)") { _ = try CBOR(decoding: [UInt8](hex: hex) ?? []) }
        }
    }

    @Test func refusesDeepNesting() throws {
        var value = CBOR.unsigned(0)
        for _ in 0..<CBOR.maximumDepth { value = .array([value]) }
        #expect(try CBOR(decoding: value.encoded) == value)
        #expect(throws: AttestationError.self) { _ = try CBOR(decoding: [0x81] + value.encoded) }
        #expect(throws: AttestationError.self) { _ = try CBOR(decoding: [UInt8](repeating: 0x81, count: 100_000) + [0]) }
        #expect(throws: AttestationError.self) { _ = try CBOR(decoding: [UInt8](repeating: 0xC1, count: 100_000) + [0]) }
    }

    @Test func hugeLengthsDoNotAllocate() {
        for hex in ["5bffffffffffffffff", "7bffffffffffffffff", "9bffffffffffffffff", "bbffffffffffffffff", "9a7fffffff00", "bb000000000000000100"] {
            #expect(throws: AttestationError.self, "\(hex)") { _ = try CBOR(decoding: [UInt8](hex: hex)!) }
        }
    }

    @Test func truncationAndGarbageNeverCrash() {
        let sample = CBOR.tagged(60000, .array([
            .bytes([UInt8](repeating: 0x42, count: 300)),
            .bytes(CBOR.map([.init(.text("pubkey-hash"), .bytes(CBOR.array([.unsigned(1), .bytes([UInt8](repeating: 9, count: 32))]).encoded)),
                             .init(.text("nonce"), .bytes([1, 2, 3]))]).encoded),
        ])).encoded
        for length in 0..<sample.count {
            #expect(throws: AttestationError.self) { _ = try CBOR(decoding: Array(sample.prefix(length))) }
        }
        var generator = SplitMix64(seed: 0x7AB0_1A)
        for _ in 0..<20_000 {
            let count = Int(generator.next() % 40)
            let garbage = (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            _ = try? CBOR(decoding: garbage)
        }
        for index in sample.indices {
            var mutated = sample
            mutated[index] = UInt8(truncatingIfNeeded: generator.next())
            _ = try? CBOR(decoding: mutated)
        }
    }
}
