public import Crypto

/// A tree head signed by the log's key: the size of the log, its root, and when it was signed.
///
/// The signed bytes are `"tabula tree head v1" ‖ 0x00 ‖ size (8 bytes, big-endian) ‖ timestamp
/// (milliseconds since 1970, 8 bytes, big-endian) ‖ root (32 bytes)`; the signature is ECDSA
/// P-256 with SHA-256, DER.
public struct SignedTreeHead: Codable, Sendable, Hashable {
    public var size: UInt64
    /// Milliseconds since 1970.
    public var timestamp: UInt64
    public var root: [UInt8]
    public var signature: [UInt8]

    public init(size: UInt64, timestamp: UInt64, root: [UInt8], signature: [UInt8]) {
        self.size = size
        self.timestamp = timestamp
        self.root = root
        self.signature = signature
    }

    /// The bytes the signature covers.
    public static func message(size: UInt64, timestamp: UInt64, root: [UInt8]) -> [UInt8] {
        func bigEndian(_ value: UInt64) -> [UInt8] { (0..<8).reversed().map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) } }
        return Array("tabula tree head v1".utf8) + [0] + bigEndian(size) + bigEndian(timestamp) + root
    }

    /// Signs a tree head.
    public static func sign(size: UInt64, timestamp: UInt64, root: [UInt8], key: P256.Signing.PrivateKey) throws -> SignedTreeHead {
        let signature = try key.signature(for: message(size: size, timestamp: timestamp, root: root))
        return SignedTreeHead(size: size, timestamp: timestamp, root: root, signature: Array(signature.derRepresentation))
    }

    /// Checks the signature with the log's public key.
    public func verify(_ key: P256.Signing.PublicKey) throws(LogError) {
        guard root.count == 32 else { throw LogError(.malformed, "a tree head's root has 32 bytes, not \(root.count)") }
        guard let parsed = try? P256.Signing.ECDSASignature(derRepresentation: signature),
              key.isValidSignature(parsed, for: Self.message(size: size, timestamp: timestamp, root: root))
        else {
            throw LogError(.badSignature, "the tree head of size \(size) is not signed by the log's key")
        }
    }
}
