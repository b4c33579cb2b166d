import Crypto
import struct Foundation.Data

// The HPKE and AEAD plumbing shared by the client and gateway sides. Kept internal so that the
// public API speaks only in `[UInt8]` and RFC identifiers, never in Crypto types.

extension ObliviousHTTP {
    /// The swift-crypto ciphersuite for a KEM and a KDF/AEAD pair, or a clear error if there is none.
    static func ciphersuite(kem: KeyConfiguration.KEM, _ algorithm: KeyConfiguration.SymmetricAlgorithm) throws -> HPKE.Ciphersuite {
        let hpkeKEM: HPKE.KEM
        switch kem {
        case .x25519HKDFSHA256: hpkeKEM = .Curve25519_HKDF_SHA256
        case .xWing: hpkeKEM = .XWingMLKEM768X25519
        default: throw WireError(.unsupportedAlgorithm, "\(kem) is not supported; use \(KeyConfiguration.KEM.x25519HKDFSHA256) or \(KeyConfiguration.KEM.xWing)")
        }
        guard algorithm.kdf == .hkdfSHA256 else {
            throw WireError(.unsupportedAlgorithm, "\(algorithm.kdf) is not supported; use \(KeyConfiguration.KDF.hkdfSHA256)")
        }
        let hpkeAEAD: HPKE.AEAD
        switch algorithm.aead {
        case .aes128GCM: hpkeAEAD = .AES_GCM_128
        case .chaCha20Poly1305: hpkeAEAD = .chaChaPoly
        default: throw WireError(.unsupportedAlgorithm, "\(algorithm.aead) is not supported; use \(KeyConfiguration.AEAD.aes128GCM) or \(KeyConfiguration.AEAD.chaCha20Poly1305)")
        }
        return HPKE.Ciphersuite(kem: hpkeKEM, kdf: .HKDF_SHA256, aead: hpkeAEAD)
    }

    /// A gateway public key loaded for HPKE.
    enum RecipientPublicKey {
        case x25519(Curve25519.KeyAgreement.PublicKey)
        case xWing(XWingMLKEM768X25519.PublicKey)

        init(kem: KeyConfiguration.KEM, bytes: [UInt8]) throws {
            do {
                switch kem {
                case .x25519HKDFSHA256: self = .x25519(try Curve25519.KeyAgreement.PublicKey(rawRepresentation: bytes))
                case .xWing: self = .xWing(try XWingMLKEM768X25519.PublicKey(rawRepresentation: bytes))
                default: throw WireError(.unsupportedAlgorithm, "\(kem) is not supported")
                }
            } catch let error as WireError {
                throw error
            } catch {
                throw WireError(.malformed, "the \(bytes.count)-byte public key is not a valid \(kem) key (\(error))")
            }
        }

        /// Sets up the sender's HPKE context: `enc`, the sealed request and the response secret.
        func seal(_ request: [UInt8], algorithm: KeyConfiguration.SymmetricAlgorithm, info: [UInt8], kem: KeyConfiguration.KEM) throws -> (encapsulatedKey: [UInt8], ciphertext: [UInt8], response: ResponseProtection) {
            switch self {
            case .x25519(let key):
                var (encapsulatedKey, context) = try X25519HPKE.setupSender(recipient: key, info: info, aead: algorithm.aead)
                defer { context.erase() }
                let ciphertext = try context.seal(request)
                return (encapsulatedKey, ciphertext, ResponseProtection(encapsulatedKey: encapsulatedKey, context: context))
            case .xWing(let key):
                var sender = try HPKE.Sender(recipientKey: key, ciphersuite: try ObliviousHTTP.ciphersuite(kem: kem, algorithm), info: Data(info))
                let encapsulatedKey = Array(sender.encapsulatedKey)
                let ciphertext = Array(try sender.seal(request))
                let response = try ResponseProtection(aead: algorithm.aead, encapsulatedKey: encapsulatedKey) { label, count in
                    try sender.exportSecret(context: label, outputByteCount: count)
                }
                return (encapsulatedKey, ciphertext, response)
            }
        }
    }

    /// The response half of RFC 9458 §4.4, shared by ``ClientContext`` and ``ServerContext``.
    ///
    /// Both sides hold the same exported secret and `enc`; what differs is only who picks the nonce.
    struct ResponseProtection: Sendable {
        let aead: KeyConfiguration.AEAD
        let encapsulatedKey: [UInt8]
        /// `secret = context.Export("message/bhttp response", max(Nn, Nk))`. Kept as a
        /// `SymmetricKey`, whose storage swift-crypto overwrites with zeros when the last copy goes:
        /// a per-request context is erased as soon as its response is sealed or opened.
        let secret: SymmetricKey

        /// `max(Nn, Nk)`: the response nonce and the exported secret have this length, so the
        /// nonce carries at least as much entropy as the key it helps derive.
        static func nonceByteCount(_ aead: KeyConfiguration.AEAD) -> Int {
            max(aead.keyByteCount ?? 0, aead.nonceByteCount ?? 0)
        }

        /// Exports the response secret from a request's HPKE context (sender or recipient).
        init(aead: KeyConfiguration.AEAD, encapsulatedKey: [UInt8], export: (Data, Int) throws -> SymmetricKey) throws {
            self.aead = aead
            self.encapsulatedKey = encapsulatedKey
            let key = try export(Data(ObliviousHTTP.responseLabel), Self.nonceByteCount(aead))
            self.secret = key
        }

        /// Exports the response secret from a request's ``X25519HPKE`` context (sender or recipient).
        init(encapsulatedKey: [UInt8], context: X25519HPKE.Context) {
            var secret = context.export(ObliviousHTTP.responseLabel, length: Self.nonceByteCount(context.aead))
            defer { secret.wipe() }
            self.init(aead: context.aead, encapsulatedKey: encapsulatedKey, secret: SymmetricKey(data: secret))
        }

        init(aead: KeyConfiguration.AEAD, encapsulatedKey: [UInt8], secret: SymmetricKey) {
            self.aead = aead
            self.encapsulatedKey = encapsulatedKey
            self.secret = secret
        }

        /// `prk = Extract(enc ‖ response_nonce, secret)`, then the AEAD key and nonce expanded from it.
        private func keys(responseNonce: [UInt8]) -> (key: [UInt8], nonce: [UInt8]) {
            var secretBytes = secret.withUnsafeBytes { Array($0) }
            var prk = HKDFSHA256.extract(salt: encapsulatedKey + responseNonce, secretBytes)
            defer {
                secretBytes.wipe()
                prk.wipe()
            }
            return (HKDFSHA256.expand(prk: prk, info: Self.keyLabel, length: aead.keyByteCount ?? 0),
                    HKDFSHA256.expand(prk: prk, info: Self.nonceLabel, length: aead.nonceByteCount ?? 0))
        }

        /// `HMAC-SHA256(secret, label ‖ 0x00 ‖ enc)`, truncated to `count` (at most 32) bytes: a
        /// pseudorandom function of the response secret, apart from the response keys (an HKDF
        /// of the same secret salted with `enc` and a response nonce).
        func privateBytes(label: [UInt8], count: Int) -> [UInt8] {
            precondition(count <= HKDFSHA256.hashByteCount, "at most 32 private bytes")
            var secretBytes = secret.withUnsafeBytes { Array($0) }
            defer { secretBytes.wipe() }
            return Array(HKDFSHA256.authenticationCode(key: secretBytes, label, [0], encapsulatedKey).prefix(count))
        }

        private static let keyLabel = Array("key".utf8)
        private static let nonceLabel = Array("nonce".utf8)

        /// `response_nonce ‖ Seal(aead_key, aead_nonce, "", response)`.
        func seal(_ response: [UInt8], responseNonce: [UInt8]) throws -> [UInt8] {
            let derived = keys(responseNonce: responseNonce)
            var key = derived.key
            defer { key.wipe() }
            return responseNonce + (try aead.seal(response, key: key, nonce: derived.nonce))
        }

        /// Splits off the response nonce and opens the rest, mapping every failure to a ``WireError``.
        func open(_ encapsulated: [UInt8]) throws -> [UInt8] {
            let nonceCount = Self.nonceByteCount(aead)
            let tagCount = 16
            guard encapsulated.count >= nonceCount + tagCount else {
                throw WireError(.truncated, "an encapsulated response with \(aead) has at least \(nonceCount + tagCount) bytes (nonce and tag), not \(encapsulated.count)")
            }
            let derived = keys(responseNonce: Array(encapsulated[..<nonceCount]))
            var key = derived.key
            defer { key.wipe() }
            do {
                return try aead.open(encapsulated[nonceCount...], key: key, nonce: derived.nonce)
            } catch {
                throw WireError(.authenticationFailed, "the encapsulated response does not authenticate: it was altered, or answers another request")
            }
        }
    }
}
