/// Why a request to an OpenWhisk API server failed.
///
/// Every error of ``Client`` is a `ClientError`. `code` is stable for programs; `message` is for
/// people and says what to do. HTTP errors carry the status and, when the server sent
/// OpenWhisk's error body `{"error": …, "code": …}`, its request id (OpenWhisk's transaction id),
/// which finds the request in the server's log.
public struct ClientError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of failure.
    public enum Code: String, Sendable, Hashable {
        /// The key is not `UUID:KEY`.
        case invalidCredentials
        /// An entity name or argument the client refuses before sending anything.
        case invalidArgument
        /// No connection to the server (refused, unknown host, TLS failure…).
        case unreachable
        /// The server did not answer in time.
        case timedOut
        /// The server answered with something that is not the OpenWhisk API.
        case invalidResponse
        /// 400: the request is malformed.
        case badRequest
        /// 401: no credentials or wrong ones.
        case unauthorized
        /// 403: the credentials do not reach that namespace.
        case forbidden
        /// 404: no such action, activation or route.
        case notFound
        /// 409: the entity exists (create without overwrite) or changed meanwhile.
        case conflict
        /// 413: the module or the parameters are too large.
        case payloadTooLarge
        /// 429: the server is at capacity; retry later.
        case tooManyRequests
        /// 5xx: the server failed.
        case server
        /// Any other status.
        case unexpectedStatus
        /// The enclave's attestation does not verify, or does not satisfy the reference policy.
        case attestationFailed
        /// A sealed answer does not verify: its receipt, or the function certificate, does not
        /// match what was sent and verified.
        case verificationFailed
    }

    public var code: Code
    /// What went wrong and what to do, in a sentence or two.
    public var message: String
    /// The HTTP status, for errors the server answered.
    public var status: Int?
    /// The server's request id from its error body, when it sent one.
    public var requestID: String?

    public init(_ code: Code, _ message: String, status: Int? = nil, requestID: String? = nil) {
        self.code = code
        self.message = message
        self.status = status
        self.requestID = requestID
    }

    /// The message, then the HTTP status and request id when known.
    public var description: String {
        var details: [String] = []
        if let status { details.append("HTTP \(status)") }
        if let requestID, !requestID.isEmpty { details.append("request id \(requestID)") }
        return details.isEmpty ? message : "\(message) (\(details.joined(separator: ", ")))"
    }
}

extension ClientError.Code {
    /// The code for an HTTP error status.
    init(status: Int) {
        self = switch status {
        case 400: .badRequest
        case 401: .unauthorized
        case 403: .forbidden
        case 404: .notFound
        case 409: .conflict
        case 413: .payloadTooLarge
        case 429: .tooManyRequests
        case 500...599: .server
        default: .unexpectedStatus
        }
    }

    /// A hint appended to the server's message when the status alone says what to do.
    var hint: String? {
        switch self {
        case .unauthorized: "Check the key: it is the UUID:KEY of a namespace on this server."
        case .forbidden: "The key belongs to another namespace; name its own namespace or `_`."
        case .tooManyRequests: "The server is at capacity; retry later."
        default: nil
        }
    }
}
