extension KeyConfiguration {
    /// An HPKE KEM identifier (RFC 9180 §7.1).
    ///
    /// An open set rather than an enum: a key configuration list may carry KEMs this module does not
    /// know, and the identifier must survive decoding to be reported or skipped.
    public struct KEM: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        public let rawValue: UInt16

        public init(rawValue: UInt16) {
            self.rawValue = rawValue
        }

        /// DHKEM(X25519, HKDF-SHA256), 0x0020.
        public static let x25519HKDFSHA256 = KEM(rawValue: 0x0020)
        /// X-Wing (ML-KEM-768 with X25519), 0x647a: the codepoint of draft-connolly-cfrg-xwing-kem
        /// that swift-crypto's `HPKE.KEM.XWingMLKEM768X25519` uses. Resists a quantum adversary
        /// recording traffic today, at the cost of 1216-byte public keys and 1120-byte `enc`.
        public static let xWing = KEM(rawValue: 0x647a)

        /// `Npk`: the length of a serialized public key, or `nil` for a KEM this module cannot use.
        public var publicKeyByteCount: Int? {
            switch self {
            case .x25519HKDFSHA256: 32
            case .xWing: 1216
            default: nil
            }
        }

        /// `Nenc`: the length of the encapsulated key in a request, or `nil` for an unsupported KEM.
        public var encapsulatedKeyByteCount: Int? {
            switch self {
            case .x25519HKDFSHA256: 32
            case .xWing: 1120
            default: nil
            }
        }

        public var description: String {
            switch self {
            case .x25519HKDFSHA256: "DHKEM(X25519, HKDF-SHA256)"
            case .xWing: "X-Wing"
            default: "KEM " + ObliviousHTTP.hex(rawValue)
            }
        }
    }

    /// An HPKE KDF identifier (RFC 9180 §7.2).
    public struct KDF: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        public let rawValue: UInt16

        public init(rawValue: UInt16) {
            self.rawValue = rawValue
        }

        /// HKDF-SHA256, 0x0001.
        public static let hkdfSHA256 = KDF(rawValue: 0x0001)

        public var description: String {
            self == .hkdfSHA256 ? "HKDF-SHA256" : "KDF " + ObliviousHTTP.hex(rawValue)
        }
    }

    /// An HPKE AEAD identifier (RFC 9180 §7.3).
    public struct AEAD: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        public let rawValue: UInt16

        public init(rawValue: UInt16) {
            self.rawValue = rawValue
        }

        /// AES-128-GCM, 0x0001.
        public static let aes128GCM = AEAD(rawValue: 0x0001)
        /// ChaCha20-Poly1305, 0x0003: the fast choice on hardware without AES instructions.
        public static let chaCha20Poly1305 = AEAD(rawValue: 0x0003)

        /// `Nk`: the key length, or `nil` for an AEAD this module cannot use.
        public var keyByteCount: Int? {
            switch self {
            case .aes128GCM: 16
            case .chaCha20Poly1305: 32
            default: nil
            }
        }

        /// `Nn`: the nonce length (12 for both supported AEADs).
        public var nonceByteCount: Int? {
            keyByteCount == nil ? nil : 12
        }

        public var description: String {
            switch self {
            case .aes128GCM: "AES-128-GCM"
            case .chaCha20Poly1305: "ChaCha20-Poly1305"
            default: "AEAD " + ObliviousHTTP.hex(rawValue)
            }
        }
    }

    /// One KDF/AEAD pair a gateway accepts; a request names the pair it was sealed with.
    public struct SymmetricAlgorithm: Sendable, Hashable, CustomStringConvertible {
        public var kdf: KDF
        public var aead: AEAD

        public init(kdf: KDF, aead: AEAD) {
            self.kdf = kdf
            self.aead = aead
        }

        /// HKDF-SHA256 with AES-128-GCM.
        public static let hkdfSHA256AES128GCM = SymmetricAlgorithm(kdf: .hkdfSHA256, aead: .aes128GCM)
        /// HKDF-SHA256 with ChaCha20-Poly1305.
        public static let hkdfSHA256ChaCha20Poly1305 = SymmetricAlgorithm(kdf: .hkdfSHA256, aead: .chaCha20Poly1305)

        /// Every pair this module implements, AES-128-GCM first (the RFC 9458 example's choice).
        public static let supported: [SymmetricAlgorithm] = [.hkdfSHA256AES128GCM, .hkdfSHA256ChaCha20Poly1305]

        /// Whether this module can seal and open messages with this pair.
        public var isSupported: Bool {
            Self.supported.contains(self)
        }

        public var description: String { "\(kdf) with \(aead)" }
    }
}
