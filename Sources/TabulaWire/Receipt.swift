/// Proof, signed by the enclave's identity key, of what one confidential invocation ran.
///
/// It travels inside the sealed response (fields ``Confidential/receiptField`` and
/// ``Confidential/receiptSignatureField``), so only the client sees it. The client checks the
/// signature with the identity key it verified in the attestation bundle, then that the digests
/// match the request it sealed, the response it opened and the function certificate it verified.
/// The signature covers the exact JSON bytes sent, so decoding them never has to re-encode.
public struct Receipt: Codable, Sendable, Hashable {
    /// The receipt format; this is version 1.
    public var version: Int
    public var activationId: String
    public var namespace: String
    public var name: String
    /// Hex SHA-256 of the module that ran.
    public var moduleDigest: String
    /// Hex SHA-256 of the snapshot state the invocation started from.
    public var snapshotDigest: String
    /// Hex SHA-256 of the function's policy (see the function certificate).
    public var policyDigest: String
    /// The sandbox that ran it, and the invocation's sequence number in that sandbox.
    public var sandbox: Int
    public var sequence: UInt64
    /// Hex SHA-256 of the Binary HTTP request the client sealed.
    public var requestDigest: String
    /// Hex SHA-256 of the inner response's content (the ``ConfidentialResult`` JSON bytes).
    public var responseDigest: String
    /// The key epoch whose key opened the request.
    public var epoch: UInt64
    /// The TEE kind of the enclave: `simulated` when no TEE hardware backs it.
    public var tee: String
    /// Unix milliseconds when the receipt was signed.
    public var issuedAt: Int64

    public init(
        version: Int = 1, activationId: String, namespace: String, name: String, moduleDigest: String,
        snapshotDigest: String, policyDigest: String, sandbox: Int, sequence: UInt64, requestDigest: String,
        responseDigest: String, epoch: UInt64, tee: String, issuedAt: Int64
    ) {
        self.version = version
        self.activationId = activationId
        self.namespace = namespace
        self.name = name
        self.moduleDigest = moduleDigest
        self.snapshotDigest = snapshotDigest
        self.policyDigest = policyDigest
        self.sandbox = sandbox
        self.sequence = sequence
        self.requestDigest = requestDigest
        self.responseDigest = responseDigest
        self.epoch = epoch
        self.tee = tee
        self.issuedAt = issuedAt
    }
}
