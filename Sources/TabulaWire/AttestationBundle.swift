import struct Foundation.Data

/// What `GET /api/v1/attestation` answers: everything a client needs to trust the enclave and
/// seal requests to it.
///
/// The chain a client checks: `evidence` (hardware, or simulated) binds the identity key through
/// `certificate`'s RA-TLS extension; the identity key signs `keyConfigs` together with `epoch` and
/// `expires` (see ``signedMessage``); requests are sealed to one of those key configurations.
public struct AttestationBundle: Codable, Sendable, Hashable {
    /// `sgx`, `tdx`, `sev-snp`, or `simulated` when no TEE hardware backs the enclave.
    public var tee: String
    /// Base64 of the evidence (also inside the certificate).
    public var evidence: String
    /// The identity certificate, PEM.
    public var certificate: String
    /// Base64 of the `application/ohttp-keys` list of the current epoch.
    public var keyConfigs: String
    /// Base64 of the identity key's ECDSA P-256/SHA-256 signature (DER) over ``signedMessage``.
    public var keyConfigsSignature: String
    /// The key epoch; keys rotate every epoch.
    public var epoch: UInt64
    /// When the client should fetch the bundle again (ISO 8601); the keys stay usable for a grace
    /// period after it.
    public var expires: String

    public init(tee: String, evidence: String, certificate: String, keyConfigs: String, keyConfigsSignature: String, epoch: UInt64, expires: String) {
        self.tee = tee
        self.evidence = evidence
        self.certificate = certificate
        self.keyConfigs = keyConfigs
        self.keyConfigsSignature = keyConfigsSignature
        self.epoch = epoch
        self.expires = expires
    }

    /// The bytes the key configuration signature covers: a context label, the epoch and the
    /// expiry (so an old, signed list cannot be replayed as current), and the key list.
    ///
    /// `"tabula key configurations v1" ‖ 0x00 ‖ epoch (8 bytes, big-endian) ‖ len(expires) (2 bytes) ‖ expires (UTF-8) ‖ keyConfigs`
    public static func signedMessage(epoch: UInt64, expires: String, keyConfigs: [UInt8]) -> [UInt8] {
        let expiresBytes = Array(expires.utf8)
        return Array("tabula key configurations v1".utf8) + [0]
            + (0..<8).reversed().map { UInt8(truncatingIfNeeded: epoch >> ($0 * 8)) }
            + [UInt8(expiresBytes.count >> 8), UInt8(truncatingIfNeeded: expiresBytes.count)]
            + expiresBytes + keyConfigs
    }
}
