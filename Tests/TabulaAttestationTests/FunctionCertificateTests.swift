import Crypto
import Foundation
import SwiftASN1
@testable import TabulaAttestation
import TabulaWire
import Testing

@Suite("Function certificate")
struct FunctionCertificateTests {
    static let now = Date(timeIntervalSince1970: 1_780_272_000)
    static let start = now.addingTimeInterval(-3600)
    static let end = now.addingTimeInterval(86400 * 30)
    static let claims = FunctionClaims(
        namespace: "guest", name: "pkg/hello", version: "0.0.1",
        moduleDigest: String(repeating: "ab", count: 32), policyDigest: String(repeating: "cd", count: 32),
        snapshotDigest: String(repeating: "ef", count: 32),
        limits: ["timeout": 60_000, "memory": 256, "logs": 10, "concurrency": 1], epoch: UInt64.max)

    static func der(_ pem: String) throws -> [UInt8] {
        try DERCertificate.der(Array(pem.utf8))
    }

    static func failure(_ certificate: [UInt8], key: P256.Signing.PublicKey, at time: Date = now) -> AttestationError.Code? {
        AttestationSamples.errorCode { _ = try FunctionCertificate.verify(certificate, identityKey: key, at: time) }
    }

    @Test func roundTrip() throws {
        let key = P256.Signing.PrivateKey()
        let pem = try FunctionCertificate.issue(Self.claims, identityKey: key, notValidBefore: Self.start, notValidAfter: Self.end)
        #expect(pem.hasPrefix("-----BEGIN CERTIFICATE-----"))
        #expect(try FunctionCertificate.verify(Array(pem.utf8), identityKey: key.publicKey, at: Self.now) == Self.claims)
        #expect(try FunctionCertificate.verify(Self.der(pem), identityKey: key.publicKey, at: Self.now) == Self.claims)
    }

    @Test func claimsAreCanonicalJSONInTheExtension() async throws {
        let key = P256.Signing.PrivateKey()
        let pem = try FunctionCertificate.issue(Self.claims, identityKey: key, notValidBefore: Self.start, notValidAfter: Self.end)
        let certificate = try DERCertificate(der: Self.der(pem))
        let json = try #require(certificate.extensionValue(oid: FunctionCertificate.claimsOID))
        #expect(json == Array(JSONValue.encode(Self.claims)))
        #expect(String(decoding: json, as: UTF8.self).hasPrefix(#"{"epoch":18446744073709551615,"limits":{"concurrency":1,"logs":10,"memory":256,"timeout":60000},"moduleDigest":"#))
        // The issuer is the identity certificate's subject, byte for byte.
        let identity = try await IdentityCertificate.issue(
            identityKey: key, provider: SimulatedTEE.ephemeral(), nonce: nil, notValidBefore: Self.start, notValidAfter: Self.end)
        #expect(certificate.issuer == (try DERCertificate(der: identity.der).subject))
    }

    @Test func signedByAnotherKeyFails() throws {
        let pem = try FunctionCertificate.issue(
            Self.claims, identityKey: P256.Signing.PrivateKey(), notValidBefore: Self.start, notValidAfter: Self.end)
        #expect(Self.failure(Array(pem.utf8), key: P256.Signing.PrivateKey().publicKey) == .badSignature)
    }

    @Test func everyTamperedByteFails() throws {
        let key = P256.Signing.PrivateKey()
        let der = try Self.der(
            FunctionCertificate.issue(Self.claims, identityKey: key, notValidBefore: Self.start, notValidAfter: Self.end))
        for index in der.indices {
            var tampered = der
            tampered[index] ^= 0x01
            if Self.failure(tampered, key: key.publicKey) == nil { Issue.record("byte \(index) flipped still verifies") }
        }
        for length in 0..<der.count {
            #expect(Self.failure(Array(der.prefix(length)), key: key.publicKey) == .malformed)
        }
        #expect(Self.failure(der + [0], key: key.publicKey) == .malformed)
    }

    @Test func outsideTheValidityPeriod() throws {
        let key = P256.Signing.PrivateKey()
        let pem = Array(try FunctionCertificate.issue(Self.claims, identityKey: key, notValidBefore: Self.start, notValidAfter: Self.end).utf8)
        #expect(Self.failure(pem, key: key.publicKey, at: Self.end.addingTimeInterval(1)) == .untrustedChain)
        #expect(Self.failure(pem, key: key.publicKey, at: Self.start.addingTimeInterval(-1)) == .untrustedChain)
        // After 2049 the validity is a GeneralizedTime.
        let late = Date(timeIntervalSince1970: 2_600_000_000)
        let far = try FunctionCertificate.issue(Self.claims, identityKey: key, notValidBefore: Self.start, notValidAfter: late)
        #expect(try FunctionCertificate.verify(Array(far.utf8), identityKey: key.publicKey, at: late) == Self.claims)
        #expect(Self.failure(Array(far.utf8), key: key.publicKey, at: late.addingTimeInterval(1)) == .untrustedChain)
    }

    @Test func nonCanonicalClaimsAndUnknownCriticalExtensions() throws {
        let key = P256.Signing.PrivateKey()
        func make(_ extensions: [DERCertificate.Extension]) throws -> [UInt8] {
            try DERCertificate.signed(
                issuer: FunctionCertificate.issuerName(), subject: FunctionCertificate.subjectName(),
                subjectPublicKeyInfo: Array(key.publicKey.derRepresentation), notBefore: Self.start, notAfter: Self.end,
                extensions: extensions, issuerKey: key)
        }
        let canonical = Array(JSONValue.encode(Self.claims))
        #expect(Self.failure(try make([.init(oid: FunctionCertificate.claimsOID, critical: false, value: canonical)]), key: key.publicKey) == nil)
        let spaced = Array(String(decoding: canonical, as: UTF8.self).replacingOccurrences(of: ",", with: ", ").utf8)
        #expect(Self.failure(try make([.init(oid: FunctionCertificate.claimsOID, critical: false, value: spaced)]), key: key.publicKey) == .malformed)
        #expect(Self.failure(try make([.init(oid: FunctionCertificate.claimsOID, critical: false, value: Array("{}".utf8))]), key: key.publicKey) == .malformed)
        #expect(Self.failure(try make([]), key: key.publicKey) == .malformed)
        let critical = DERCertificate.Extension(oid: [0x2A, 0x03], critical: true, value: [0x05, 0x00])
        #expect(Self.failure(
            try make([.init(oid: FunctionCertificate.claimsOID, critical: false, value: canonical), critical]),
            key: key.publicKey) == .unsupported)
        // A certificate for another key, signed by the identity key, is not a function certificate.
        let other = try DERCertificate.signed(
            issuer: FunctionCertificate.issuerName(), subject: FunctionCertificate.subjectName(),
            subjectPublicKeyInfo: Array(P256.Signing.PrivateKey().publicKey.derRepresentation), notBefore: Self.start,
            notAfter: Self.end, extensions: [.init(oid: FunctionCertificate.claimsOID, critical: false, value: canonical)],
            issuerKey: key)
        #expect(Self.failure(other, key: key.publicKey) == .bindingMismatch)
    }

    @Test func claimsOIDIsTheUUIDArc() {
        #expect(FunctionCertificate.claimsOID.hex == "6981de9cbd94c7d1f2be979cb2caefe0eaaaa343")
        #expect(FunctionCertificate.dottedObjectIdentifier(FunctionCertificate.claimsOID)
            == "2.25.147692172813760837755398364301603017155")
        #expect(FunctionCertificate.dottedObjectIdentifier([0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D]) == "1.2.840.113549")
        #expect(FunctionCertificate.dottedObjectIdentifier([0x67, 0x81, 0x05, 0x05, 0x04, 0x09]) == "2.23.133.5.4.9")
        #expect(FunctionCertificate.dottedObjectIdentifier([0x2A, 0x80, 0x01]) == nil)
        #expect(FunctionCertificate.dottedObjectIdentifier([0x2A, 0x86]) == nil)
        #expect(FunctionCertificate.dottedObjectIdentifier([]) == nil)
        // Why DERCertificate exists: swift-asn1 refuses an arc this wide even from DER.
        #expect(throws: (any Error).self) {
            _ = try ASN1ObjectIdentifier(derEncoded: [0x06, UInt8(FunctionCertificate.claimsOID.count)] + FunctionCertificate.claimsOID)
        }
    }
}
