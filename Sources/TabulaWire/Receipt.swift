/// Proof of what one confidential invocation ran.
///
/// It travels inside the sealed response (field ``Confidential/receiptField``), so only the client
/// sees it, and the response keys of the client's own request authenticate it at once: only the
/// enclave that opened the request could seal the answer. Its ``commitment(_:)`` is appended to
/// the enclave's verifiable log before the answer leaves, so the client can later prove, from a
/// tree head the enclave signed, that the receipt is in the log every party sees. Where the
/// client or the function's policy asks for it, the identity key also signs the receipt itself
/// (``Confidential/receiptSignatureField``), for a third party that trusts no log.
/// The commitment and the signature cover the exact JSON bytes sent, so decoding them never has
/// to re-encode.
public struct Receipt: Codable, Sendable, Hashable {
    /// The receipt format; this is version 2 (version 1 had no salt and was always signed).
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
    /// Unix milliseconds when the receipt was issued.
    public var issuedAt: Int64
    /// Hex of 16 bytes that only the client and the enclave can compute (derived from the
    /// request's HPKE secret with ``saltLabel``): the log holds only a hash of the receipt, and
    /// this makes that hash reveal nothing, even of a request or a response with little entropy.
    public var salt: String

    /// For a sequence: each of its actions, in order (``moduleDigest`` is then the digest of
    /// this list, see ``sequenceDigest(_:)``, and the other fields are those of the last action
    /// that ran). `nil` for one function.
    public var components: [Component]?

    /// One action of a sequence, as its receipt names it.
    public struct Component: Codable, Sendable, Hashable {
        public var namespace: String
        public var name: String
        /// Hex SHA-256 of its module.
        public var moduleDigest: String
        /// Hex SHA-256 of its policy.
        public var policyDigest: String
        /// Hex SHA-256 of the snapshot it started from (the certified one unless something is
        /// wrong, which then shows in the sequence digest).
        public var snapshotDigest: String
        /// Whether it ran: the chain ends at the first action that fails.
        public var ran: Bool

        public init(namespace: String, name: String, moduleDigest: String, policyDigest: String, snapshotDigest: String, ran: Bool) {
            self.namespace = namespace
            self.name = name
            self.moduleDigest = moduleDigest
            self.policyDigest = policyDigest
            self.snapshotDigest = snapshotDigest
            self.ran = ran
        }
    }

    /// What a sequence's receipt gives as its module digest, and what a client pins it by
    /// (`tabula-expect-digest`): hex SHA-256 of the canonical JSON array of
    /// `[namespace, name, moduleDigest, policyDigest, snapshotDigest]`, one per action in order (JSON,
    /// so that no name can pass for two actions). A client computes it from the actions' function
    /// certificates.
    public static func sequenceDigest(_ components: [Component]) -> String {
        let list = JSONValue.array(components.map {
            [.string($0.namespace), .string($0.name), .string($0.moduleDigest), .string($0.policyDigest), .string($0.snapshotDigest)]
        })
        return BoringSSL.sha256(list.encoded).hex
    }

    /// The label the salt is derived with (``ObliviousHTTP/ServerContext/privateBytes(label:count:)``).
    public static let saltLabel = "tabula receipt salt"

    public init(
        version: Int = 2, activationId: String, namespace: String, name: String, moduleDigest: String,
        snapshotDigest: String, policyDigest: String, sandbox: Int, sequence: UInt64, requestDigest: String,
        responseDigest: String, epoch: UInt64, tee: String, issuedAt: Int64, salt: String, components: [Component]? = nil
    ) {
        self.components = components
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
        self.salt = salt
    }

    /// What the verifiable log holds for a receipt (the data of a `receipt` entry): SHA-256 of
    /// its exact JSON bytes.
    public static func commitment(_ receiptBytes: [UInt8]) -> [UInt8] {
        BoringSSL.sha256(receiptBytes)
    }
}
