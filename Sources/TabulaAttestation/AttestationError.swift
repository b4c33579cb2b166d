/// An error of attestation: evidence that cannot be parsed or does not verify.
///
/// The message says what failed (which signature, which certificate, which field), so that an
/// operator can tell a corrupted quote from an untrusted platform.
public struct AttestationError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        /// The bytes are not evidence of a known format (truncated, wrong version, bad lengths).
        case malformed = "malformed"
        /// A signature does not verify.
        case badSignature = "bad_signature"
        /// A certificate chain does not lead to a pinned root, or a certificate is not valid at the time.
        case untrustedChain = "untrusted_chain"
        /// A binding between two parts of the evidence does not hold (e.g. QE report data).
        case bindingMismatch = "binding_mismatch"
        /// A feature of the evidence is not supported.
        case unsupported = "unsupported"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
