import Crypto
import Synchronization

/// HPKE base mode (RFC 9180 §5.1) with DHKEM(X25519, HKDF-SHA256) and HKDF-SHA256, for the
/// AEADs Oblivious HTTP offers (AES-128-GCM, ChaCha20-Poly1305): the suite of every X25519 key
/// configuration.
///
/// swift-crypto's `HPKE` implements the same, but spends about 25 µs per request around the one
/// X25519 operation (its key schedule runs a dozen HKDF steps through `Data` and `SymmetricKey`),
/// as much as the operation itself. This one uses swift-crypto only for X25519 and the AEADs, and
/// ``HKDFSHA256`` for the rest. X-Wing keys still go through swift-crypto's `HPKE`. RFC 9180's
/// vectors A.1 and A.2 check it, every sequence number and export included.
struct X25519HPKE {
    /// The context of one side after setup: the AEAD key, base nonce and exporter secret.
    struct Context {
        let aead: KeyConfiguration.AEAD
        private(set) var key: [UInt8]
        private(set) var baseNonce: [UInt8]
        private(set) var exporterSecret: [UInt8]

        /// `Seal(key, base_nonce XOR seq, aad, plaintext)`: ciphertext ‖ tag.
        func seal(_ plaintext: [UInt8], authenticating aad: [UInt8] = [], sequenceNumber: UInt64 = 0) throws -> [UInt8] {
            try aead.seal(plaintext, key: key, nonce: nonce(sequenceNumber), authenticating: aad)
        }

        /// Opens ciphertext ‖ tag sealed at `sequenceNumber`.
        func open(_ ciphertext: [UInt8], authenticating aad: [UInt8] = [], sequenceNumber: UInt64 = 0) throws -> [UInt8] {
            try aead.open(ciphertext[...], key: key, nonce: nonce(sequenceNumber), authenticating: aad)
        }

        /// `Export(exporter_context, L)`.
        func export(_ exporterContext: [UInt8], length: Int) -> [UInt8] {
            X25519HPKE.labeledExpand(exporterSecret, label: Label.secretExport, info: exporterContext, length: length, suite: X25519HPKE.suiteID(aead))
        }

        /// `base_nonce XOR I2OSP(seq, Nn)`.
        private func nonce(_ sequenceNumber: UInt64) -> [UInt8] {
            var nonce = baseNonce
            for index in 0..<8 {
                nonce[nonce.count - 1 - index] ^= UInt8(truncatingIfNeeded: sequenceNumber >> (8 * index))
            }
            return nonce
        }

        /// Overwrites the keys; the context cannot be used afterwards.
        mutating func erase() {
            key.wipe()
            baseNonce.wipe()
            exporterSecret.wipe()
        }
    }

    /// `SetupBaseS(pkR, info)` with the ephemeral key given: returns `enc` and the sender's context.
    static func setupSender(
        recipient: Curve25519.KeyAgreement.PublicKey, info: [UInt8], aead: KeyConfiguration.AEAD,
        ephemeral: Curve25519.KeyAgreement.PrivateKey = Curve25519.KeyAgreement.PrivateKey()
    ) throws -> (encapsulatedKey: [UInt8], context: Context) {
        let encapsulatedKey = Array(ephemeral.publicKey.rawRepresentation)
        let recipientKey = Array(recipient.rawRepresentation)
        var dh = try sharedSecret(ephemeral, recipient)
        defer { dh.wipe() }
        return (encapsulatedKey, try keySchedule(dh: dh, kemContext: encapsulatedKey + recipientKey, info: info, aead: aead))
    }

    /// `SetupBaseR(enc, skR, info)`.
    ///
    /// - Throws: when `enc` is not 32 bytes or the shared secret is all zeros (a small-order
    ///   point, which RFC 9180 §7.1.4 requires refusing).
    static func setupRecipient(
        encapsulatedKey: [UInt8], privateKey: Curve25519.KeyAgreement.PrivateKey, info: [UInt8], aead: KeyConfiguration.AEAD
    ) throws -> Context {
        let secret = X25519Secret(Array(privateKey.rawRepresentation))
        return try setupRecipient(encapsulatedKey: encapsulatedKey, privateKey: secret, publicKey: Array(privateKey.publicKey.rawRepresentation), info: info, aead: aead)
    }

    /// `SetupBaseR(enc, skR, info)` with the private scalar and public key as bytes: the X25519
    /// straight from BoringSSL (``CBoringSSLShim``), for the gateway's hot path.
    static func setupRecipient(
        encapsulatedKey: [UInt8], privateKey: X25519Secret, publicKey: [UInt8], info: [UInt8], aead: KeyConfiguration.AEAD
    ) throws -> Context {
        guard encapsulatedKey.count == 32, privateKey.bytes.count == 32 else {
            throw WireError(.malformed, "an X25519 encapsulated key has 32 bytes, not \(encapsulatedKey.count)")
        }
        guard var dh = BoringSSL.x25519(privateKey.bytes, encapsulatedKey) else {
            throw WireError(.malformed, "the X25519 public key is a small-order point: the shared secret is all zeros")
        }
        defer { dh.wipe() }
        return try keySchedule(dh: dh, kemContext: encapsulatedKey + publicKey, info: info, aead: aead)
    }

    // MARK: The key schedule

    fileprivate enum Label {
        static let version = Array("HPKE-v1".utf8)
        static let eaePRK = Array("eae_prk".utf8)
        static let sharedSecret = Array("shared_secret".utf8)
        static let pskIDHash = Array("psk_id_hash".utf8)
        static let infoHash = Array("info_hash".utf8)
        static let secret = Array("secret".utf8)
        static let key = Array("key".utf8)
        static let baseNonce = Array("base_nonce".utf8)
        static let exporter = Array("exp".utf8)
        static let secretExport = Array("sec".utf8)
    }

    /// `"KEM" ‖ I2OSP(0x0020, 2)`.
    fileprivate static let kemSuiteID = Array("KEM".utf8) + [0x00, 0x20]

    /// `"HPKE" ‖ kem_id ‖ kdf_id ‖ aead_id`.
    fileprivate static func suiteID(_ aead: KeyConfiguration.AEAD) -> [UInt8] {
        Array("HPKE".utf8) + [0x00, 0x20, 0x00, 0x01, UInt8(aead.rawValue >> 8), UInt8(truncatingIfNeeded: aead.rawValue)]
    }

    fileprivate static func labeledExtract(salt: [UInt8], label: [UInt8], ikm: [UInt8], suite: [UInt8]) -> [UInt8] {
        HKDFSHA256.extract(salt: salt, Label.version, suite, label, ikm)
    }

    fileprivate static func labeledExpand(_ prk: [UInt8], label: [UInt8], info: [UInt8], length: Int, suite: [UInt8]) -> [UInt8] {
        let labeledInfo = [UInt8(length >> 8), UInt8(truncatingIfNeeded: length)] + Label.version + suite + label + info
        return HKDFSHA256.expand(prk: prk, info: labeledInfo, length: length)
    }

    /// The raw X25519 output, refused when it is all zeros (RFC 9180 §7.1.4): the public key was
    /// a small-order point, and the "shared" secret would be known to anyone. swift-crypto's key
    /// agreement returns it without complaint.
    private static func sharedSecret(_ privateKey: Curve25519.KeyAgreement.PrivateKey, _ publicKey: Curve25519.KeyAgreement.PublicKey) throws -> [UInt8] {
        let secret = try privateKey.sharedSecretFromKeyAgreement(with: publicKey)
        let bytes = secret.withUnsafeBytes { Array($0) }
        guard bytes.contains(where: { $0 != 0 }) else {
            throw WireError(.malformed, "the X25519 public key is a small-order point: the shared secret is all zeros")
        }
        return bytes
    }

    /// `mode ‖ psk_id_hash ‖ info_hash` for base mode: the same for every request to one key
    /// configuration (its `info` is the request label and header), so it is computed once per
    /// suite and info and remembered.
    private static func keyScheduleContext(suite: [UInt8], info: [UInt8]) -> [UInt8] {
        let key = suite + info
        if let known = knownContexts.withLock({ $0[key] }) { return known }
        let pskIDHash = labeledExtract(salt: [], label: Label.pskIDHash, ikm: [], suite: suite)
        let infoHash = labeledExtract(salt: [], label: Label.infoHash, ikm: info, suite: suite)
        let context = [0x00] + pskIDHash + infoHash
        knownContexts.withLock { known in
            // A handful of configurations are in use at a time; forget them all if `info` varies.
            if known.count >= 64 { known.removeAll() }
            known[key] = context
        }
        return context
    }

    private static let knownContexts = Mutex<[[UInt8]: [UInt8]]>([:])

    /// `ExtractAndExpand(dh, kem_context)` (§4.1), then `KeySchedule(mode_base, shared_secret, info, "", "")` (§5.1).
    private static func keySchedule(dh: [UInt8], kemContext: [UInt8], info: [UInt8], aead: KeyConfiguration.AEAD) throws -> Context {
        guard let keyCount = aead.keyByteCount, let nonceCount = aead.nonceByteCount else {
            throw WireError(.unsupportedAlgorithm, "\(aead) is not supported; use \(KeyConfiguration.AEAD.aes128GCM) or \(KeyConfiguration.AEAD.chaCha20Poly1305)")
        }
        var eaePRK = labeledExtract(salt: [], label: Label.eaePRK, ikm: dh, suite: kemSuiteID)
        var sharedSecret = labeledExpand(eaePRK, label: Label.sharedSecret, info: kemContext, length: HKDFSHA256.hashByteCount, suite: kemSuiteID)
        eaePRK.wipe()
        defer { sharedSecret.wipe() }

        let suite = suiteID(aead)
        let context = keyScheduleContext(suite: suite, info: info)
        var secret = labeledExtract(salt: sharedSecret, label: Label.secret, ikm: [], suite: suite)
        defer { secret.wipe() }
        return Context(
            aead: aead,
            key: labeledExpand(secret, label: Label.key, info: context, length: keyCount, suite: suite),
            baseNonce: labeledExpand(secret, label: Label.baseNonce, info: context, length: nonceCount, suite: suite),
            exporterSecret: labeledExpand(secret, label: Label.exporter, info: context, length: HKDFSHA256.hashByteCount, suite: suite))
    }
}

extension X25519HPKE {
    /// `DeriveKeyPair(ikm)` of DHKEM(X25519, HKDF-SHA256) (RFC 9180 §7.1.3): the private key's
    /// 32 bytes, `LabeledExpand(LabeledExtract("", "dkp_prk", ikm), "sk", "", 32)` with the KEM's
    /// suite id. Every holder of `ikm` derives the same key pair (what lets a key broker give the
    /// nodes of a cluster one key without sending a private key it generated elsewhere).
    static func deriveKeyPair(ikm: [UInt8]) -> [UInt8] {
        var prk = labeledExtract(salt: [], label: Array("dkp_prk".utf8), ikm: ikm, suite: kemSuiteID)
        defer { prk.wipe() }
        return labeledExpand(prk, label: Array("sk".utf8), info: [], length: 32, suite: kemSuiteID)
    }
}

/// An X25519 private scalar held as bytes, overwritten when the last reference goes.
final class X25519Secret: @unchecked Sendable {
    private(set) var bytes: [UInt8]

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    deinit {
        bytes.wipe()
    }
}
