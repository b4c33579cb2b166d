/// An error of the verifiable log: a proof or a tree head that does not verify, or a request for
/// one that cannot exist.
///
/// Each code is stable; the message says what was wrong.
public struct LogError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// A leaf index or tree size outside the tree.
        case outOfRange = "out_of_range"
        /// A proof whose length or hashes do not lead to the root.
        case proofFailed = "proof_failed"
        /// Bytes that are not the format they claim to be.
        case malformed = "malformed"
        /// A signature that does not verify.
        case badSignature = "bad_signature"
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
