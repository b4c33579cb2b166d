import Crypto
import struct Foundation.Data

/// Oblivious HTTP message encapsulation (RFC 9458 §4), on HPKE base mode (RFC 9180).
///
/// A client seals a binary HTTP request to a gateway's ``KeyConfiguration`` with
/// ``encapsulateRequest(_:to:suite:)`` and keeps the returned ``ClientContext`` to open the answer.
/// The gateway opens the request with its ``GatewayKey`` and seals the response with the
/// ``ServerContext`` it got back. Relays in between see neither the request nor the response,
/// and the gateway never learns who the client is.
///
/// Every function takes and returns plain bytes; every failure is a ``WireError`` whose code tells
/// a gateway how to answer (``WireError/Code/unknownKeyID``, ``WireError/Code/unsupportedAlgorithm``
/// and ``WireError/Code/authenticationFailed`` all mean HTTP 400 per RFC 9458 §5.2).
public enum ObliviousHTTP {
    /// The media type of an encapsulated request.
    public static let requestMediaType = "message/ohttp-req"
    /// The media type of an encapsulated response.
    public static let responseMediaType = "message/ohttp-res"

    /// The HPKE `info` label of a request; the media type of what is inside.
    static let requestLabel = Array("message/bhttp request".utf8)
    /// The export label of the response secret.
    static let responseLabel = Array("message/bhttp response".utf8)

    /// The header's length: key id (1), KEM id (2), KDF id (2), AEAD id (2).
    static let headerByteCount = 7

    /// `hdr`: the key id and the algorithms, sent in the clear and bound into the HPKE `info`.
    static func header(keyID: UInt8, kem: KeyConfiguration.KEM, _ algorithm: KeyConfiguration.SymmetricAlgorithm) -> [UInt8] {
        [keyID] + bigEndian(kem.rawValue) + bigEndian(algorithm.kdf.rawValue) + bigEndian(algorithm.aead.rawValue)
    }

    /// `info = "message/bhttp request" ‖ 0x00 ‖ hdr`: binding the header means a relay cannot
    /// make the gateway decrypt under different algorithms than the client chose.
    static func info(header: [UInt8]) -> [UInt8] {
        requestLabel + [0] + header
    }

    /// Encrypts a binary HTTP request for a gateway (RFC 9458 §4.3).
    ///
    /// Returns `hdr ‖ enc ‖ ct` to send as `message/ohttp-req`, and the context that opens the
    /// matching response. Each call uses a fresh HPKE ephemeral key, so two encapsulations of the
    /// same request are unlinkable.
    ///
    /// - Parameters:
    ///   - request: the binary HTTP (RFC 9292) request.
    ///   - configuration: the gateway's key configuration.
    ///   - suite: the KDF/AEAD pair to use; it must be one the configuration lists. `nil` picks
    ///     the gateway's first pair that this module supports.
    /// - Throws: ``WireError`` with ``WireError/Code/unsupportedAlgorithm`` when the suite is not
    ///   offered or not implemented, ``WireError/Code/malformed`` when the public key is unusable.
    public static func encapsulateRequest(
        _ request: [UInt8],
        to configuration: KeyConfiguration,
        suite: KeyConfiguration.SymmetricAlgorithm? = nil
    ) throws -> (encapsulated: [UInt8], context: ClientContext) {
        let algorithm: KeyConfiguration.SymmetricAlgorithm
        if let suite {
            guard configuration.symmetricAlgorithms.contains(suite) else {
                throw WireError(.unsupportedAlgorithm, "key configuration \(configuration.keyID) does not offer \(suite); it offers \(configuration.symmetricAlgorithms.map(\.description).joined(separator: ", "))")
            }
            algorithm = suite
        } else {
            guard let preferred = configuration.preferredSymmetricAlgorithm else {
                throw WireError(.unsupportedAlgorithm, "key configuration \(configuration.keyID) offers none of the supported algorithms (\(KeyConfiguration.SymmetricAlgorithm.supported.map(\.description).joined(separator: ", ")))")
            }
            algorithm = preferred
        }
        // Refuses, before any key is made, a KDF or AEAD this module does not implement.
        _ = try ObliviousHTTP.ciphersuite(kem: configuration.kem, algorithm)
        let publicKey = try RecipientPublicKey(kem: configuration.kem, bytes: configuration.publicKey)
        let hdr = ObliviousHTTP.header(keyID: configuration.keyID, kem: configuration.kem, algorithm)
        let (encapsulatedKey, ciphertext, response) = try publicKey.seal(request, algorithm: algorithm, info: ObliviousHTTP.info(header: hdr), kem: configuration.kem)
        return (hdr + encapsulatedKey + ciphertext, ClientContext(response: response))
    }
}
