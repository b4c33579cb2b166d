import _CryptoExtras
import Crypto
import Foundation
import SwiftASN1
import TabulaTestSupport
import Testing
import X509
@testable import TabulaAttestation

@Suite("RA-TLS certificates")
struct RATLSCertificateTests {
    static let gramine = Fixtures.url("attestation/ratls/gramine-cert.pem")
    static let time = ISO8601DateFormatter().date(from: "2026-06-01T00:00:00Z")!

    @Test("Gramine's legacy certificate: the quote verifies and binds the certificate's P-384 key")
    func gramineLegacy() async throws {
        let pem = Array(try Data(contentsOf: Self.gramine))
        let claims = try await RATLSCertificate.verify(pem, at: Self.time)
        #expect(claims.tee == "sgx")
        #expect(claims.fields["raTLS"] == "legacy")
        #expect(claims.fields["certificateKeyBound"] == true)
    }

    @Test("a flipped byte anywhere in the certificate fails it")
    func tampered() async throws {
        let der = try Self.der(Array(try Data(contentsOf: Self.gramine)))
        for index in stride(from: 0, to: der.count, by: max(1, der.count / 97)) {
            var altered = der
            altered[index] ^= 0x01
            await #expect(throws: (any Error).self, "byte \(index)") { try await RATLSCertificate.verify(altered, at: Self.time) }
        }
    }

    @Test("Tabula's identity certificate is read as an interoperable one")
    func interoperable() async throws {
        let now = Date()
        let issued = try await IdentityCertificate.issue(
            identityKey: P256.Signing.PrivateKey(), provider: SimulatedTEE.ephemeral(), nonce: nil,
            notValidBefore: now.addingTimeInterval(-60), notValidAfter: now.addingTimeInterval(60))
        let claims = try await RATLSCertificate.verify(Array(issued.pem.utf8), at: now)
        #expect(claims.fields["raTLS"] == "interoperable")
        #expect(claims.tee == "simulated")
    }

    static func der(_ pem: [UInt8]) throws -> [UInt8] {
        let text = String(decoding: pem, as: UTF8.self)
        let body = text.components(separatedBy: "-----BEGIN CERTIFICATE-----")[1].components(separatedBy: "-----END CERTIFICATE-----")[0]
        return Array(try #require(Data(base64Encoded: body.filter { !$0.isWhitespace })))
    }

    @Test("Gramine's interoperable extension, checked alone, binds its P-384 key through the claims")
    func gramineInteroperable() async throws {
        let parsed = try DERCertificate(der: DERCertificate.der(Array(try Data(contentsOf: Self.gramine))))
        let value = try #require(parsed.extensionValue(oid: IdentityCertificate.extensionOIDContent))
        let claims = try await RATLSCertificate.verifyInteroperable(parsed, value: value, evidenceCertificate: nil, at: Self.time)
        #expect(claims.fields["raTLS"] == "interoperable")
        #expect(claims.fields["certificateKey"] == "P-384")
        #expect(claims.tee == "sgx")
    }

    /// A self-signed RA-TLS certificate with `key`, whose extension (interoperable or Gramine's legacy)
    /// holds simulated evidence; `boundKey` is the SubjectPublicKeyInfo DER the binding names.
    static func make(
        _ key: Certificate.PrivateKey, publicKey: Certificate.PublicKey, algorithm: Certificate.SignatureAlgorithm, boundKey: [UInt8],
        legacy: Bool, claimsInReport: [UInt8]? = nil
    ) async throws -> [UInt8] {
        let provider = SimulatedTEE.ephemeral()
        let value: [UInt8]
        if legacy {
            value = try await provider.evidence(reportData: Array(SHA256.hash(data: boundKey)) + [UInt8](repeating: 0, count: 32))
        } else {
            let claims = IdentityCertificate.Claims(publicKeyHash: Array(SHA256.hash(data: boundKey)), nonce: nil).encoded
            let evidence = try await provider.evidence(reportData: IdentityCertificate.Claims.reportData(binding: claimsInReport ?? claims))
            value = IdentityCertificate.extensionValue(evidence: evidence, claims: claims)
        }
        let oid: ASN1ObjectIdentifier = legacy ? [1, 2, 840, 113_741, 1337, 6] : [2, 23, 133, 5, 4, 9]
        let name = try DistinguishedName { CommonName("RA-TLS test") }
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: publicKey,
            notValidBefore: time.addingTimeInterval(-3600), notValidAfter: time.addingTimeInterval(3600), issuer: name, subject: name,
            signatureAlgorithm: algorithm, extensions: try Certificate.Extensions([Certificate.Extension(oid: oid, critical: false, value: value[...])]),
            issuerPrivateKey: key)
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        return serializer.serializedBytes
    }

    @Test("RSA and P-384 RA-TLS certificates verify when the binding names their key, and are refused when it does not", arguments: [false, true])
    func otherKeys(legacy: Bool) async throws {
        let rsa = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let p384 = P384.Signing.PrivateKey()
        let keys: [(Certificate.PrivateKey, Certificate.PublicKey, Certificate.SignatureAlgorithm, [UInt8], String)] = [
            (Certificate.PrivateKey(rsa), Certificate.PublicKey(rsa.publicKey), .sha256WithRSAEncryption, Array(rsa.publicKey.derRepresentation), "RSA-2048"),
            (Certificate.PrivateKey(p384), Certificate.PublicKey(p384.publicKey), .ecdsaWithSHA384, Array(p384.publicKey.derRepresentation), "P-384"),
        ]
        let otherKey = Array(P384.Signing.PrivateKey().publicKey.derRepresentation)
        for (key, publicKey, algorithm, spki, kind) in keys {
            let good = try await Self.make(key, publicKey: publicKey, algorithm: algorithm, boundKey: spki, legacy: legacy)
            let claims = try await RATLSCertificate.verify(good, at: Self.time)
            #expect(claims.fields["raTLS"] == (legacy ? "legacy" : "interoperable"))
            #expect(claims.fields["certificateKey"] == .string(kind))
            #expect(claims.tee == "simulated")

            let forged = try await Self.make(key, publicKey: publicKey, algorithm: algorithm, boundKey: otherKey, legacy: legacy)
            do {
                _ = try await RATLSCertificate.verify(forged, at: Self.time)
                Issue.record("\(kind): a binding to another key was accepted")
            } catch let error as AttestationError {
                #expect(error.code == .bindingMismatch, "\(kind): \(error)")
            }
            if !legacy {
                // The evidence binds other claims than the ones the certificate carries.
                let unbound = try await Self.make(key, publicKey: publicKey, algorithm: algorithm, boundKey: spki, legacy: false, claimsInReport: [0xA0])
                do {
                    _ = try await RATLSCertificate.verify(unbound, at: Self.time)
                    Issue.record("\(kind): evidence over other claims was accepted")
                } catch let error as AttestationError {
                    #expect(error.code == .bindingMismatch, "\(kind): \(error)")
                }
            }
        }
    }
}
