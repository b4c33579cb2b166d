/// What a function certificate asserts about one deployed function (level 2 of nested attestation).
///
/// The enclave's identity key signs these claims when it loads a function, so a client that has
/// verified the identity certificate learns exactly which code (module digest), under which policy and
/// from which initial state (snapshot digest) its invocations of this function run. They travel as
/// canonical JSON (keys sorted, compact) in an extension of the function certificate.
public struct FunctionClaims: Codable, Sendable, Hashable {
    /// The OpenWhisk namespace (the tenant).
    public var namespace: String
    /// The action name, with its package if any.
    public var name: String
    /// The OpenWhisk semantic version, like "0.0.1".
    public var version: String
    /// Hex SHA-256 of the WebAssembly module.
    public var moduleDigest: String
    /// Hex SHA-256 of the function's policy document.
    public var policyDigest: String
    /// Hex SHA-256 of the snapshot every invocation starts from.
    public var snapshotDigest: String
    /// Limits, e.g. timeout (ms), memory (MB), logs (MB), concurrency.
    public var limits: [String: Int64]
    /// The key epoch of the enclave keys that serve the function.
    public var epoch: UInt64
    /// The engine that runs the function: "native" (compiled ahead of time) or "interpreter".
    /// Absent from certificates of servers that predate the native engine.
    public var engine: String?
    /// For the native engine: the translator's version and the hex SHA-256 of the C compiler
    /// executable that compiled the function, so a client can require a known toolchain.
    public var translator: String?
    public var compilerDigest: String?

    public init(
        namespace: String, name: String, version: String, moduleDigest: String, policyDigest: String,
        snapshotDigest: String, limits: [String: Int64], epoch: UInt64, engine: String? = nil, translator: String? = nil, compilerDigest: String? = nil
    ) {
        self.engine = engine
        self.translator = translator
        self.compilerDigest = compilerDigest
        self.namespace = namespace
        self.name = name
        self.version = version
        self.moduleDigest = moduleDigest
        self.policyDigest = policyDigest
        self.snapshotDigest = snapshotDigest
        self.limits = limits
        self.epoch = epoch
    }
}
