import Crypto
import Foundation
import Testing

/// RFC 9180 Appendix A.1 and A.2 (DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, base mode), run against
/// the swift-crypto HPKE that Oblivious HTTP is built on: if these fail, nothing above can be right.
@Suite("HPKE RFC 9180 vectors")
struct HPKEVectorTests {
    @Test("A.1: X25519, HKDF-SHA256, AES-128-GCM, base mode")
    func aes128GCM() throws {
        try checkBaseModeVectors(aeadID: 0x0001, aead: .AES_GCM_128)
    }

    @Test("A.2: X25519, HKDF-SHA256, ChaCha20-Poly1305, base mode")
    func chaCha20Poly1305() throws {
        try checkBaseModeVectors(aeadID: 0x0003, aead: .chaChaPoly)
    }

    /// Derives the recipient from `skRm`, opens every encryption at its sequence number, and
    /// compares every exported value.
    private func checkBaseModeVectors(aeadID: Int, aead: HPKE.AEAD) throws {
        let vectors = try HPKEVector.load().filter { $0.mode == 0 && $0.kemID == 0x0020 && $0.kdfID == 0x0001 && $0.aeadID == aeadID }
        try #require(vectors.count == 1, "expected one base-mode vector for AEAD \(aeadID)")
        let ciphersuite = HPKE.Ciphersuite(kem: .Curve25519_HKDF_SHA256, kdf: .HKDF_SHA256, aead: aead)

        for vector in vectors {
            let privateKey = try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: bytes(vector.skRm))
            #expect(Array(privateKey.publicKey.rawRepresentation) == bytes(vector.pkRm))
            var recipient = try HPKE.Recipient(
                privateKey: privateKey, ciphersuite: ciphersuite,
                info: Data(bytes(vector.info)), encapsulatedKey: Data(bytes(vector.enc))
            )

            // HPKE.Recipient only moves to the next sequence number by opening a message, and the
            // vectors skip some (3, 5…254). Fill the gaps with empty messages sealed under the
            // vector's own key and nonces: they open only if the recipient derived that same key.
            var sequenceNumber = 0
            for encryption in vector.encryptions.sorted(by: { $0.sequenceNumber < $1.sequenceNumber }) {
                while sequenceNumber < encryption.sequenceNumber {
                    let filler = try seal([], aead: aead, key: bytes(vector.key), nonce: nonce(base: bytes(vector.baseNonce), sequenceNumber))
                    _ = try recipient.open(filler, authenticating: [UInt8]())
                    sequenceNumber += 1
                }
                #expect(nonce(base: bytes(vector.baseNonce), sequenceNumber) == bytes(encryption.nonce))
                let plaintext = try recipient.open(bytes(encryption.ct), authenticating: bytes(encryption.aad))
                #expect(Array(plaintext) == bytes(encryption.pt), "sequence number \(encryption.sequenceNumber)")
                sequenceNumber += 1
            }

            for export in vector.exports {
                let exported = try recipient.exportSecret(context: bytes(export.exporterContext), outputByteCount: export.length)
                #expect(exported.withUnsafeBytes { Array($0) } == bytes(export.exportedValue), "export with context \(export.exporterContext)")
            }
        }
    }

    /// `base_nonce XOR I2OSP(seq, Nn)` (RFC 9180 §5.2).
    private func nonce(base: [UInt8], _ sequenceNumber: Int) -> [UInt8] {
        var nonce = base
        var value = sequenceNumber
        for index in nonce.indices.reversed() where value != 0 {
            nonce[index] ^= UInt8(truncatingIfNeeded: value)
            value >>= 8
        }
        return nonce
    }

    private func seal(_ message: [UInt8], aead: HPKE.AEAD, key: [UInt8], nonce: [UInt8]) throws -> [UInt8] {
        let key = SymmetricKey(data: key)
        if aead == .chaChaPoly {
            let box = try ChaChaPoly.seal(message, using: key, nonce: ChaChaPoly.Nonce(data: nonce))
            return Array(box.ciphertext) + Array(box.tag)
        }
        let box = try AES.GCM.seal(message, using: key, nonce: AES.GCM.Nonce(data: nonce))
        return Array(box.ciphertext) + Array(box.tag)
    }
}

/// One entry of the CFRG `test-vectors.json` format.
private struct HPKEVector: Decodable {
    struct Encryption: Decodable {
        var sequenceNumber: Int
        var pt: String
        var aad: String
        var nonce: String
        var ct: String

        enum CodingKeys: String, CodingKey {
            case sequenceNumber = "sequence_number", pt, aad, nonce, ct
        }
    }

    struct Export: Decodable {
        var exporterContext: String
        var length: Int
        var exportedValue: String

        enum CodingKeys: String, CodingKey {
            case exporterContext = "exporter_context", length = "L", exportedValue = "exported_value"
        }
    }

    var mode: Int
    var kemID: Int
    var kdfID: Int
    var aeadID: Int
    var info: String
    var skRm: String
    var pkRm: String
    var enc: String
    var key: String
    var baseNonce: String
    var encryptions: [Encryption]
    var exports: [Export]

    enum CodingKeys: String, CodingKey {
        case mode, kemID = "kem_id", kdfID = "kdf_id", aeadID = "aead_id", info, skRm, pkRm, enc, key
        case baseNonce = "base_nonce", encryptions, exports
    }

    /// `shared/` sits beside the repository root, three directories above this file.
    static func load() throws -> [HPKEVector] {
        let url = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent("shared/testdata/hpke/rfc9180-appendixA-x25519-vectors.json")
        return try JSONDecoder().decode([HPKEVector].self, from: Data(contentsOf: url))
    }
}

private func bytes(_ hex: String) -> [UInt8] {
    guard let bytes = [UInt8](hex: hex) else { preconditionFailure("not hex: \(hex)") }
    return bytes
}
