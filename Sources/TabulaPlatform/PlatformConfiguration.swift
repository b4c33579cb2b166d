public import TabulaEnclave
public import TabulaWire

/// How the platform schedules invocations and keeps functions warm.
public struct PlatformConfiguration: Sendable {
    /// Invocations that run at once across all actions (the enclave's threads).
    public var concurrency: Int
    /// Invocations that may wait for a free slot; beyond it requests get 429.
    public var queueLimit: Int
    /// The most warm sandboxes one action may have (its `limits.concurrency` is capped by this).
    public var maxSandboxesPerAction: Int
    /// A warm action unused for this long is unloaded.
    public var keepAlive: Duration
    /// The memory that warm actions may reserve together (each reserves its memory limit per
    /// sandbox); loading beyond it unloads the least recently used idle actions first.
    public var memoryBudget: Int
    /// How long a blocking invoke waits before answering 202, when the request gives no `timeout`.
    public var blockingTimeout: Duration
    /// The largest request body accepted (OpenWhisk's code size limit).
    public var maxBodySize: Int
    /// Loads (a deploy's check of its module, an action's first load, a new sandbox) that run at
    /// once, on threads of their own beside the invocations'; `nil` for half of ``concurrency``,
    /// at least one.
    public var loadConcurrency: Int?
    /// Deploys and cold starts that may wait for a load thread; beyond it they get 429.
    public var loadQueueLimit: Int
    /// How long a stopping server lets runs in progress go on before it ends them (their records
    /// then say the server stopped).
    public var shutdownGrace: Duration

    /// The most bytes of stored documents one listing (`GET …/actions`, `GET …/activations`)
    /// returns: a page stops early rather than grow beyond it (it always has at least one entry).
    public var listingByteLimit: Int

    /// Where tenants' WebAssembly runs: in confined worker processes (what `tabula serve` does by
    /// default) or in the server's own process.
    public var isolation: Isolation
    /// The engines functions run with (``Engines/detect(cacheDirectory:cacheKey:childExecutable:)``
    /// gives the native engine where a compiler exists); the interpreter only by default.
    public var engines: Engines

    /// This node's name in a cluster (see ``Store/cluster``): its lease and the work it claims are
    /// recorded under it. Keep it across restarts, so that a node that starts again recovers its
    /// own interrupted activations.
    public var nodeName = "local"
    /// Where functions' tenant secrets come from (a key broker, `tabula serve --broker`).
    public var secrets: (any SecretSource)?
    /// How often a node of a cluster renews its lease (and ends the work of stopped nodes).
    public var heartbeatInterval: Duration = .seconds(1)
    /// The most non-blocking invocations one namespace may have waiting in a cluster's queue;
    /// beyond it they get 429, so that no tenant fills the store or delays the others' work.
    public var clusterQueueLimit = 10_000
    /// How long a lease lasts without a heartbeat: a node silent for this long is stopped, and the
    /// invocations it claimed are recorded as interrupted.
    public var lease: Duration = .seconds(5)

    /// The limits of a namespace that has none of its own (`tabula namespace limits`): OpenWhisk's
    /// names, with defaults for one node that serves thousands of invocations a second.
    public var namespaceLimits = NamespaceLimits(invocationsPerMinute: 60_000, concurrentInvocations: 500, firesPerMinute: 6_000)

    /// The loads that run at once (``loadConcurrency`` or its default).
    public var loads: Int { max(1, loadConcurrency ?? concurrency / 2) }

    public init(
        concurrency: Int = 4,
        queueLimit: Int = 256,
        maxSandboxesPerAction: Int = 4,
        keepAlive: Duration = .seconds(600),
        memoryBudget: Int = 4 << 30,
        blockingTimeout: Duration = .seconds(60),
        maxBodySize: Int = 48 << 20,
        loadConcurrency: Int? = nil,
        loadQueueLimit: Int = 16,
        shutdownGrace: Duration = .seconds(10),
        listingByteLimit: Int = 4 << 20,
        isolation: Isolation = .inProcess,
        engines: Engines = .interpreterOnly,
        nodeName: String = "local"
    ) {
        self.engines = engines
        self.nodeName = nodeName
        self.concurrency = concurrency
        self.queueLimit = queueLimit
        self.maxSandboxesPerAction = maxSandboxesPerAction
        self.keepAlive = keepAlive
        self.memoryBudget = memoryBudget
        self.blockingTimeout = blockingTimeout
        self.maxBodySize = maxBodySize
        self.loadConcurrency = loadConcurrency
        self.loadQueueLimit = loadQueueLimit
        self.shutdownGrace = shutdownGrace
        self.listingByteLimit = listingByteLimit
        self.isolation = isolation
    }
}
