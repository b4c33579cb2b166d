public import TabulaWire

/// The opened answer of a confidential invocation, with its verified receipt.
///
/// `status` is the inner response's: 200 when the function succeeded, 502 when it failed (its
/// result says why), and 4xx/5xx when the enclave refused the request, with ``error`` saying why.
public struct ConfidentialReply: Sendable, Hashable {
    public var activationID: String
    public var status: Int
    /// The result and logs, when the function ran.
    public var result: ConfidentialResult?
    /// The enclave's reason, when it refused to run the function.
    public var error: String?
    /// The receipt, verified: signed by the identity key and matching the request, the response
    /// and the function certificate. `nil` when the function did not run.
    public var receipt: Receipt?

    /// Whether the function ran and succeeded.
    public var succeeded: Bool { status == 200 && result?.success == true }
}

/// What a client keeps of a confidential invocation that has not answered yet, to open and verify
/// its result later (``Client/confidentialResult(_:)``), possibly in another process.
///
/// It holds the key that opens the response: store it only where the client's own secrets live.
public struct ConfidentialTicket: Codable, Sendable, Hashable {
    public var activationId: String
    /// Base64 of ``ObliviousHTTP/ClientContext/serialized``.
    public var context: String
    /// Hex SHA-256 of the Binary HTTP request that was sealed.
    public var requestDigest: String
    /// The function as its verified certificate describes it.
    public var function: FunctionIdentity
    /// Base64 of the identity key's x9.63 representation: what the receipt must be signed by.
    public var identityKey: String

    /// The function a ticket's receipt must name.
    public struct FunctionIdentity: Codable, Sendable, Hashable {
        public var namespace: String
        public var name: String
        public var moduleDigest: String
        public var snapshotDigest: String
        public var policyDigest: String
    }
}
