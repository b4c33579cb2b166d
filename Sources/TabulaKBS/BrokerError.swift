/// An error of the key broker and of its formats (JWK, JWE): what it refused, and why.
///
/// Each code is stable and maps to one HTTP status and one Trustee error name
/// (``httpStatus``, ``trusteeName``), so a Trustee client reads Tabula's refusals as Trustee's.
/// Messages never contain a secret, a key or a plaintext.
public struct BrokerError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The request is not what the protocol defines.
        case invalidRequest = "invalid_request"
        /// No session, an expired one, or one that has not attested.
        case unauthenticated = "unauthenticated"
        /// The evidence did not verify or satisfies no class of the manifest.
        case attestationRefused = "attestation_refused"
        /// The attested TEE (or signer) may not have this.
        case forbidden = "forbidden"
        /// No such resource.
        case notFound = "not_found"
        /// A manifest that cannot be used.
        case invalidManifest = "invalid_manifest"
        /// The broker cannot serve now (its state is sealed and awaits recovery, or the store is away).
        case unavailable = "unavailable"
        /// The broker's state cannot be read or written.
        case stateFailure = "state_failure"
        /// Not the JSON shape (or base64url) JOSE defines.
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

    /// The status of this kind of error: 401 without an attested session or when attestation
    /// fails, 403 when the manifest refuses, 404 for an unknown resource (Trustee itself answers
    /// 401 for the last two; docs/broker.md says why Tabula does not).
    public var httpStatus: Int {
        switch code {
        case .invalidRequest, .invalidManifest, .malformed, .unsupportedAlgorithm, .invalidKey, .decryptionFailed: 400
        case .unauthenticated, .attestationRefused: 401
        case .forbidden: 403
        case .notFound: 404
        case .unavailable: 503
        case .stateFailure: 500
        }
    }

    /// The error's name in Trustee's error type URI.
    public var trusteeName: String {
        switch code {
        case .invalidRequest, .invalidManifest, .malformed, .unsupportedAlgorithm, .invalidKey, .decryptionFailed: "InvalidRequest"
        case .unauthenticated: "TokenNotFound"
        case .attestationRefused: "AttestationError"
        case .forbidden: "PolicyDeny"
        case .notFound: "ResourceNotFound"
        case .unavailable, .stateFailure: "InternalError"
        }
    }
}
