import Crypto
import Foundation
import Synchronization
public import Logging
public import Metrics
public import ServiceLifecycle
public import TabulaEnclave
public import TabulaWire

/// The control plane: actions, invocations and activation records, over the store and one enclave.
///
/// Run it as a service (``run()``): it sweeps idle actions out of the enclave and, on shutdown,
/// lets invocations in progress finish for the grace period, then ends them (see
/// ``beginShutdown()``) before stopping the enclave.
public final class Platform: Service, Sendable {
    public let store: Store
    public let configuration: PlatformConfiguration
    let enclave: Enclave
    let pool: WarmPool
    let admission: Admission
    /// Bounds deploys and cold starts, which run on the enclave's load threads: a flood of them
    /// gets 429 rather than an unbounded queue, and never takes an invocation's place.
    let loads: Admission
    /// Each namespace's invocations per minute, runs in flight and trigger fires per minute.
    let throttle: NamespaceThrottle
    /// When the shutdown began; `nil` while serving.
    let stopping = Mutex<ContinuousClock.Instant?>(nil)
    /// Set just before the runs still in progress are ended: what ends after it was cut short.
    let runsEnded = Atomic<Bool>(false)
    let metrics: PlatformMetrics
    let logger: Logger
    /// Actions recently stored or invoked, so that an invocation reads neither the database nor
    /// the module's bytes (see ``deployedAction(namespace:name:)``).
    let actionCache = Mutex<[FunctionName: Deployed]>([:])
    /// The address this node's API is reached at (see ``advertise(url:)``).
    let advertisedURL = Mutex("")
    /// Whether this node is claiming queued invocations now (see ``claimWhileFree(_:)``).
    let claiming = Mutex(false)
    /// The queued invocations this node claimed (see ``ClaimedWork``).
    let claimedWork = Mutex(ClaimedWork())
    /// When this node started (milliseconds since the epoch).
    let started = Store.now()
    /// The most actions ``actionCache`` holds before it starts over.
    static let actionCacheLimit = 1024

    /// - Parameter monitor: the enclave's monitor (keys and attestation); without one, sealed
    ///   invocations and attestation requests are refused.
    /// The verifiable log of the enclave's certificates; `nil` without a monitor.
    public let log: TransparencyLog?

    public init(store: Store, configuration: PlatformConfiguration = PlatformConfiguration(), monitor: Monitor? = nil, metricsFactory: any MetricsFactory, logger: Logger) {
        self.store = store
        self.configuration = configuration
        self.log = monitor.map { TransparencyLog(store: store, monitor: $0) }
        self.enclave = Enclave(threads: configuration.concurrency, loadThreads: configuration.loads, monitor: monitor, isolation: configuration.isolation, engines: configuration.engines, secrets: configuration.secrets)
        self.pool = WarmPool(enclave: enclave, keepAlive: configuration.keepAlive, memoryBudget: configuration.memoryBudget)
        self.admission = Admission(capacity: configuration.concurrency, queueLimit: configuration.queueLimit)
        self.loads = Admission(
            capacity: configuration.loads, queueLimit: configuration.loadQueueLimit,
            refusal: "Too many deploys and cold starts in progress (\(configuration.loads) at once, \(configuration.loadQueueLimit) waiting): retry shortly. Invocations of warm actions are not affected.")
        self.throttle = NamespaceThrottle(defaults: configuration.namespaceLimits)
        self.metrics = PlatformMetrics(factory: metricsFactory)
        self.logger = logger
        // Another node of the cluster changed an action: forget what this one remembers of it
        // (its warm sandboxes follow, as they are checked against the stored revision).
        store.observeActionChanges { [weak self] change in
            self?.actionCache.withLock { cache in
                switch change {
                case .action(let namespace, let name): _ = cache.removeValue(forKey: FunctionName(namespace: namespace, name: name))
                case .all: cache.removeAll(keepingCapacity: true)
                }
            }
        }
    }

    /// Sweeps idle actions until shutdown, then stops the enclave.
    public func run() async throws {
        // In a cluster: the lease, the sweep of stopped nodes and the shared queue, until shutdown.
        let membership = store.cluster.map { cluster in Task { await self.serveCluster(cluster) } }
        defer { membership?.cancel() }
        let interval = min(configuration.keepAlive / 4, .seconds(30))
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                self.pool.sweep()
                self.metrics.warmActions.record(self.pool.warmCount)
            }
        }
        try await shutdown()
    }

    // MARK: Actions

    /// Creates or updates an action: checks the module loads (a deploy fails here, not at the first
    /// invocation), stores it, and retires its warm sandboxes.
    public func putAction(namespace: String, name: String, body: ActionPut, overwrite: Bool) async throws -> Action {
        try refuseWhenStopping()
        try EntityName.check(namespace, what: "namespace")
        let path = try ActionPath(name)
        if let packageName = path.package {
            guard let package = try await store.entity(Package.self, namespace: namespace, name: packageName) else {
                throw PlatformError(.notFound, PlatformError.doesNotExist)
            }
            guard !package.binding.isBinding else { throw Self.bindingRefusal }
        }
        // Checked here to answer 409 before the costly load below; the store checks again when it
        // writes, which is what decides between two concurrent creates.
        let existing = try await store.action(namespace: namespace, name: name)
        if existing != nil && !overwrite {
            throw PlatformError(.conflict, PlatformError.alreadyExists)
        }
        var action = existing?.action ?? Action(namespace: namespace, name: name, exec: Action.Exec())
        var code = existing?.code ?? []
        if let exec = body.exec, exec.kind == Self.sequenceKind {
            (action.exec, code) = try await sequence(from: exec, namespace: namespace)
            try await checkSequence(action.exec.components ?? [], namespace: namespace, name: name)
        } else if let exec = body.exec {
            (action.exec, code) = try Self.module(from: exec)
        } else if existing == nil {
            throw PlatformError(.badRequest, "The request content was malformed: exec is required to create an action.")
        }
        if let parameters = body.parameters { action.parameters = parameters }
        // A sequence passes its payload to its first action: it has no parameters of its own.
        if action.exec.kind == Self.sequenceKind { action.parameters = [] }
        if let annotations = body.annotations {
            _ = try Self.policy(from: annotations)
            _ = try Self.engine(from: annotations)
            action.annotations = annotations
        }
        if let limits = body.limits { action.limits = try Self.checked(limits) }
        action.limits = Action.Limits(
            timeout: action.limits.timeout ?? 60_000, memory: action.limits.memory ?? 256,
            logs: action.limits.logs ?? 10, concurrency: action.limits.concurrency ?? 1)
        if let publish = body.publish { action.publish = publish }
        action.annotations.removeAll { $0.key == "exec" }
        action.annotations.append(KeyValue(key: "exec", value: .string(action.exec.kind)))
        if action.exec.kind == Self.sequenceKind {
            // Nothing to load: its components are checked when they run.
            let stored = try await store.putAction(Store.StoredAction(action: action, code: code, digest: Self.sha256(code).hex), overwrite: overwrite)
            remember(stored)
            logger.info("sequence stored", metadata: ["namespace": "\(namespace)", "action": "\(name)", "version": "\(stored.action.version)"])
            return Self.document(stored, includeCode: false)
        }

        let definition = definition(for: action, code: code)
        try loads.enter()
        defer { loads.leave() }
        do {
            _ = try await enclave.validate(definition)
        } catch let error as EnclaveError where error.code == .shuttingDown || runsEnded.load(ordering: .relaxed) {
            throw Self.stoppingError  // not the module's fault: the shutdown cut the check short
        } catch let error as EnclaveError {
            throw PlatformError(.badRequest, "The module cannot be deployed: \(error.message)")
        }
        let stored = try await store.putAction(Store.StoredAction(action: action, code: code, digest: Self.sha256(code).hex), overwrite: overwrite)
        remember(stored)
        pool.retire(definition.name)
        logger.info("action stored", metadata: ["namespace": "\(namespace)", "action": "\(name)", "version": "\(stored.action.version)"])
        return Self.document(stored, includeCode: false)
    }

    /// An action's document; one reached through a binding is the bound package's action, with
    /// the package's and the binding's parameters under its own.
    public func action(namespace: String, name: String, includeCode: Bool) async throws -> Action {
        guard try ActionPath(name).package != nil else {
            guard let stored = try await store.action(namespace: namespace, name: name) else {
                throw PlatformError(.notFound, PlatformError.doesNotExist)
            }
            return Self.document(stored, includeCode: includeCode)
        }
        let target = try await target(namespace: namespace, name: name, as: namespace)
        var action = Self.document(target.deployed.stored, includeCode: includeCode)
        action.parameters = target.parameters
        if !EntityName.same(target.deployed.stored.action.namespace, namespace) {
            action.annotations = Self.redacted(action.annotations)
        }
        return action
    }

    /// OpenWhisk's refusal to change an action through a binding.
    static let bindingRefusal = PlatformError(.badRequest, "Operation not permitted on package binding.")

    /// A page of a namespace's actions; it ends early rather than exceed
    /// ``PlatformConfiguration/listingByteLimit`` (page on with `skip` plus the count received).
    ///
    /// - Parameter package: only the actions in this package.
    public func actions(namespace: String, package: String? = nil, limit: Int, skip: Int) async throws -> [Action] {
        if let package { try EntityName.check(package, what: "package") }
        return try await store.actions(namespace: namespace, package: package, limit: limit, skip: skip, byteLimit: configuration.listingByteLimit)
            .map(Self.shown)
    }

    public func deleteAction(namespace: String, name: String) async throws -> Action {
        if let package = try ActionPath(name).package, try await store.entity(Package.self, namespace: namespace, name: package)?.binding.isBinding == true {
            throw Self.bindingRefusal
        }
        let key = FunctionName(namespace: namespace, name: name)
        let deleted = try await store.deleteAction(namespace: namespace, name: name)
        // After the delete: an invocation that read the action just before cannot bring it back.
        actionCache.withLock { _ = $0.removeValue(forKey: key) }
        guard let stored = deleted else {
            throw PlatformError(.notFound, "The requested resource does not exist.")
        }
        pool.retire(FunctionName(namespace: namespace, name: name))
        logger.info("action deleted", metadata: ["namespace": "\(namespace)", "action": "\(name)"])
        return Self.document(stored, includeCode: false)
    }

    /// An action as stored, and what its annotations and limits make of it for the enclave:
    /// worked out once per version rather than per invocation.
    struct Deployed: Sendable {
        let stored: Store.StoredAction
        let definition: FunctionDefinition
        /// Whether invocations may not override the default parameters (the `final` annotation).
        let final: Bool
        /// The `limits` annotation of every activation record, built once.
        let limits: JSONValue
        /// When it was read from the store (see ``Store/actionRecheck``).
        var cachedAt = ContinuousClock.now

        /// What a warm sandbox must have been loaded from to serve this version: the owner's
        /// identity, the stored version's random revision and the module digest. A namespace
        /// created again, or an action deleted and created again, never finds the old sandboxes.
        /// The enclave is told it as the definition's revision, and serves an invocation or a
        /// certificate only from the function loaded for it.
        var identity: String { definition.revision }

        static func identity(of stored: Store.StoredAction) -> String {
            "\(stored.owner)/\(stored.revision)/\(stored.digest)"
        }
    }

    @discardableResult
    func remember(_ stored: Store.StoredAction) -> Deployed {
        var definition = definition(for: stored.action, code: stored.code)
        definition.revision = Deployed.identity(of: stored)
        let deployed = Deployed(
            stored: stored, definition: definition, final: stored.action.annotations["final"] == true, limits: definition.limitsDocument)
        actionCache.withLock { cache in
            if cache.count >= Self.actionCacheLimit { cache.removeAll(keepingCapacity: true) }
            cache[deployed.definition.name] = deployed
        }
        return deployed
    }

    static func document(_ stored: Store.StoredAction, includeCode: Bool) -> Action {
        var action = shown(stored.action)
        if includeCode, action.exec.kind != Self.sequenceKind {
            action.exec.code = action.exec.binary == true ? Data(stored.code).base64EncodedString() : String(decoding: stored.code, as: UTF8.self)
        }
        return action
    }

    /// The module bytes of an `exec`: base64 of a binary, or WAT text.
    private static func module(from exec: Action.Exec) throws(PlatformError) -> (Action.Exec, [UInt8]) {
        guard exec.kind == "wasm" else {
            throw PlatformError(.badRequest, "The kind \"\(exec.kind)\" is not supported: Tabula runs WebAssembly actions, of kind \"wasm\".")
        }
        guard let code = exec.code, !code.isEmpty else {
            throw PlatformError(.badRequest, "The request content was malformed: exec.code is required (base64 of a .wasm module, or WAT text).")
        }
        var normalized = Action.Exec(kind: "wasm", main: exec.main)
        if exec.binary != false, let bytes = Data(base64Encoded: code, options: .ignoreUnknownCharacters), bytes.starts(with: [0x00, 0x61, 0x73, 0x6D]) {
            normalized.binary = true
            return (normalized, Array(bytes))
        }
        if exec.binary == true {
            throw PlatformError(.badRequest, "The request content was malformed: exec.code is not base64 of a WebAssembly module.")
        }
        normalized.binary = false
        return (normalized, Array(code.utf8))
    }

    /// What an action's limits may be set to (also what `GET …/limits` shows).
    static let limitRanges = (timeout: 100...300_000, memory: 1...4096, logs: 0...10, concurrency: 1...500)

    private static func checked(_ limits: Action.Limits) throws(PlatformError) -> Action.Limits {
        func check(_ value: Int?, _ name: String, _ range: ClosedRange<Int>, _ unit: String) throws(PlatformError) {
            guard let value else { return }
            guard range.contains(value) else {
                throw PlatformError(.badRequest, "The \(name) limit \(value) \(unit) is out of range: it must be between \(range.lowerBound) and \(range.upperBound) \(unit).")
            }
        }
        try check(limits.timeout, "timeout", limitRanges.timeout, "milliseconds")
        try check(limits.memory, "memory", limitRanges.memory, "MB")
        try check(limits.logs, "logs", limitRanges.logs, "MB")
        try check(limits.concurrency, "concurrency", limitRanges.concurrency, "")
        return limits
    }

    /// The policy and capabilities an action's annotations grant (see docs/confidential.md):
    /// `invokers` (namespaces), `requireConfidential` and `signedReceipts` (booleans), `capabilities` (`clock`, `random`;
    /// without the annotation, ``Capabilities/default``).
    static func policy(from annotations: [KeyValue]) throws(PlatformError) -> (Policy, Capabilities) {
        var policy = Policy()
        var capabilities: Capabilities = .default
        if let invokers = annotations["invokers"] {
            guard case .array(let names) = invokers, let strings = Optional(names.compactMap(\.stringValue)), strings.count == names.count else {
                throw PlatformError(.badRequest, "The annotation invokers must be an array of namespace names.")
            }
            // The same rule as namespace names: an invoker that could not be a namespace (another
            // spelling of one, say) is refused rather than silently never matching.
            for invoker in strings where invoker != Policy.everyone { try EntityName.check(invoker, what: "invokers annotation's namespace") }
            policy.invokers = strings
        }
        if let required = annotations["requireConfidential"] {
            guard case .bool(let value) = required else {
                throw PlatformError(.badRequest, "The annotation requireConfidential must be true or false.")
            }
            policy.requireConfidential = value
        }
        if let signed = annotations["signedReceipts"] {
            guard case .bool(let value) = signed else {
                throw PlatformError(.badRequest, "The annotation signedReceipts must be true or false.")
            }
            policy.signedReceipts = value
        }
        if let granted = annotations["capabilities"] {
            guard case .array(let names) = granted else {
                throw PlatformError(.badRequest, "The annotation capabilities must be an array of \"clock\" and \"random\".")
            }
            capabilities = []  // the annotation lists all that is granted; absent, the enclave's default
            for name in names {
                switch name.stringValue {
                case "clock": capabilities.insert(.clock)
                case "random": capabilities.insert(.random)
                default: throw PlatformError(.badRequest, "The capability \(name.encodedString) is unknown: a function may be granted \"clock\" and \"random\".")
                }
            }
        }
        return (policy, capabilities)
    }

    /// The engine an action's `engine` annotation asks for (`"native"`, `"aot"` or
    /// `"interpreter"`); `nil` without the annotation, for the server's default.
    static func engine(from annotations: [KeyValue]) throws(PlatformError) -> ExecutionEngine? {
        guard let value = annotations["engine"] else { return nil }
        guard let name = value.stringValue, let engine = ExecutionEngine(annotation: name) else {
            throw PlatformError(.badRequest, "The annotation engine must be \"native\" (or \"aot\") or \"interpreter\".")
        }
        return engine
    }

    /// What the enclave needs to run an action.
    func definition(for action: Action, code: [UInt8]) -> FunctionDefinition {
        // Stored annotations were checked when they were stored; should one not parse, fail
        // closed: sealed invocations only, by the owner, with no capabilities.
        let (policy, capabilities) = (try? Self.policy(from: action.annotations)) ?? (Policy(requireConfidential: true), [])
        let limits = Limits(
            memory: (action.limits.memory ?? 256) << 20,
            timeout: .milliseconds(action.limits.timeout ?? 60_000),
            logs: (action.limits.logs ?? 10) << 20)
        return FunctionDefinition(
            name: FunctionName(namespace: action.namespace, name: action.name),
            module: code, main: action.exec.main ?? "main", limits: limits,
            capabilities: capabilities, policy: policy, maxSandboxes: min(action.limits.concurrency ?? 1, configuration.maxSandboxesPerAction),
            engine: (try? Self.engine(from: action.annotations)) ?? nil)
    }

    static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        Array(SHA256.hash(data: bytes))
    }
}
