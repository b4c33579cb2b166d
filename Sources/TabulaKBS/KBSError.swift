/// An error of the key broker protocol: a JWE or a JWK that cannot be used.
///
/// Each code is stable; the message says what was wrong, never a key or a plaintext.
public struct KBSError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// Not the JSON shape (or base64url) the protocol defines.
        case malformed = "malformed"
        /// An algorithm or curve this implementation does not offer.
        case unsupportedAlgorithm = "unsupported_algorithm"
        /// The key does not fit the algorithm, or is not a valid key.
        case invalidKey = "invalid_key"
        /// Decryption failed: altered, or encrypted to another key.
        case decryptionFailed = "decryption_failed"
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
