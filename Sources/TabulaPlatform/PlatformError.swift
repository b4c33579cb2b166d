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

    /// OpenWhisk's words for a create that finds the name taken (409).
    public static let alreadyExists = "resource already exists"
    /// OpenWhisk's words for an entity that is not there (404).
    public static let doesNotExist = "The requested resource does not exist."

    /// OpenWhisk's 403 for an entity of another namespace the caller may not read: also what it
    /// says of one that does not exist, so that existence does not leak.
    static func notAuthorized(_ path: String) -> PlatformError {
        PlatformError(.forbidden, "The supplied authentication is not authorized to access '\(path)'.")
    }
}
