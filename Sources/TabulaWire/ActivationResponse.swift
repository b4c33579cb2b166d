/// The `response` of an OpenWhisk activation: how the invocation ended and its result.
///
/// Statuses and their meaning follow OpenWhisk: `success`; `application error` when the function
/// returned a result with a top-level `error`; `action developer error` when the function failed
/// to produce a result (a trap, a limit, output that is not JSON); `whisk internal error` when the
/// platform failed.
public struct ActivationResponse: Codable, Sendable, Hashable {
    public enum Status: String, Codable, Sendable, Hashable {
        case success = "success"
        case applicationError = "application error"
        case developerError = "action developer error"
        case internalError = "whisk internal error"
    }

    public var status: Status
    public var success: Bool { status == .success }
    public var result: JSONValue

    public init(status: Status, result: JSONValue) {
        self.status = status
        self.result = result
    }

    /// A developer error with OpenWhisk's result shape `{"error": message}`.
    public static func developerError(_ message: String) -> ActivationResponse {
        ActivationResponse(status: .developerError, result: ["error": .string(message)])
    }

    enum CodingKeys: String, CodingKey {
        case status, success, result
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        status = try container.decode(Status.self, forKey: .status)
        result = try container.decodeIfPresent(JSONValue.self, forKey: .result) ?? .object([:])
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(status, forKey: .status)
        try container.encode(success, forKey: .success)
        try container.encode(result, forKey: .result)
    }
}

extension ActivationResponse {
    /// One line of JSON in OpenWhisk's field order: `{"status":…,"success":…,"result":…}`.
    public var jsonLine: String {
        let status = JSONValue.string(status.rawValue).encodedString
        return "{\"status\":\(status),\"success\":\(success),\"result\":\(result.encodedString)}"
    }
}
