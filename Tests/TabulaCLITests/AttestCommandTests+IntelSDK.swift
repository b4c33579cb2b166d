import Crypto
import Foundation
import Testing
import TabulaAttestation
import TabulaWire

/// `tabula attest verify` on RA-TLS certificates laid out as Intel's SGX SDK attested TLS writes them
/// (docs/attestation.md), built here byte by byte so that the format is checked independently of the
/// verifier's own helpers.
extension AttestCommandTests {
    /// A DER tag-length-value.
    private static func tlv(_ tag: UInt8, _ content: [UInt8]) -> [UInt8] {
        var length: [UInt8] = []
        var count = content.count
        if count < 0x80 { return [tag, UInt8(count)] + content }
        while count > 0 {
            length.insert(UInt8(count & 0xFF), at: 0)
            count >>= 8
        }
        return [tag, 0x80 | UInt8(length.count)] + length + content
    }

    /// A CBOR byte string (lengths below 65536 are all these tests need).
    private static func cborBytes(_ bytes: [UInt8]) -> [UInt8] {
        switch bytes.count {
        case ..<24: [0x40 | UInt8(bytes.count)] + bytes
        case ..<256: [0x58, UInt8(bytes.count)] + bytes
        default: [0x59, UInt8(bytes.count >> 8), UInt8(bytes.count & 0xFF)] + bytes
        }
    }

    /// The SDK's certificate: P-384 key, self-signed with ecdsa-with-SHA256, the raw quote under
    /// 1.2.840.113741.1.13.1 and `60000([quote, claims])` under 2.23.133.5.4.9, the claims
    /// `{"pubkey-hash": [1, SHA-256(boundKey)]}`, the report data SHA-256 of the claims. PEM.
    private static func intelSDKCertificate(key: P384.Signing.PrivateKey, boundKey: [UInt8], quote override: [UInt8]? = nil) async throws -> [UInt8] {
        let hashEntry: [UInt8] = [0x82, 0x01] + cborBytes(Array(SHA256.hash(data: boundKey)))
        let claims: [UInt8] = [0xA1, 0x6B] + Array("pubkey-hash".utf8) + cborBytes(hashEntry)
        var quote = try await SimulatedTEE.ephemeral().evidence(reportData: Array(SHA256.hash(data: claims)) + [UInt8](repeating: 0, count: 32))
        if let override { quote = override }
        let evidence: [UInt8] = [0xD9, 0xEA, 0x60, 0x82] + cborBytes(quote) + cborBytes(claims)

        let ecdsaWithSHA256: [UInt8] = [0x30, 0x0A, 0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02]
        let name = tlv(0x30, tlv(0x31, tlv(0x30, [0x06, 0x03, 0x55, 0x04, 0x03] + tlv(0x0C, Array("Intel SGX Enclave".utf8)))))
        let validity = tlv(0x30, tlv(0x17, Array("210401000000Z".utf8)) + tlv(0x18, Array("20501231235959Z".utf8)))
        let quoteOID: [UInt8] = [0x2A, 0x86, 0x48, 0x86, 0xF8, 0x4D, 0x01, 0x0D, 0x01]
        let interoperableOID: [UInt8] = [0x67, 0x81, 0x05, 0x05, 0x04, 0x09]
        let extensions = tlv(0x30, tlv(0x06, quoteOID) + tlv(0x04, quote)) + tlv(0x30, tlv(0x06, interoperableOID) + tlv(0x04, evidence))
        let tbs = tlv(
            0x30,
            [0xA0, 0x03, 0x02, 0x01, 0x02] + [0x02, 0x01, 0x01] + ecdsaWithSHA256 + name + validity + name
                + Array(key.publicKey.derRepresentation) + tlv(0xA3, tlv(0x30, extensions)))
        let signature = try key.signature(for: SHA256.hash(data: tbs)).derRepresentation
        let der = tlv(0x30, tbs + ecdsaWithSHA256 + tlv(0x03, [0x00] + Array(signature)))
        return Array(Data(der).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed]).utf8).wrappedAsPEM
    }

    @Test func intelSDKCertificateWithAP384Key() async throws {
        let key = P384.Signing.PrivateKey()
        let good = try temporary(try await Self.intelSDKCertificate(key: key, boundKey: Array(key.publicKey.derRepresentation)), ".pem")
        defer { try? FileManager.default.removeItem(at: good) }
        let (status, report) = try await verify([good.path, "--allow-simulated"])
        #expect(status == 0, "\(report)")
        #expect(report["raTLS"] == "intel-sdk")
        #expect(report["certificateKey"] == "P-384")
        #expect(report["certificateKeyBound"] == true)
        #expect(report["keyBinding"] == "pubkey-hash claims")

        // The claims name another key: refused, saying which binding failed.
        let other = Array(P384.Signing.PrivateKey().publicKey.derRepresentation)
        let forged = try temporary(try await Self.intelSDKCertificate(key: key, boundKey: other), ".pem")
        defer { try? FileManager.default.removeItem(at: forged) }
        let (forgedStatus, forgedReport) = try await verify([forged.path, "--allow-simulated"])
        #expect(forgedStatus == 1)
        #expect(forgedReport["verified"] == false)
        #expect(forgedReport["error"]?.stringValue?.contains("\"pubkey-hash\" is not the hash of the certificate's P-384 public key") == true, "\(forgedReport)")

        // Garbage where the quote should be (in both extensions): a clear refusal.
        let garbage = try temporary(try await Self.intelSDKCertificate(key: key, boundKey: other, quote: [1, 2, 3]), ".pem")
        defer { try? FileManager.default.removeItem(at: garbage) }
        let (garbageStatus, garbageReport) = try await verify([garbage.path, "--allow-simulated"])
        #expect(garbageStatus == 1)
        #expect(garbageReport["verified"] == false)
        #expect(garbageReport["error"]?.stringValue?.isEmpty == false)
    }
}

extension [UInt8] {
    /// Base64 lines as a PEM certificate.
    fileprivate var wrappedAsPEM: [UInt8] {
        Array("-----BEGIN CERTIFICATE-----\n".utf8) + self + Array("\n-----END CERTIFICATE-----\n".utf8)
    }
}
