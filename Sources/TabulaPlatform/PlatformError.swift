/// An error of the platform: what a request asked for cannot be done.
///
/// Each code corresponds to one HTTP status of the OpenWhisk API (the server maps them), and the
/// message says what to do. Messages never carry an invocation's parameters or results.
public struct PlatformError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case badRequest = "bad_request"
        case unauthorized = "unauthorized"
        case forbidden = "forbidden"
        case notFound = "not_found"
        case conflict = "conflict"
        case payloadTooLarge = "payload_too_large"
        case tooManyRequests = "too_many_requests"
        case internalError = "internal_error"
        case unavailable = "unavailable"
        /// The request is for another node of the cluster (a sealed request to another enclave's
        /// key, a certificate of another enclave), and none could be reached: 421.
        case misdirected = "misdirected"
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
