/// A node of the platform, as `GET /api/v1/nodes` shows it: this node alone on a single node,
/// every node that held a lease in a cluster.
public struct NodeStatus: Codable, Sendable, Hashable {
    public var name: String
    /// The address its API is reached at.
    public var url: String
    /// Whether it holds its lease (a heartbeat within the lease time).
    public var alive: Bool
    /// Milliseconds since its last heartbeat.
    public var heartbeatAge: Int64
    /// When it started (milliseconds since the epoch).
    public var started: Int64
    /// What it reported with its last heartbeat; `nil` when that could not be read.
    public var report: NodeReport?

    public init(name: String, url: String, alive: Bool, heartbeatAge: Int64, started: Int64, report: NodeReport?) {
        self.name = name
        self.url = url
        self.alive = alive
        self.heartbeatAge = heartbeatAge
        self.started = started
        self.report = report
    }
}

/// What a node publishes with each heartbeat: its TEE, engine and load. Counts only, never which
/// functions of which tenant it runs.
public struct NodeReport: Codable, Sendable, Hashable {
    /// The TEE its enclave runs in (`simulated` without TEE hardware).
    public var tee: String
    /// Where tenants' code runs: `workers` or `process`.
    public var isolation: String
    /// The engine functions run with by default.
    public var engine: String
    /// Invocations that run at once.
    public var concurrency: Int
    /// Invocations running now, and waiting for a slot.
    public var running: Int
    public var queued: Int
    /// Actions loaded in its enclave.
    public var warm: Int
    /// The current key epoch of its enclave (`nil` without an attested enclave).
    public var keyEpoch: UInt64?
    /// Its enclave's fingerprint (``Confidential/enclaveFingerprint(_:)``).
    public var enclave: String?
    /// Its enclave's key configurations (base64 of `application/ohttp-keys`).
    public var keyConfigurations: String?
    /// The ids of the keys its enclave opens requests with now, the previous epoch's included
    /// during their grace period: which sealed requests the other nodes forward to it.
    public var keyIDs: [UInt8]?

    public init(
        tee: String, isolation: String, engine: String, concurrency: Int, running: Int, queued: Int, warm: Int, keyEpoch: UInt64?,
        enclave: String? = nil, keyConfigurations: String? = nil, keyIDs: [UInt8]? = nil
    ) {
        self.enclave = enclave
        self.keyIDs = keyIDs
        self.keyConfigurations = keyConfigurations
        self.tee = tee
        self.isolation = isolation
        self.engine = engine
        self.concurrency = concurrency
        self.running = running
        self.queued = queued
        self.warm = warm
        self.keyEpoch = keyEpoch
    }
}
