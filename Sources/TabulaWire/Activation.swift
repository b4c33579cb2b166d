/// An activation record as the OpenWhisk REST API shows it.
public struct Activation: Codable, Sendable, Hashable {
    /// OpenWhisk's `response`: the activation response with its numeric status code.
    public struct Response: Codable, Sendable, Hashable {
        public var status: String
        /// 0 success, 1 application error, 2 action developer error, 3 internal error.
        public var statusCode: Int
        public var success: Bool
        public var result: JSONValue?

        public init(_ response: ActivationResponse) {
            self.status = response.status.rawValue
            self.statusCode = response.status.code
            self.success = response.success
            self.result = response.result
        }
    }

    public var namespace: String
    public var name: String
    public var version: String
    public var subject: String
    /// 32 hex digits.
    public var activationId: String
    /// Milliseconds since the Unix epoch.
    public var start: Int64
    public var end: Int64
    /// Milliseconds.
    public var duration: Int64
    public var statusCode: Int
    /// Absent in summaries (`docs=false` listings).
    public var response: Response?
    public var logs: [String]?
    public var annotations: [KeyValue]
    public var publish: Bool
    /// The activation of the sequence (or trigger) this one ran as part of.
    public var cause: String?

    public init(namespace: String, name: String, version: String, subject: String, activationId: String, start: Int64, end: Int64, response: Response?, logs: [String]?, annotations: [KeyValue], publish: Bool = false, cause: String? = nil) {
        self.namespace = namespace
        self.name = name
        self.version = version
        self.subject = subject
        self.activationId = activationId
        self.start = start
        self.end = end
        self.duration = end - start
        self.statusCode = response?.statusCode ?? 0
        self.response = response
        self.logs = logs
        self.annotations = annotations
        self.publish = publish
        self.cause = cause
    }
}

extension ActivationResponse.Status {
    /// OpenWhisk's numeric status code.
    public var code: Int {
        switch self {
        case .success: 0
        case .applicationError: 1
        case .developerError: 2
        case .internalError: 3
        }
    }

    /// The status whose ``code`` is `code`; `nil` for a number OpenWhisk does not define.
    public init?(code: Int) {
        switch code {
        case 0: self = .success
        case 1: self = .applicationError
        case 2: self = .developerError
        case 3: self = .internalError
        default: return nil
        }
    }

    /// The HTTP status that answers a blocking invocation that ended this way, as OpenWhisk answers
    /// it: 200 for success, 502 when the function failed (an application or developer error), 500
    /// when the platform failed. The one mapping, for plain answers and sealed inner answers alike.
    public var blockingHTTPStatus: Int {
        switch self {
        case .success: 200
        case .applicationError, .developerError: 502
        case .internalError: 500
        }
    }
}

/// OpenWhisk's error body: a message and a code (the request id, as OpenWhisk's transaction id).
public struct ErrorBody: Codable, Sendable, Hashable {
    public var error: String
    public var code: String

    public init(error: String, code: String) {
        self.error = error
        self.code = code
    }
}
