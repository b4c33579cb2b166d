import Crypto
import Foundation
import SwiftASN1
import X509
@testable import TabulaAttestation
import TabulaTestSupport
import Testing

/// Real quotes from Tests/Fixtures/attestation (see Tests/Fixtures/README.md for their sources), verified at a fixed time
/// because their PCK certificates expire.
@Suite("Intel DCAP quotes")
struct QuoteTests {
    struct Sample: Sendable, CustomStringConvertible {
        var path: String
        var version: UInt16
        var tee: Quote.TEE
        var reportDataPrefix: String
        /// Read from the PCK leaf independently (a byte search for the FMSPC OID in its DER).
        var fmspc: String
        var description: String { path }
    }

    static let samples: [Sample] = [
        Sample(path: "sgx/dcap-qvl-sgx-quote-v3.bin", version: 3, tee: .sgx, reportDataPrefix: "Hello, world!", fmspc: "00a067110000"),
        Sample(path: "sgx/trustee-occlum-quote-v3.bin", version: 3, tee: .sgx, reportDataPrefix: "test", fmspc: "00606a000000"),
        Sample(path: "tdx/dcap-qvl-tdx-quote-v4.bin", version: 4, tee: .tdx, reportDataPrefix: "", fmspc: "b0c06f000000"),
        Sample(path: "tdx/go-tdx-guest-spr-e4-quote-v4.bin", version: 4, tee: .tdx, reportDataPrefix: "", fmspc: "50806f000000"),
        Sample(path: "tdx/go-tdx-guest-quote-v5.bin", version: 5, tee: .tdx, reportDataPrefix: "", fmspc: "90c06f000000"),
    ]

    /// 2026-06-01T00:00:00Z, when every sample's certificates are valid.
    static let now = Date(timeIntervalSince1970: 1_780_272_000)

    static func load(_ sample: Sample) throws -> [UInt8] {
        [UInt8](try Fixtures.data("attestation/" + sample.path))
    }

    static func hex(_ data: Data) -> String { data.map { String(format: "%02x", $0) }.joined() }

    /// Parses and verifies `bytes`, recording an issue unless an `AttestationError` comes out.
    static func expectRejected(_ bytes: [UInt8], _ what: String) async {
        do {
            let quote = try Quote(bytes: Data(bytes))
            _ = try await quote.verify(at: now)
            Issue.record("\(what): accepted")
        } catch {
            _ = error as AttestationError
        }
    }

    /// Offsets of the signature data parts, derived from the parsed quote.
    static func layout(_ quote: Quote) -> (signature: Int, key: Int, qeReport: Int, end: Int) {
        let signature = quote.signedBytes.count + 4
        // Version 3 lays the QE report out directly; 4 and 5 wrap it in type-6 certification data.
        let qeReport = signature + 128 + (quote.header.version == 3 ? 0 : 6)
        return (signature, signature + 64, qeReport, qeReport + 384)
    }

    @Test("sample parses and verifies with its claims", arguments: samples)
    func verifies(sample: Sample) async throws {
        let quote = try Quote(bytes: Data(try Self.load(sample)))
        #expect(quote.header.version == sample.version)
        #expect(quote.tee == sample.tee)
        let claims = try await quote.verify(at: Self.now)
        #expect(claims.tee == sample.tee)
        #expect(claims.version == sample.version)
        #expect(claims.reportData.count == 64)
        #expect(claims.reportData.starts(with: Data(sample.reportDataPrefix.utf8)))
        #expect(claims.fmspc.count == 6)
        #expect(claims.pceID.count == 2)
        #expect(Self.hex(claims.fmspc) == sample.fmspc)
        switch sample.tee {
        case .sgx:
            #expect(claims.measurement.count == 32)
            #expect(claims.mrSigner?.count == 32)
            #expect(claims.attributes?.count == 16)
            #expect(claims.isvProdID != nil && claims.isvSVN != nil)
            #expect(claims.rtmr0 == nil && claims.mrSeam == nil)
        case .tdx:
            #expect(claims.measurement.count == 48)
            for rtmr in [claims.rtmr0, claims.rtmr1, claims.rtmr2, claims.rtmr3] { #expect(rtmr?.count == 48) }
            #expect(claims.mrSeam?.count == 48)
            #expect(claims.tdAttributes?.count == 8)
            #expect(claims.teeTcbSvn?.count == 16)
            #expect(claims.mrSigner == nil)
            #expect(claims.debug == ((claims.tdAttributes?.first ?? 0) & 1 != 0))
        }
        if sample.version == 5 { #expect(quote.bodyType == 3) }
    }

    @Test("the wrong time fails the chain", arguments: samples)
    func expired(sample: Sample) async throws {
        let quote = try Quote(bytes: Data(try Self.load(sample)))
        let future = Date(timeIntervalSince1970: 4_102_444_800)  // 2100-01-01, after every PCK expiry
        do {
            _ = try await quote.verify(at: future)
            Issue.record("verified in 2100")
        } catch {
            #expect(error.code == .untrustedChain)
        }
    }

    @Test("a flipped byte in the signed region fails", arguments: samples)
    func signedRegionMutations(sample: Sample) async throws {
        let bytes = try Self.load(sample)
        let signed = try Quote(bytes: Data(bytes)).signedBytes.count
        for i in 0..<64 {
            let position = i * (signed - 1) / 63
            var mutated = bytes
            mutated[position] ^= 0x01
            await Self.expectRejected(mutated, "flip at \(position)")
        }
    }

    @Test("a flipped byte in the signature, attestation key or QE report fails", arguments: samples)
    func signatureDataMutations(sample: Sample) async throws {
        let bytes = try Self.load(sample)
        let parts = Self.layout(try Quote(bytes: Data(bytes)))
        let positions = [
            parts.signature, parts.signature + 63, parts.key, parts.key + 40,
            parts.qeReport, parts.qeReport + 64, parts.qeReport + 320, parts.qeReport + 383,
        ]
        for position in positions {
            var mutated = bytes
            mutated[position] ^= 0x80
            await Self.expectRejected(mutated, "flip at \(position)")
        }
    }

    @Test("every truncation before the end of the signature data fails", arguments: samples)
    func truncations(sample: Sample) async throws {
        let bytes = try Self.load(sample)
        let quote = try Quote(bytes: Data(bytes))
        let end = quote.signedBytes.count + 4
            + Int(bytes[quote.signedBytes.count]) + Int(bytes[quote.signedBytes.count + 1]) << 8
        for length in stride(from: 0, to: end, by: 97) {
            await Self.expectRejected(Array(bytes.prefix(length)), "prefix \(length)")
        }
        await Self.expectRejected(Array(bytes.prefix(end - 1)), "prefix \(end - 1)")
    }

    /// `bytes` with its PCK certification data replaced by `type` and `data`, and the enclosing sizes
    /// fixed. Nothing signed changes: the quote signature covers header and body, the PCK signature
    /// the QE report, and the certificates in the certification data are checked on their own.
    static func replacingPCKCertification(_ bytes: [UInt8], type: UInt16, data: [UInt8]) throws -> [UInt8] {
        func le16(_ value: Int) -> [UInt8] { [UInt8(value & 0xFF), UInt8(value >> 8 & 0xFF)] }
        func le32(_ value: Int) -> [UInt8] { (0..<4).map { UInt8(value >> (8 * $0) & 0xFF) } }
        func read16(_ offset: Int) -> Int { Int(bytes[offset]) | Int(bytes[offset + 1]) << 8 }
        let quote = try Quote(bytes: Data(bytes))
        let signed = quote.signedBytes.count
        let signatureStart = signed + 4
        let wrapped = quote.header.version != 3
        let qeStart = signatureStart + 128 + (wrapped ? 6 : 0)
        let pckTypeAt = qeStart + 384 + 64 + 2 + read16(qeStart + 384 + 64)
        let inner = Array(bytes[qeStart..<pckTypeAt]) + le16(Int(type)) + le32(data.count) + data
        var signature = Array(bytes[signatureStart..<(signatureStart + 128)])
        if wrapped { signature += le16(6) + le32(inner.count) }
        signature += inner
        return Array(bytes[0..<signed]) + le32(signature.count) + signature
    }

    @Test("a quote that carries no PCK chain verifies with the chain given alongside", arguments: [UInt16(1), 2, 3], [2, 0])
    func pckChainGiven(type: UInt16, sampleIndex: Int) async throws {
        let original = try Self.load(Self.samples[sampleIndex])
        let quote = try Quote(bytes: Data(original))
        let pem = String(decoding: quote.certification.pckChainPEM.filter { $0 != 0 }, as: UTF8.self)
        let chain = try IntelCollateral.certificates(pem: pem)
        // Types 1-3: the PPID (clear, RSA-2048 or RSA-3072 encrypted), CPU SVN, PCE SVN and PCE ID.
        let ppidSize = [1: 16, 2: 256, 3: 384][Int(type)]!
        let stripped = try Self.replacingPCKCertification(original, type: type, data: [UInt8](repeating: 0x5A, count: ppidSize + 20))
        let parsed = try Quote(bytes: Data(stripped))
        #expect(parsed.certification.pckCertificationType == type)
        #expect(parsed.certification.pckChainPEM.isEmpty)
        do {
            _ = try await parsed.verify(at: Self.now)
            Issue.record("verified without a PCK chain")
        } catch {
            #expect(error.code == .untrustedChain)
            #expect(error.message.contains("--chain"))
        }
        let claims = try await parsed.verify(at: Self.now, chain: chain)
        #expect(Self.hex(claims.fmspc) == Self.samples[sampleIndex].fmspc)
        // The PCK is found among the given certificates by its signature over the QE report, whatever the order.
        #expect(try await parsed.verify(at: Self.now, chain: chain.reversed()).fmspc == claims.fmspc)
        // Another platform's chain did not sign this QE report.
        let otherQuote = try Quote(bytes: Data(try Self.load(Self.samples[1])))
        let other = try IntelCollateral.certificates(pem: String(decoding: otherQuote.certification.pckChainPEM.filter { $0 != 0 }, as: UTF8.self))
        do {
            _ = try await parsed.verify(at: Self.now, chain: other)
            Issue.record("verified with another platform's PCK chain")
        } catch {
            #expect(error.code == .untrustedChain)
        }
    }

    @Test("a quote that carries only its PCK leaf (type 4) verifies with the intermediate given alongside")
    func pckLeafOnly() async throws {
        let original = try Self.load(Self.samples[2])
        let quote = try Quote(bytes: Data(original))
        let pem = String(decoding: quote.certification.pckChainPEM.filter { $0 != 0 }, as: UTF8.self)
        let leafPEM = pem.components(separatedBy: "-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
        let chain = try IntelCollateral.certificates(pem: pem)
        let leafOnly = try Self.replacingPCKCertification(original, type: 4, data: Array(leafPEM.utf8))
        let parsed = try Quote(bytes: Data(leafOnly))
        do {
            _ = try await parsed.verify(at: Self.now)
            Issue.record("verified without the intermediate CA")
        } catch {
            #expect(error.code == .untrustedChain)
        }
        let claims = try await parsed.verify(at: Self.now, chain: [chain[1]])
        #expect(Self.hex(claims.fmspc) == Self.samples[2].fmspc)
    }

    /// `bytes` with `extra` appended inside the signature data and its declared length grown to match
    /// and changed by `delta` more.
    static func resizingSignatureData(_ bytes: [UInt8], extra: [UInt8] = [], delta: Int = 0) throws -> [UInt8] {
        let quote = try Quote(bytes: Data(bytes))
        let at = quote.signedBytes.count
        let length = Int(bytes[at]) | Int(bytes[at + 1]) << 8 | Int(bytes[at + 2]) << 16 | Int(bytes[at + 3]) << 24
        let declared = length + extra.count + delta
        let end = at + 4 + length
        return Array(bytes[0..<at]) + (0..<4).map { UInt8(declared >> (8 * $0) & 0xFF) } + Array(bytes[(at + 4)..<end]) + extra + Array(bytes[end...])
    }

    @Test("a signature data length that does not match its contents is refused; bytes after the signature data are not read", arguments: samples)
    func signatureDataLength(sample: Sample) async throws {
        let original = try Self.load(sample)
        for extra in [[UInt8(0)], [0, 0, 0, 0], Array("hidden".utf8)] {
            let padded = try Self.resizingSignatureData(original, extra: extra)
            let error = #expect(throws: AttestationError.self, "\(extra.count) bytes inside") { try Quote(bytes: Data(padded)) }
            #expect(error?.code == .malformed)
            #expect(error?.message.contains("the signature data is declared as") == true, "\(error?.message ?? "")")
        }
        // Declared one byte short: its last part overruns it.
        #expect(throws: AttestationError.self) { try Quote(bytes: Data(try Self.resizingSignatureData(original, delta: -1))) }
        // After the signature data, bytes are the producer's padding (real quotes have some), never read.
        _ = try await Quote(bytes: Data(original + Array("trailing".utf8))).verify(at: Self.now)
    }

    @Test("QE report certification data (type 6) with bytes after its PCK certification data is refused")
    func certificationDataLength() throws {
        let original = try Self.load(Self.samples[2])
        let quote = try Quote(bytes: Data(original))
        let pem = quote.certification.pckChainPEM
        // One byte after the PCK certification data that its own size does not count, the outer sizes made to fit.
        var padded = try Self.resizingSignatureData(try Self.replacingPCKCertification(original, type: 5, data: Array(pem)), extra: [0x41])
        let at = quote.signedBytes.count + 4 + 128 + 2
        let outer = (0..<4).reduce(0) { $0 | Int(padded[at + $1]) << (8 * $1) } + 1
        for index in 0..<4 { padded[at + index] = UInt8(outer >> (8 * index) & 0xFF) }
        let error = #expect(throws: AttestationError.self) { try Quote(bytes: Data(padded)) }
        #expect(error?.message.contains("QE report certification data (type 6)") == true, "\(error?.message ?? "")")
    }

    @Test("PCK certification data of another type than 5 is refused with the reason unless a chain is given", arguments: [UInt16(1), 2, 3, 4])
    func certificationType(type: UInt16) async throws {
        let original = try Self.load(Self.samples[0])
        let quote = try Quote(bytes: Data(original))
        let data = type == 4 ? Array(quote.certification.pckChainPEM) : [UInt8](repeating: 0x5A, count: 36)
        let parsed = try Quote(bytes: Data(try Self.replacingPCKCertification(original, type: type, data: data)))
        do {
            _ = try await parsed.verify(at: Self.now)
            Issue.record("type \(type) verified without a chain")
        } catch {
            #expect(error.code == .untrustedChain)
            #expect(error.message.contains("type \(type), not type 5"), "\(error.message)")
        }
    }

    @Test("a PCK chain whose root is not Intel's, or that has no root, is refused")
    func foreignRoot() async throws {
        for sample in [Self.samples[0], Self.samples[2], Self.samples[4]] {
            let original = try Self.load(sample)
            let quote = try Quote(bytes: Data(original))
            let pem = String(decoding: quote.certification.pckChainPEM.filter { $0 != 0 }, as: UTF8.self)
            let parts = pem.components(separatedBy: "-----END CERTIFICATE-----").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
            #expect(parts.count == 3)
            let leafAndCA = parts[0..<2].map { $0 + "\n-----END CERTIFICATE-----\n" }.joined()
            // A self-signed CA certificate that names itself Intel's root but has another key.
            let key = P256.Signing.PrivateKey()
            let name = try DistinguishedName {
                CommonName("Intel SGX Root CA"); OrganizationName("Intel Corporation"); LocalityName("Santa Clara"); StateOrProvinceName("CA"); CountryName("US")
            }
            let forged = try Certificate(
                version: .v3, serialNumber: .init(bytes: [0x01, 0x02]), publicKey: .init(key.publicKey),
                notValidBefore: Self.now.addingTimeInterval(-86_400), notValidAfter: Self.now.addingTimeInterval(86_400), issuer: name, subject: name,
                signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 1))
                    Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                },
                issuerPrivateKey: .init(key))
            var serializer = DER.Serializer()
            try serializer.serialize(forged)
            let foreign = try PEMDocument(type: "CERTIFICATE", derBytes: serializer.serializedBytes).pemString + "\n"
            for (chain, what) in [(leafAndCA + foreign, "a foreign root"), (leafAndCA, "no root"), (leafAndCA + leafAndCA, "the CA twice")] {
                let altered = try Quote(bytes: Data(try Self.replacingPCKCertification(original, type: 5, data: Array(chain.utf8) + [0])))
                do {
                    _ = try await altered.verify(at: Self.now)
                    Issue.record("\(sample): \(what) accepted")
                } catch {
                    #expect(error.code == .untrustedChain, "\(sample): \(what)")
                    #expect(error.message.contains("not the Intel SGX Root CA"), "\(sample): \(what): \(error.message)")
                }
            }
            // The same rebuilding with the real root still verifies.
            _ = try await Quote(bytes: Data(try Self.replacingPCKCertification(original, type: 5, data: Array(pem.utf8) + [0]))).verify(at: Self.now)
        }
    }

    @Test("random garbage fails without crashing")
    func garbage() async throws {
        var generator = SplitMix64(seed: 0x7AB1_1A)
        let template = try Self.load(Self.samples[2])
        for round in 0..<200 {
            let length = Int(generator.next() % 6000)
            var bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            // Half the rounds keep a valid header so the parser gets past the first checks.
            if round % 2 == 1 { bytes = Array(template.prefix(48)) + bytes }
            await Self.expectRejected(bytes, "garbage round \(round)")
        }
    }
}

/// A small deterministic generator, so failures reproduce.
struct SplitMix64: RandomNumberGenerator {
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
