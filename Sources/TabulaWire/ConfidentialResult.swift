/// The body of a confidential invocation's inner response: what the enclave returns to the client
/// only, sealed so that the operator never sees it.
///
/// It has the activation's `response` fields plus the logs, which for a confidential invocation are
/// part of the sealed response rather than of the stored activation record.
public struct ConfidentialResult: Codable, Sendable, Hashable {
    public var activationId: String
    /// OpenWhisk's status text (`success`, `application error`, …).
    public var status: String
    public var success: Bool
    public var result: JSONValue
    public var logs: [String]

    public init(activationId: String, status: String, success: Bool, result: JSONValue, logs: [String]) {
        self.activationId = activationId
        self.status = status
        self.success = success
        self.result = result
        self.logs = logs
    }
}
