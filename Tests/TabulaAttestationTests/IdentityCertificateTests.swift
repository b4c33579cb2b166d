import Crypto
import Foundation
@testable import TabulaAttestation
import TabulaWire
import TabulaTestSupport
import Testing

@Suite("Identity certificate")
struct IdentityCertificateTests {
    static let now = Date(timeIntervalSince1970: 1_780_272_000)
    static let start = now.addingTimeInterval(-3600)
    static let end = now.addingTimeInterval(86400)

    static func issue(
        key: P256.Signing.PrivateKey = P256.Signing.PrivateKey(), nonce: [UInt8]? = nil
    ) async throws -> IdentityCertificate.Issued {
        try await IdentityCertificate.issue(
            identityKey: key, provider: SimulatedTEE.ephemeral(), nonce: nonce, notValidBefore: start, notValidAfter: end)
    }

    /// Verifies and returns the error's code, or nil when verification succeeded.
    static func failure(
        _ certificate: [UInt8], nonce: [UInt8]? = nil, at time: Date = now
    ) async -> AttestationError.Code? {
        await AttestationSamples.errorCode { _ = try await IdentityCertificate.verify(certificate, nonce: nonce, at: time) }
    }

    @Test func roundTripWithoutNonce() async throws {
        let key = P256.Signing.PrivateKey()
        let issued = try await Self.issue(key: key)
        #expect(issued.pem.hasPrefix("-----BEGIN CERTIFICATE-----"))
        for form in [issued.der, Array(issued.pem.utf8)] {
            let verified = try await IdentityCertificate.verify(form, nonce: nil, at: Self.now)
            #expect(verified.publicKey.rawRepresentation == key.publicKey.rawRepresentation)
            #expect(verified.nonce == nil)
            #expect(verified.der == issued.der)
            #expect(verified.claims.tee == "simulated")
            #expect(AppraisalPolicy().appraise(verified.claims).count == 1)
            let claims = IdentityCertificate.Claims(publicKeyHash: Array(SHA256.hash(data: key.publicKey.derRepresentation)), nonce: nil)
            #expect(verified.claims.reportData == Array(SHA256.hash(data: claims.encoded)) + [UInt8](repeating: 0, count: 32))
        }
        let claims = try await Evidence.verify(issued.evidence, certificate: nil, at: Self.now)
        #expect(claims.tee == "simulated")
    }

    @Test func roundTripWithNonce() async throws {
        let nonce = Array("a fresh nonce from the client".utf8)
        let issued = try await Self.issue(nonce: nonce)
        let verified = try await IdentityCertificate.verify(issued.der, nonce: nonce, at: Self.now)
        #expect(verified.nonce == nonce)
        // Without an expected nonce the certificate still verifies and reports its nonce.
        #expect(try await IdentityCertificate.verify(issued.der, nonce: nil, at: Self.now).nonce == nonce)
    }

    @Test func wrongOrMissingNonce() async throws {
        let issued = try await Self.issue(nonce: [1, 2, 3])
        #expect(await Self.failure(issued.der, nonce: [1, 2, 4]) == .bindingMismatch)
        #expect(await Self.failure(issued.der, nonce: []) == .bindingMismatch)
        let withoutNonce = try await Self.issue()
        #expect(await Self.failure(withoutNonce.der, nonce: [1, 2, 3]) == .bindingMismatch)
    }

    @Test func claimsFormatIsTheInteroperableOne() throws {
        let hash = [UInt8](repeating: 0xAB, count: 32)
        let claims = IdentityCertificate.Claims(publicKeyHash: hash, nonce: [9])
        // {"nonce": h'09', "pubkey-hash": h'<[1, h'ab…']>'}, keys in deterministic order.
        let expected = "a2" + "65" + Array("nonce".utf8).hex + "4109" + "6b" + Array("pubkey-hash".utf8).hex
            + "5824" + "820158" + "20" + hash.hex
        #expect(claims.encoded.hex == expected)
        #expect(try IdentityCertificate.Claims(decoding: claims.encoded) == claims)
    }

    @Test func evidenceBindingAnotherKey() async throws {
        let key = P256.Signing.PrivateKey()
        let other = P256.Signing.PrivateKey()
        let claims = IdentityCertificate.Claims(publicKeyHash: Array(SHA256.hash(data: other.publicKey.derRepresentation)), nonce: nil).encoded
        let evidence = try await SimulatedTEE.ephemeral().evidence(reportData: IdentityCertificate.Claims.reportData(binding: claims))
        let forged = try IdentityCertificate.make(
            identityKey: key, claims: claims, evidence: evidence, notValidBefore: Self.start, notValidAfter: Self.end)
        #expect(await Self.failure(forged) == .bindingMismatch)
    }

    @Test func evidenceOverOtherClaims() async throws {
        let key = P256.Signing.PrivateKey()
        let claims = IdentityCertificate.Claims(publicKeyHash: Array(SHA256.hash(data: key.publicKey.derRepresentation)), nonce: nil).encoded
        let evidence = try await SimulatedTEE.ephemeral().evidence(reportData: [UInt8](repeating: 0, count: 64))
        let forged = try IdentityCertificate.make(
            identityKey: key, claims: claims, evidence: evidence, notValidBefore: Self.start, notValidAfter: Self.end)
        #expect(await Self.failure(forged) == .bindingMismatch)
    }

    @Test func evidenceWithABadSignature() async throws {
        let key = P256.Signing.PrivateKey()
        let claims = IdentityCertificate.Claims(publicKeyHash: Array(SHA256.hash(data: key.publicKey.derRepresentation)), nonce: nil).encoded
        var evidence = try await SimulatedTEE.ephemeral().evidence(reportData: IdentityCertificate.Claims.reportData(binding: claims))
        evidence[20] ^= 0x01  // in the measurement: covered by the platform signature
        let forged = try IdentityCertificate.make(
            identityKey: key, claims: claims, evidence: evidence, notValidBefore: Self.start, notValidAfter: Self.end)
        #expect(await Self.failure(forged) == .badSignature)
    }

    @Test func everyTamperedByteFails() async throws {
        let issued = try await Self.issue(nonce: [7, 7, 7])
        for index in issued.der.indices {
            var tampered = issued.der
            tampered[index] ^= 0x01
            if await Self.failure(tampered, nonce: [7, 7, 7]) == nil {
                Issue.record("byte \(index) flipped still verifies")
            }
        }
        for length in stride(from: 0, to: issued.der.count, by: 7) {
            #expect(await Self.failure(Array(issued.der.prefix(length))) == .malformed)
        }
    }

    /// swift-certificates accepts a signature BIT STRING that declares an unused bit; the byte is not signed.
    @Test func signatureBitStringWithUnusedBitsFails() async throws {
        var der = try await Self.issue().der
        let index = try #require(der.indices.dropFirst(2).first { der[$0 - 2] == 0x03 && Int(der[$0 - 1]) == der.count - $0 && der[$0] == 0 })
        der[index] = 1
        #expect(await Self.failure(der) == .malformed)
    }

    @Test func outsideTheValidityPeriod() async throws {
        let issued = try await Self.issue()
        #expect(await Self.failure(issued.der, at: Self.end.addingTimeInterval(1)) == .untrustedChain)
        #expect(await Self.failure(issued.der, at: Self.start.addingTimeInterval(-1)) == .untrustedChain)
        #expect(await Self.failure(issued.der, at: Self.end) == nil)
    }

    @Test func missingExtensionOrUnknownCriticalExtension() async throws {
        let key = P256.Signing.PrivateKey()
        let name = try FunctionCertificate.issuerName()
        func make(_ extensions: [DERCertificate.Extension]) throws -> [UInt8] {
            try DERCertificate.signed(
                issuer: name, subject: name, subjectPublicKeyInfo: Array(key.publicKey.derRepresentation),
                notBefore: Self.start, notAfter: Self.end, extensions: extensions, issuerKey: key)
        }
        #expect(await Self.failure(try make([])) == .malformed)
        let issued = try await Self.issue(key: key)
        let value = try #require(try DERCertificate(der: issued.der).extensionValue(oid: IdentityCertificate.extensionOIDContent))
        let ratls = DERCertificate.Extension(oid: IdentityCertificate.extensionOIDContent, critical: false, value: value)
        #expect(await Self.failure(try make([ratls])) == nil)
        #expect(await Self.failure(try make([ratls, .init(oid: [0x2A, 0x03], critical: true, value: [0x05, 0x00])])) == .unsupported)
        #expect(await Self.failure(try make([ratls, .init(oid: [0x2A, 0x03], critical: false, value: [0x05, 0x00])])) == nil)
    }

    @Test func garbageAndOtherPEM() async {
        #expect(await Self.failure([]) == .malformed)
        #expect(await Self.failure(Array("hello".utf8)) == .malformed)
        let key = Array(P256.Signing.PrivateKey().pemRepresentation.utf8)
        #expect(await Self.failure(key) == .malformed)
    }

    @Test func providerMustReturn64ByteReportData() async {
        struct Broken: TEEProvider {
            var tee: String { "simulated" }
            func evidence(reportData: [UInt8]) async throws -> [UInt8] {
                try await SimulatedTEE.ephemeral().evidence(reportData: [UInt8](repeating: 1, count: 64))
            }
        }
        await #expect(throws: AttestationError.self) {
            _ = try await IdentityCertificate.issue(
                identityKey: P256.Signing.PrivateKey(), provider: Broken(), nonce: nil,
                notValidBefore: Self.start, notValidAfter: Self.end)
        }
    }

    static let workers = RuntimeClaims(isolation: RuntimeClaims.workers, confinement: "seccomp-bpf", engine: "wasmkit-interpreter", engineVersion: "0.4.2")
    static let inProcess = RuntimeClaims(isolation: RuntimeClaims.inProcess, engine: "wasmkit-interpreter", engineVersion: "0.4.2")

    @Test("the runtime claim (isolation, engine) is in the claims the evidence binds, and comes back verified")
    func runtimeClaimRoundTrip() async throws {
        let key = P256.Signing.PrivateKey()
        for runtime in [Self.workers, Self.inProcess] {
            let issued = try await IdentityCertificate.issue(
                identityKey: key, provider: SimulatedTEE.ephemeral(), nonce: [5], runtime: runtime, notValidBefore: Self.start, notValidAfter: Self.end)
            let verified = try await IdentityCertificate.verify(issued.der, nonce: [5], at: Self.now)
            #expect(verified.claims.runtime == runtime)
            let claims = IdentityCertificate.Claims(publicKeyHash: Array(SHA256.hash(data: key.publicKey.derRepresentation)), nonce: [5], runtime: runtime)
            #expect(verified.claims.reportData == IdentityCertificate.Claims.reportData(binding: claims.encoded))
            // Through the RA-TLS entry point of `tabula attest verify` too.
            #expect(try await RATLSCertificate.verify(issued.der, at: Self.now).runtime == runtime)
        }
        #expect(try await IdentityCertificate.verify(try await Self.issue().der, nonce: nil, at: Self.now).claims.runtime == nil)
    }

    @Test("the runtime claim's encoding: a map of texts under \"tabula-runtime\"; extra keys inside it are ignored")
    func runtimeClaimFormat() throws {
        let hash = [UInt8](repeating: 0xAB, count: 32)
        let claims = IdentityCertificate.Claims(publicKeyHash: hash, nonce: nil, runtime: Self.workers)
        let value = try CBOR(decoding: claims.encoded)
        #expect(value["tabula-runtime"] == .map([
            .init(.text("engine"), .text("wasmkit-interpreter")), .init(.text("isolation"), .text("workers")),
            .init(.text("confinement"), .text("seccomp-bpf")), .init(.text("engine-version"), .text("0.4.2")),
        ]))
        #expect(try IdentityCertificate.Claims(decoding: claims.encoded) == claims)
        let later = CBOR.map([
            .init(.text("pubkey-hash"), .bytes(CBOR.array([.unsigned(1), .bytes(hash)]).encoded)),
            .init(.text("tabula-runtime"), .map([
                .init(.text("isolation"), .text("workers")), .init(.text("confinement"), .text("seccomp-bpf")),
                .init(.text("engine"), .text("wasmkit-interpreter")), .init(.text("engine-version"), .text("0.4.2")),
                .init(.text("future-fact"), .unsigned(1)),
            ])),
        ])
        #expect(try IdentityCertificate.Claims(decoding: later.encoded).runtime == Self.workers)
    }

    @Test("a hostile runtime claim is refused as malformed: not a map, a missing or non-text field, control characters, too long")
    func hostileRuntimeClaims() {
        let hash = CBOR.bytes(CBOR.array([.unsigned(1), .bytes([UInt8](repeating: 1, count: 32))]).encoded)
        func claims(_ runtime: CBOR) -> [UInt8] {
            CBOR.map([.init(.text("pubkey-hash"), hash), .init(.text("tabula-runtime"), runtime)]).encoded
        }
        func runtime(isolation: CBOR = .text("workers"), engine: CBOR? = .text("wasmkit-interpreter")) -> CBOR {
            var entries = [CBOR.Entry(.text("isolation"), isolation), .init(.text("engine-version"), .text("0.4.2"))]
            if let engine { entries.append(.init(.text("engine"), engine)) }
            return .map(entries)
        }
        let hostile: [CBOR] = [
            .text("workers"), .array([.text("workers")]), .bytes(Array("workers".utf8)),
            runtime(engine: nil), runtime(isolation: .bytes(Array("workers".utf8))), runtime(isolation: .unsigned(1)),
            runtime(isolation: .text("workers\u{1B}[2J")), runtime(isolation: .text("w\norkers")), runtime(isolation: .text("wörkers")),
            runtime(isolation: .text(String(repeating: "w", count: 65))),
        ]
        for value in hostile {
            let error = #expect(throws: AttestationError.self) { _ = try IdentityCertificate.Claims(decoding: claims(value)) }
            #expect(error?.code == .malformed && error?.message.contains("tabula-runtime") == true, "\(value): \(String(describing: error))")
        }
        #expect(throws: Never.self) { _ = try IdentityCertificate.Claims(decoding: claims(runtime(isolation: .text(String(repeating: "w", count: 64))))) }
    }

    @Test("a changed runtime claim does not verify: edited in place it breaks the self-signature; re-signed, the evidence no longer binds it")
    func mutatedRuntimeClaim() async throws {
        let key = P256.Signing.PrivateKey()
        let issued = try await IdentityCertificate.issue(
            identityKey: key, provider: SimulatedTEE.ephemeral(), nonce: nil, runtime: Self.inProcess, notValidBefore: Self.start, notValidAfter: Self.end)
        #expect(await Self.failure(issued.der) == nil)
        // "in-process" -> "in-procesX" inside the signed certificate.
        let text = Array("in-process".utf8)
        let at = try #require(issued.der.indices.first { Array(issued.der[$0...].prefix(text.count)) == text })
        var edited = issued.der
        edited[at + text.count - 1] = UInt8(ascii: "X")
        #expect(await Self.failure(edited) == .badSignature)
        // The holder of the identity key (not of the TEE) claims workers over evidence that binds in-process.
        let (evidence, _) = try IdentityCertificate.parseExtensionValue(try #require(try DERCertificate(der: issued.der).extensionValue(oid: IdentityCertificate.extensionOIDContent)))
        let claimsWorkers = IdentityCertificate.Claims(publicKeyHash: Array(SHA256.hash(data: key.publicKey.derRepresentation)), nonce: nil, runtime: Self.workers).encoded
        let forged = try IdentityCertificate.make(identityKey: key, claims: claimsWorkers, evidence: evidence, notValidBefore: Self.start, notValidAfter: Self.end)
        #expect(await Self.failure(forged) == .bindingMismatch)
    }

    /// The Gramine sample carries the same extension: its claims decode and its quote binds them.
    @Test func gramineSampleExtensionDecodes() async throws {
        let url = Fixtures.url("attestation/ratls/gramine-cert.pem")
        let der = try DERCertificate.der(Array(try Data(contentsOf: url)))
        let certificate = try DERCertificate(der: der)
        #expect(certificate.signatureAlgorithm == DERCertificate.ecdsaWithSHA256NullParameters)
        let value = try #require(certificate.extensionValue(oid: IdentityCertificate.extensionOIDContent))
        let (quote, encodedClaims) = try IdentityCertificate.parseExtensionValue(value)
        let claims = try IdentityCertificate.Claims(decoding: encodedClaims)
        #expect(claims.nonce == nil)
        #expect(claims.publicKeyHash == Array(SHA256.hash(data: certificate.subjectPublicKeyInfo)))
        #expect(try Evidence.unverifiedReportData(quote) == IdentityCertificate.Claims.reportData(binding: encodedClaims))
        #expect(CBOR.tagged(60000, .array([.bytes(quote), .bytes(encodedClaims)])).encoded == value)
        // The quote itself verifies to the Intel root while its PCK chain is valid.
        let verified = try await Evidence.verify(quote, certificate: nil, at: Self.now)
        #expect(verified.tee == "sgx")
    }
}
