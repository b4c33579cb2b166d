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
    /// The receipt, verified: sealed with the answer by the enclave that opened the request, and
    /// matching the request, the response and the function certificate. `nil` when the function
    /// did not run.
    public var receipt: Receipt?
    /// The receipt's exact bytes: what its log entry commits to (``Client/proveReceipt(_:enclave:)``).
    public var receiptBytes: [UInt8]?
    /// The identity key's signature over ``receiptBytes`` (DER), verified, when it was asked for
    /// or the function's policy signs every receipt.
    public var receiptSignature: [UInt8]?

    public init(
        activationID: String, status: Int, result: ConfidentialResult?, error: String?, receipt: Receipt?, receiptBytes: [UInt8]? = nil,
        receiptSignature: [UInt8]? = nil
    ) {
        self.activationID = activationID
        self.status = status
        self.result = result
        self.error = error
        self.receipt = receipt
        self.receiptBytes = receiptBytes
        self.receiptSignature = receiptSignature
    }

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
    /// Base64 of the identity key's x9.63 representation: what a receipt's signature must be by.
    public var identityKey: String
    /// Whether the receipt was asked for signed (then an answer without a signature is refused);
    /// absent in tickets of earlier versions.
    public var signedReceipt: Bool?

    /// The function a ticket's receipt must name.
    public struct FunctionIdentity: Codable, Sendable, Hashable {
        public var namespace: String
        public var name: String
        public var moduleDigest: String
        public var snapshotDigest: String
        public var policyDigest: String
    }
}
