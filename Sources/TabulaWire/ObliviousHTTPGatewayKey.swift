import Crypto
import struct Foundation.Data

extension ObliviousHTTP {
    /// A gateway's private key and the configuration it publishes: the gateway side of RFC 9458.
    ///
    /// The key checks everything a request's header claims before any decryption (key id, KEM,
    /// KDF and AEAD), so that a gateway can tell a client precisely why its request was refused.
    public struct GatewayKey: Sendable {
        /// The public half, to publish (for example in an `application/ohttp-keys` list).
        public let configuration: KeyConfiguration
        private let privateKey: PrivateKey

        private enum PrivateKey: Sendable {
            /// The key, and its scalar and public key as bytes, for the X25519 of every request.
            case x25519(Curve25519.KeyAgreement.PrivateKey, scalar: X25519Secret, publicKey: [UInt8])
            case xWing(XWingMLKEM768X25519.PrivateKey)
        }

        /// The identifier requests must carry to be opened with this key.
        public var keyID: UInt8 { configuration.keyID }

        /// Loads a private key.
        ///
        /// - Parameters:
        ///   - keyID: the identifier published in the configuration.
        ///   - kem: ``KeyConfiguration/KEM/x25519HKDFSHA256`` or ``KeyConfiguration/KEM/xWing``.
        ///   - privateKey: the 32-byte X25519 scalar, or the 32-byte X-Wing seed (as
        ///     ``privateKeyBytes`` returns them).
        ///   - symmetricAlgorithms: the KDF/AEAD pairs to accept, in order of preference; all must be
        ///     implemented here, since the gateway promises to open requests sealed with any of them.
        /// - Throws: ``WireError`` (``WireError/Code/unsupportedAlgorithm`` or ``WireError/Code/malformed``).
        public init(
            keyID: UInt8,
            kem: KeyConfiguration.KEM,
            privateKey: [UInt8],
            symmetricAlgorithms: [KeyConfiguration.SymmetricAlgorithm] = KeyConfiguration.SymmetricAlgorithm.supported
        ) throws {
            let key: PrivateKey
            let publicKey: [UInt8]
            do {
                switch kem {
                case .x25519HKDFSHA256:
                    let x25519 = try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: privateKey)
                    publicKey = Array(x25519.publicKey.rawRepresentation)
                    key = .x25519(x25519, scalar: X25519Secret(Array(x25519.rawRepresentation)), publicKey: publicKey)
                case .xWing:
                    let xWing = try XWingMLKEM768X25519.PrivateKey(seedRepresentation: privateKey, publicKey: nil)
                    key = .xWing(xWing)
                    publicKey = Array(xWing.publicKey.rawRepresentation)
                default:
                    throw WireError(.unsupportedAlgorithm, "\(kem) is not supported; use \(KeyConfiguration.KEM.x25519HKDFSHA256) or \(KeyConfiguration.KEM.xWing)")
                }
            } catch let error as WireError {
                throw error
            } catch {
                throw WireError(.malformed, "a \(kem) private key has 32 bytes, not \(privateKey.count) (\(error))")
            }
            if let unsupported = symmetricAlgorithms.first(where: { !$0.isSupported }) {
                throw WireError(.unsupportedAlgorithm, "a gateway key cannot offer \(unsupported), which is not implemented")
            }
            self.configuration = try KeyConfiguration(keyID: keyID, kem: kem, publicKey: publicKey, symmetricAlgorithms: symmetricAlgorithms)
            self.privateKey = key
        }

        /// Generates a new private key from the system's CSPRNG.
        public static func generate(
            keyID: UInt8,
            kem: KeyConfiguration.KEM = .x25519HKDFSHA256,
            symmetricAlgorithms: [KeyConfiguration.SymmetricAlgorithm] = KeyConfiguration.SymmetricAlgorithm.supported
        ) throws -> GatewayKey {
            let seed = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
            return try GatewayKey(keyID: keyID, kem: kem, privateKey: seed, symmetricAlgorithms: symmetricAlgorithms)
        }

        /// The private key's 32 bytes, to store (sealed) and reload with ``init(keyID:kem:privateKey:symmetricAlgorithms:)``.
        /// Whoever holds them can read every request sent to this key.
        public var privateKeyBytes: [UInt8] {
            switch privateKey {
            case .x25519(let key, _, _): Array(key.rawRepresentation)
            case .xWing(let key): Array(key.seedRepresentation)
            }
        }

        /// Decrypts an encapsulated request, `hdr ‖ enc ‖ ct` (RFC 9458 §4.3).
        ///
        /// - Returns: the binary HTTP request, and the context to seal the response with.
        /// - Throws: ``WireError`` with
        ///   - ``WireError/Code/truncated`` when the message is shorter than its header, `enc` and a tag;
        ///   - ``WireError/Code/unknownKeyID`` when it names another key (the client's configuration is stale);
        ///   - ``WireError/Code/unsupportedAlgorithm`` when its KEM, KDF or AEAD is not this key's offer;
        ///   - ``WireError/Code/authenticationFailed`` when decryption fails (altered, or sealed to another key).
        public func decapsulateRequest(_ encapsulated: [UInt8]) throws -> (request: [UInt8], context: ServerContext) {
            var reader = Reader(encapsulated, what: "encapsulated request")
            let keyID = try reader.readUInt8()
            let kem = KeyConfiguration.KEM(rawValue: try reader.readUInt16())
            let algorithm = KeyConfiguration.SymmetricAlgorithm(
                kdf: KeyConfiguration.KDF(rawValue: try reader.readUInt16()),
                aead: KeyConfiguration.AEAD(rawValue: try reader.readUInt16())
            )
            guard keyID == configuration.keyID else {
                throw WireError(.unknownKeyID, "the request is encrypted to key \(keyID), but this gateway's key is \(configuration.keyID); fetch the current key configuration")
            }
            guard kem == configuration.kem else {
                throw WireError(.unsupportedAlgorithm, "the request uses \(kem), but key \(keyID) is a \(configuration.kem) key")
            }
            guard configuration.symmetricAlgorithms.contains(algorithm) else {
                throw WireError(.unsupportedAlgorithm, "the request uses \(algorithm), which key \(keyID) does not offer; it offers \(configuration.symmetricAlgorithms.map(\.description).joined(separator: ", "))")
            }
            let encapsulatedKey = try reader.readBytes(kem.encapsulatedKeyByteCount ?? 0)
            let ciphertext = reader.readRest()
            guard ciphertext.count >= 16 else {
                throw WireError(.truncated, "the encapsulated request ends \(16 - ciphertext.count) bytes short of its authentication tag")
            }

            let header = Array(encapsulated[..<ObliviousHTTP.headerByteCount])
            let ciphersuite = try ObliviousHTTP.ciphersuite(kem: kem, algorithm)
            let info = ObliviousHTTP.info(header: header)
            do {
                switch privateKey {
                case .x25519(_, let scalar, let publicKey):
                    var context = try X25519HPKE.setupRecipient(
                        encapsulatedKey: encapsulatedKey, privateKey: scalar, publicKey: publicKey, info: info, aead: algorithm.aead)
                    defer { context.erase() }
                    let request = try context.open(ciphertext)
                    return (request, ServerContext(response: ResponseProtection(encapsulatedKey: encapsulatedKey, context: context)))
                case .xWing(let key):
                    var recipient = try HPKE.Recipient(privateKey: key, ciphersuite: ciphersuite, info: Data(info), encapsulatedKey: Data(encapsulatedKey))
                    let request = try recipient.open(ciphertext)
                    let response = try ResponseProtection(aead: algorithm.aead, encapsulatedKey: encapsulatedKey) { label, count in
                        try recipient.exportSecret(context: label, outputByteCount: count)
                    }
                    return (Array(request), ServerContext(response: response))
                }
            } catch {
                // One answer for every cryptographic failure: distinguishing a bad `enc` from a bad
                // tag would tell an attacker which part of a forgery to work on.
                throw WireError(.authenticationFailed, "the encapsulated request does not authenticate: it was altered, or sealed to another key")
            }
        }
    }
}

extension ObliviousHTTP.GatewayKey {
    /// The gateway keys of one key epoch, derived from a 32-byte seed: an X25519 key with id
    /// `keyID` (RFC 9180's `DeriveKeyPair` of the seed) and an X-Wing key with id `keyID + 1` (its
    /// 32-byte seed is `HKDF-SHA256(ikm: seed, salt: "", info: "tabula x-wing seed")`; X-Wing is not
    /// in RFC 9180, so this derivation is Tabula's own).
    ///
    /// Whoever holds the seed derives the same keys: a key broker releases it to attested nodes,
    /// and every node then serves the same key configurations.
    public static func derive(seed: [UInt8], keyID: UInt8) throws -> [ObliviousHTTP.GatewayKey] {
        guard seed.count == 32 else {
            throw WireError(.malformed, "a key epoch's seed has 32 bytes, not \(seed.count)")
        }
        var x25519 = X25519HPKE.deriveKeyPair(ikm: seed)
        defer { x25519.wipe() }
        var xWing = HKDFSHA256.expand(prk: HKDFSHA256.extract(salt: [], seed), info: Array("tabula x-wing seed".utf8), length: 32)
        defer { xWing.wipe() }
        return [
            try ObliviousHTTP.GatewayKey(keyID: keyID, kem: .x25519HKDFSHA256, privateKey: x25519),
            try ObliviousHTTP.GatewayKey(keyID: keyID &+ 1, kem: .xWing, privateKey: xWing),
        ]
    }
}
