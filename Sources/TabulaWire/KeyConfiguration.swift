/// An Oblivious HTTP gateway's public key configuration (RFC 9458 §3).
///
/// A client needs exactly this to encrypt a request for a gateway: which key (``keyID``), which
/// HPKE KEM and public key, and which KDF/AEAD pairs the gateway accepts. The gateway publishes it,
/// usually as an `application/ohttp-keys` list (see ``encodeList(_:)`` and ``decodeList(_:)``).
///
/// The initializer validates the configuration, so every value can be encoded: the public key has
/// the KEM's length and there is at least one symmetric algorithm.
public struct KeyConfiguration: Sendable, Hashable {
    /// The identifier the gateway uses to find the private key; the first byte of every request.
    public let keyID: UInt8
    /// The HPKE key encapsulation mechanism of ``publicKey``.
    public let kem: KEM
    /// The gateway's public key, in the KEM's serialization (`SerializePublicKey` of RFC 9180).
    public let publicKey: [UInt8]
    /// The KDF/AEAD pairs the gateway accepts, in its order of preference.
    public let symmetricAlgorithms: [SymmetricAlgorithm]

    /// The media type of a list of encoded key configurations (RFC 9458 §3.2).
    public static let listMediaType = "application/ohttp-keys"

    /// Creates a configuration after checking that it can be encoded and used.
    ///
    /// Throws ``WireError/Code/unsupportedAlgorithm`` for a KEM whose key length is unknown here, and
    /// ``WireError/Code/malformed`` for a public key of the wrong length or an empty (or too long)
    /// list of symmetric algorithms.
    public init(keyID: UInt8, kem: KEM, publicKey: [UInt8], symmetricAlgorithms: [SymmetricAlgorithm]) throws {
        guard let publicKeyByteCount = kem.publicKeyByteCount else {
            throw WireError(.unsupportedAlgorithm, "key configuration \(keyID) uses \(kem), which is not supported")
        }
        guard publicKey.count == publicKeyByteCount else {
            throw WireError(.malformed, "a \(kem) public key has \(publicKeyByteCount) bytes, not \(publicKey.count)")
        }
        // The algorithms' length field is 16 bits and counts 4 bytes per pair (4...65532).
        guard (1...16_383).contains(symmetricAlgorithms.count) else {
            throw WireError(.malformed, "a key configuration lists 1 to 16383 symmetric algorithms, not \(symmetricAlgorithms.count)")
        }
        self.keyID = keyID
        self.kem = kem
        self.publicKey = publicKey
        self.symmetricAlgorithms = symmetricAlgorithms
    }

    /// Decodes one key configuration in the RFC 9458 §3.1 format, which must fill `bytes` exactly.
    ///
    /// Throws ``WireError`` (``WireError/Code/truncated``, ``WireError/Code/malformed`` or
    /// ``WireError/Code/unsupportedAlgorithm`` for a KEM whose public key length is unknown, since
    /// then the encoding cannot even be split into its fields).
    public init(decoding bytes: [UInt8]) throws {
        var reader = ObliviousHTTP.Reader(bytes, what: "key configuration")
        try self.init(reading: &reader)
        guard reader.isAtEnd else {
            throw WireError(.malformed, "a key configuration has \(reader.remainingCount) bytes after its symmetric algorithms")
        }
    }

    private init(reading reader: inout ObliviousHTTP.Reader) throws {
        let keyID = try reader.readUInt8()
        let kem = KEM(rawValue: try reader.readUInt16())
        guard let publicKeyByteCount = kem.publicKeyByteCount else {
            throw WireError(.unsupportedAlgorithm, "key configuration \(keyID) uses \(kem), which is not supported")
        }
        let publicKey = try reader.readBytes(publicKeyByteCount)
        let algorithmsLength = Int(try reader.readUInt16())
        guard algorithmsLength >= 4, algorithmsLength % 4 == 0 else {
            throw WireError(.malformed, "the symmetric algorithms of key configuration \(keyID) take \(algorithmsLength) bytes; that must be a positive multiple of 4")
        }
        var algorithms: [SymmetricAlgorithm] = []
        for _ in 0..<(algorithmsLength / 4) {
            let kdf = KDF(rawValue: try reader.readUInt16())
            let aead = AEAD(rawValue: try reader.readUInt16())
            algorithms.append(SymmetricAlgorithm(kdf: kdf, aead: aead))
        }
        try self.init(keyID: keyID, kem: kem, publicKey: publicKey, symmetricAlgorithms: algorithms)
        // A key that cannot be loaded is as wrong as a truncated one; say so now, not at first use.
        _ = try ObliviousHTTP.RecipientPublicKey(kem: kem, bytes: publicKey)
    }

    /// The RFC 9458 §3.1 encoding: key id, KEM id, public key, then the length-prefixed KDF/AEAD pairs.
    public var encoded: [UInt8] {
        var bytes: [UInt8] = [keyID]
        bytes.reserveCapacity(1 + 2 + publicKey.count + 2 + 4 * symmetricAlgorithms.count)
        bytes += ObliviousHTTP.bigEndian(kem.rawValue)
        bytes += publicKey
        bytes += ObliviousHTTP.bigEndian(UInt16(4 * symmetricAlgorithms.count))
        for algorithm in symmetricAlgorithms {
            bytes += ObliviousHTTP.bigEndian(algorithm.kdf.rawValue)
            bytes += ObliviousHTTP.bigEndian(algorithm.aead.rawValue)
        }
        return bytes
    }

    /// Encodes configurations as an `application/ohttp-keys` body: each one prefixed with its 2-byte length.
    public static func encodeList(_ configurations: [KeyConfiguration]) -> [UInt8] {
        var bytes: [UInt8] = []
        for configuration in configurations {
            let encoded = configuration.encoded
            // The initializer bounds the public key and the algorithms, so this always fits 16 bits.
            bytes += ObliviousHTTP.bigEndian(UInt16(encoded.count))
            bytes += encoded
        }
        return bytes
    }

    /// Decodes an `application/ohttp-keys` body, keeping the configurations this module can use.
    ///
    /// A configuration whose KEM is unknown here is skipped rather than rejected: a gateway may offer
    /// newer KEMs beside ones every client supports, and the length prefix lets a client step over
    /// them. Any other defect (a truncated entry, a malformed configuration inside its length) throws,
    /// as does a list in which no configuration is usable, since a client can do nothing with it.
    public static func decodeList(_ bytes: [UInt8]) throws -> [KeyConfiguration] {
        var reader = ObliviousHTTP.Reader(bytes, what: "key configuration list")
        var configurations: [KeyConfiguration] = []
        var skipped: [KEM] = []
        while !reader.isAtEnd {
            let length = Int(try reader.readUInt16())
            let entry = try reader.readBytes(length)
            do {
                configurations.append(try KeyConfiguration(decoding: entry))
            } catch let error as WireError where error.code == .unsupportedAlgorithm && entry.count >= 3 {
                skipped.append(KEM(rawValue: UInt16(entry[1]) << 8 | UInt16(entry[2])))
            }
        }
        guard !configurations.isEmpty else {
            let detail = skipped.isEmpty ? "it is empty" : "it only offers \(skipped.map(\.description).joined(separator: ", "))"
            throw WireError(.unsupportedAlgorithm, "the key configuration list has no usable configuration: \(detail)")
        }
        return configurations
    }

    /// The first of the gateway's symmetric algorithms that this module implements, if any.
    public var preferredSymmetricAlgorithm: SymmetricAlgorithm? {
        symmetricAlgorithms.first(where: \.isSupported)
    }
}
