/// The one error type of TabulaWire: a stable code for programs, and a message for people.
///
/// Callers branch on ``code`` (its raw values never change, so they can travel in logs and
/// API responses); ``message`` says what exactly was wrong with the input, so that a server can
/// answer a bad request with something a client developer can act on.
public struct WireError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure this is. Raw values are part of the wire contract: add cases, never rename.
    public enum Code: String, Sendable, Hashable, CaseIterable {
        /// The input ended before a field it announces was complete.
        case truncated = "truncated"
        /// The input is structurally invalid: a bad length, trailing bytes, a malformed key.
        case malformed = "malformed"
        /// An Oblivious HTTP request names a key identifier the gateway does not hold.
        case unknownKeyID = "unknown-key-id"
        /// A KEM, KDF or AEAD identifier that this side does not support or did not offer.
        case unsupportedAlgorithm = "unsupported-algorithm"
        /// Decryption failed: the message was altered, or was sealed for another key or context.
        case authenticationFailed = "authentication-failed"
        /// A Binary HTTP message starts with a framing indicator other than the ones expected
        /// (0 or 2 for a request, 1 or 3 for a response).
        case invalidFramingIndicator = "invalid-framing-indicator"
        /// A Binary HTTP response carries a status code outside 100–599, or an informational
        /// (1xx) status where the final one belongs.
        case invalidStatusCode = "invalid-status-code"
        /// A Binary HTTP field or request control datum that HTTP forbids: an empty or uppercase
        /// field name, a CR, LF or NUL in a value, text that is not UTF-8.
        case invalidField = "invalid-field"
    }

    /// What kind of failure this is.
    public var code: Code
    /// What was wrong, in a sentence.
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
