import Crypto
import Foundation
import TabulaTestSupport
import Testing
import TabulaAttestation

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
}
