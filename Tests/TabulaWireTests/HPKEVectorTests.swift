import Crypto
import Foundation
import TabulaTestSupport
import Testing
@testable import TabulaWire

/// RFC 9180 Appendix A.1 and A.2 (DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, base mode), run against
/// both HPKEs Oblivious HTTP is built on: swift-crypto's (X-Wing keys) and ``X25519HPKE`` (X25519
/// keys), with RFC 5869's HKDF vectors under the latter. If these fail, nothing above can be right.
@Suite("HPKE RFC 9180 vectors")
struct HPKEVectorTests {
    @Test("RFC 5869 A.1 and A.3: HKDF-SHA256 extract and expand")
    func hkdf() {
        let ikm = [UInt8](repeating: 0x0B, count: 22)
        let prk = HKDFSHA256.extract(salt: Array(0x00...0x0C), ikm)
        #expect(prk == bytes("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5"))
        #expect(HKDFSHA256.expand(prk: prk, info: Array(0xF0...0xF9), length: 42)
            == bytes("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"))
        let unsalted = HKDFSHA256.extract(salt: [], ikm)
        #expect(unsalted == bytes("19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04"))
        #expect(HKDFSHA256.expand(prk: unsalted, info: [], length: 42)
            == bytes("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"))
        // A key longer than SHA-256's block is hashed first (RFC 2104 §2).
        let longKey = [UInt8](repeating: 0xAA, count: 131)
        #expect(HKDFSHA256.authenticationCode(key: longKey, Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8))
            == bytes("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"))
    }

    @Test("A.1 and A.2: DeriveKeyPair(ikm) gives the vectors' private keys, as a key epoch's seed derives its X25519 gateway key")
    func deriveKeyPair() throws {
        let vectors = try HPKEVector.load().filter { $0.kemID == 0x0020 }
        try #require(!vectors.isEmpty)
        for vector in vectors {
            #expect(X25519HPKE.deriveKeyPair(ikm: bytes(vector.ikmR)) == bytes(vector.skRm))
            #expect(X25519HPKE.deriveKeyPair(ikm: bytes(vector.ikmE)) == bytes(vector.skEm))
            let keys = try ObliviousHTTP.GatewayKey.derive(seed: bytes(vector.ikmR), keyID: 9)
            #expect(keys.map(\.keyID) == [9, 10])
            #expect(keys[0].privateKeyBytes == bytes(vector.skRm))
            #expect(keys[0].configuration.publicKey == bytes(vector.pkRm))
        }
        // The X-Wing key comes from the same seed, differs from the X25519 one, and is stable.
        let seed = [UInt8](repeating: 7, count: 32)
        #expect(try ObliviousHTTP.GatewayKey.derive(seed: seed, keyID: 0)[1].privateKeyBytes == ObliviousHTTP.GatewayKey.derive(seed: seed, keyID: 0)[1].privateKeyBytes)
        #expect(throws: WireError.self) { try ObliviousHTTP.GatewayKey.derive(seed: [1, 2, 3], keyID: 0) }
    }

    @Test("A.1 and A.2 with X25519HPKE: sender and recipient derive the vectors' keys, seal and open every message, export every value",
          arguments: [KeyConfiguration.AEAD.aes128GCM, .chaCha20Poly1305])
    func x25519HPKE(aead: KeyConfiguration.AEAD) throws {
        let vectors = try HPKEVector.load().filter { $0.mode == 0 && $0.kemID == 0x0020 && $0.kdfID == 0x0001 && $0.aeadID == Int(aead.rawValue) }
        try #require(vectors.count == 1)
        let vector = vectors[0]
        let ephemeral = try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: bytes(vector.skEm))
        let recipientKey = try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: bytes(vector.skRm))
        let (encapsulatedKey, sender) = try X25519HPKE.setupSender(
            recipient: recipientKey.publicKey, info: bytes(vector.info), aead: aead, ephemeral: ephemeral)
        #expect(encapsulatedKey == bytes(vector.enc))
        let recipient = try X25519HPKE.setupRecipient(encapsulatedKey: bytes(vector.enc), privateKey: recipientKey, info: bytes(vector.info), aead: aead)
        for context in [sender, recipient] {
            #expect(context.key == bytes(vector.key))
            #expect(context.baseNonce == bytes(vector.baseNonce))
            #expect(context.exporterSecret == bytes(vector.exporterSecret))
        }
        for encryption in vector.encryptions {
            let sequenceNumber = UInt64(encryption.sequenceNumber)
            #expect(try sender.seal(bytes(encryption.pt), authenticating: bytes(encryption.aad), sequenceNumber: sequenceNumber) == bytes(encryption.ct))
            #expect(try recipient.open(bytes(encryption.ct), authenticating: bytes(encryption.aad), sequenceNumber: sequenceNumber) == bytes(encryption.pt))
            // At any other sequence number the message does not open.
            #expect(throws: (any Error).self) {
                try recipient.open(bytes(encryption.ct), authenticating: bytes(encryption.aad), sequenceNumber: sequenceNumber + 1)
            }
        }
        for export in vector.exports {
            #expect(recipient.export(bytes(export.exporterContext), length: export.length) == bytes(export.exportedValue))
        }
    }

    @Test("X25519HPKE refuses an all-zero shared secret (a small-order enc) and a short enc")
    func smallOrderPoint() throws {
        let key = Curve25519.KeyAgreement.PrivateKey()
        #expect(throws: (any Error).self) {
            try X25519HPKE.setupRecipient(encapsulatedKey: [UInt8](repeating: 0, count: 32), privateKey: key, info: [], aead: .aes128GCM)
        }
        #expect(throws: (any Error).self) {
            try X25519HPKE.setupRecipient(encapsulatedKey: [UInt8](repeating: 9, count: 31), privateKey: key, info: [], aead: .aes128GCM)
        }
    }

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
    var skEm: String
    var ikmE: String
    var ikmR: String
    var skRm: String
    var pkRm: String
    var enc: String
    var key: String
    var baseNonce: String
    var exporterSecret: String
    var encryptions: [Encryption]
    var exports: [Export]

    enum CodingKeys: String, CodingKey {
        case mode, kemID = "kem_id", kdfID = "kdf_id", aeadID = "aead_id", info, skRm, pkRm, enc, key
        case skEm, ikmE, ikmR, baseNonce = "base_nonce", exporterSecret = "exporter_secret", encryptions, exports
    }

    static func load() throws -> [HPKEVector] {
        try JSONDecoder().decode([HPKEVector].self, from: Fixtures.data("hpke/rfc9180-appendixA-x25519-vectors.json"))
    }
}

private func bytes(_ hex: String) -> [UInt8] {
    guard let bytes = [UInt8](hex: hex) else { preconditionFailure("not hex: \(hex)") }
    return bytes
}
