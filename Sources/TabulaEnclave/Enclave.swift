import Foundation
import NIOCore
import Synchronization
import TabulaAttestation
public import TabulaWire

/// One warm enclave hosting many functions of many tenants.
///
/// Each function has its own sandboxes (up to ``FunctionDefinition/maxSandboxes``); a sandbox
/// serves one invocation at a time and is rewound after each. Invocations run on the enclave's own
/// thread pool, never on the caller's thread or an event loop, so invocations of different
/// functions run in parallel. Loads (compiling, instantiating and initialising a function, and
/// every new sandbox) run on a second, smaller pool, so that slow deploys and cold starts never
/// take the threads of warm invocations. Call ``shutdown()`` when done.
public final class Enclave: Sendable {
    private let executor: EnclaveExecutor
    /// The threads that load functions and build sandboxes.
    private let loader: EnclaveExecutor
    /// The deadlines of every sandbox, for ``endRuns()``.
    private let deadlines = Deadlines()
    /// Invocations and loads in progress, and who waits for them to end (``shutdown()``).
    private let activity = Mutex(Activity())
    /// The holder of the enclave's keys and attestation; `nil` for an enclave that only runs
    /// plain invocations (such as `tabula run`).
    public let monitor: Monitor?
    /// Where the tenant secrets functions may read come from (a key broker); `nil` for none.
    let secrets: (any SecretSource)?
    private let functions = Mutex(Functions())
    /// The time a function's initialisation may take, all phases together, whatever its timeout.
    public let initializationTimeout: Duration
    /// Where tenants' WebAssembly runs.
    public let isolation: Isolation
    /// The engines functions can run with, and the default of those that name none.
    public let engines: Engines
    /// The workers of each namespace, with ``Isolation/workers(executable:memoryOverhead:perNamespace:)``.
    private let namespaceWorkers: NamespaceWorkers?
    /// The default of ``initializationTimeout``.
    public static let defaultInitializationTimeout: Duration = .seconds(10)
    /// Sandbox ids are unique in the process, across enclaves.
    private static let sandboxIDs = Atomic<Int>(1)

    /// - Parameters:
    ///   - threads: how many invocations may run at once across all functions; by default
    ///   one per core.
    ///   - loadThreads: how many loads (and new sandboxes) may run at once, beside the
    ///   invocations; by default half as many as `threads`, at least one.
    ///   - monitor: the enclave's monitor, for confidential invocations and certificates.
    ///   - initializationTimeout: how long a function's initialisation (its start function,
    ///     `_initialize` and `wizer.initialize`, together) may take, at most, whatever the
    ///     function's own timeout: loads run on few threads, and one module must not hold them.
    ///   - isolation: where tenants' WebAssembly runs: in this process, or in confined workers.
    ///   - engines: the engines functions may run with (``Engines/detect(cacheDirectory:cacheKey:childExecutable:)``
    ///     for the native engine); by default the interpreter only.
    public init(
        threads: Int? = nil, loadThreads: Int? = nil, monitor: Monitor? = nil, initializationTimeout: Duration = Enclave.defaultInitializationTimeout,
        isolation: Isolation = .inProcess, engines: Engines = .interpreterOnly, secrets: (any SecretSource)? = nil
    ) {
        self.engines = engines
        self.secrets = secrets
        // The monitor's certificates state how tenant code runs; they must never claim workers
        // for an enclave that runs it in process.
        if let claimed = monitor?.runtime.isolation {
            precondition(
                claimed == RuntimeClaims.inProcess || claimed == isolation.runtimeClaims.isolation,
                "the monitor states an isolation the enclave does not have; start both with the same Isolation")
        }
        self.monitor = monitor
        self.initializationTimeout = initializationTimeout
        self.isolation = isolation
        if case .workers(_, _, let perNamespace) = isolation {
            namespaceWorkers = NamespaceWorkers(limit: max(1, perNamespace))
        } else {
            namespaceWorkers = nil
        }
        let threads = max(1, threads ?? System.coreCount)
        executor = EnclaveExecutor(threads: threads, name: "tabula-enclave")
        loader = EnclaveExecutor(threads: max(1, loadThreads ?? threads / 2), name: "tabula-loader")
    }

    /// Ends every run in progress now, as if its deadline had passed (each reports a timeout),
    /// makes every run that starts later end at once, and refuses new work: for a shutdown whose
    /// grace period is over. Initialisations in progress fail the same way.
    public func endRuns() {
        activity.withLock { $0.closed = true }
        deadlines.endAll()
    }

    /// Refuses new work, waits for the invocations still running, then stops the threads.
    public func shutdown() async throws {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let idle = activity.withLock { activity in
                activity.closed = true
                if activity.inProgress == 0 { return true }
                activity.waiters.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
        executor.shutdown()
        loader.shutdown()
    }

    /// The executor whose threads run sandboxes: a task that prefers it runs invocations inline.
    package var taskExecutor: any TaskExecutor { executor }

    /// The functions installed, and the loads in progress that may still install theirs.
    private struct Functions: ~Copyable {
        var hosts: [FunctionName: FunctionHost] = [:]
        /// The ticket of the latest load of each name still in progress. A load installs only
        /// while its ticket is the one here: a later load or an unload takes the place, so a slow
        /// load of an older version finishing last never replaces what came after it.
        var pending: [FunctionName: UInt64] = [:]
        var nextTicket: UInt64 = 0
    }

    private struct Activity: ~Copyable {
        var inProgress = 0
        var closed = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    /// Runs blocking work (compiling, instantiating, running a sandbox) on the enclave's threads:
    /// inline when the calling task already runs there.
    ///
    /// - Parameter loading: a load or a new sandbox, which runs on the loader's threads.
    func onEnclaveThread<T: Sendable>(loading: Bool = false, _ work: @Sendable () throws -> T) async throws -> T {
        let open = activity.withLock { activity in
            if activity.closed { return false }
            activity.inProgress += 1
            return true
        }
        guard open else { throw EnclaveError(.shuttingDown, "the enclave is shutting down") }
        defer {
            let waiters = activity.withLock { activity -> [CheckedContinuation<Void, Never>] in
                activity.inProgress -= 1
                guard activity.inProgress == 0 else { return [] }
                defer { activity.waiters.removeAll() }
                return activity.waiters
            }
            for waiter in waiters { waiter.resume() }
        }
        return try await withTaskExecutorPreference(loading ? loader : executor) { try work() }
    }

    /// Loads (or replaces) a function: checks and compiles the module, builds its first sandbox,
    /// runs initialisation and takes the snapshot.
    ///
    /// - Throws: ``EnclaveError`` with code ``EnclaveError/Code/superseded`` when another load or
    ///   an unload of the same name came after this one started: the newer state stays.
    @discardableResult
    public func load(_ definition: FunctionDefinition) async throws -> FunctionInfo {
        try install(try await prepareLoad(definition))
    }

    /// A function loaded but not yet installed; see ``prepareLoad(_:)``.
    package struct PreparedLoad: Sendable {
        fileprivate let host: FunctionHost
        fileprivate let ticket: UInt64
        package let info: FunctionInfo
    }

    /// The first half of ``load(_:)``: takes the function's place in line, then loads it without
    /// installing it. Separate so that tests can order loads and installs deterministically.
    package func prepareLoad(_ definition: FunctionDefinition) async throws -> PreparedLoad {
        let name = definition.name
        let ticket = functions.withLock { functions in
            functions.nextTicket += 1
            functions.pending[name] = functions.nextTicket
            return functions.nextTicket
        }
        do {
            let (host, info) = try await prepare(definition)
            return PreparedLoad(host: host, ticket: ticket, info: info)
        } catch {
            functions.withLock { functions in
                if functions.pending[name] == ticket { functions.pending[name] = nil }
            }
            throw error
        }
    }

    /// The second half of ``load(_:)``: installs the function unless a later load or an unload
    /// of its name came after ``prepareLoad(_:)`` started.
    package func install(_ prepared: PreparedLoad) throws(EnclaveError) -> FunctionInfo {
        let name = prepared.info.name
        let installed = functions.withLock { functions in
            guard functions.pending[name] == prepared.ticket else { return false }
            functions.pending[name] = nil
            functions.hosts[name] = prepared.host
            return true
        }
        guard installed else {
            throw EnclaveError(.superseded, "\(name) was loaded again or unloaded while this version loaded, so this version was not installed; invoke it again")
        }
        return prepared.info
    }

    /// Checks that a function would load (module, imports, entry, initialisation) without keeping
    /// it: what a deploy does before it acknowledges the function.
    public func validate(_ definition: FunctionDefinition) async throws -> FunctionInfo {
        try await prepare(definition).1
    }

    private func prepare(_ definition: FunctionDefinition) async throws -> (FunctionHost, FunctionInfo) {
        try definition.limits.validate()
        guard definition.maxSandboxes >= 1 else {
            throw EnclaveError(.invalidConfiguration, "a function needs at least one sandbox")
        }
        let id = Self.sandboxIDs.add(1, ordering: .relaxed).oldValue
        return try await onEnclaveThread(loading: true) { () throws -> (FunctionHost, FunctionInfo) in
            let clock = ContinuousClock()
            let started = clock.now
            switch isolation {
            case .inProcess:
                let module = try FunctionModule(bytes: definition.module, main: definition.main, memoryLimit: definition.limits.memory)
                let choice = try engines.choose(definition.engine, for: NativeCompiler.Request(
                    bytes: definition.module, main: definition.main, memoryLimit: definition.limits.memory, module: module))
                let image = try choice.code.map { code throws(EnclaveError) in try NativeImage(code: code) }
                let (sandbox, logs) = try makeLocal(id: id, definition: definition, module: module, image: image)
                var info = FunctionInfo(
                    name: definition.name, kind: module.kind.rawValue, entry: module.entry,
                    moduleDigest: module.digest, snapshotDigest: sandbox.snapshotDigest,
                    initTime: clock.now - started,
                    initializationLogs: Invocation.logLines(logs, truncated: false, limit: 0),
                    rebuildReason: module.rebuildReason)
                info.record(choice)
                return (FunctionHost(definition: definition, module: module, moduleDigest: module.digest, first: sandbox, engine: choice.engine, nativeCode: choice.code, nativeImage: image), info)
            case .workers:
                // The module is parsed only in workers (and, for the native engine, in a compiler
                // process): hostile bytes never reach a parser in the process that holds the keys.
                let choice = try engines.choose(definition.engine, for: NativeCompiler.Request(
                    bytes: definition.module, main: definition.main, memoryLimit: definition.limits.memory, module: nil))
                let sandbox = try makeWorker(id: id, definition: definition, native: choice.code)
                let load = sandbox.load
                var info = FunctionInfo(
                    name: definition.name, kind: load.kind.rawValue, entry: load.entry,
                    moduleDigest: load.moduleDigest, snapshotDigest: load.snapshotDigest,
                    initTime: clock.now - started,
                    initializationLogs: Invocation.logLines(load.initializationLogs, truncated: false, limit: 0),
                    rebuildReason: load.rebuildReason)
                info.record(choice)
                return (FunctionHost(definition: definition, module: nil, moduleDigest: load.moduleDigest, first: sandbox, engine: choice.engine, nativeCode: choice.code), info)
            }
        }
    }

    /// A new instance in this process: a native sandbox when the function has native code, else
    /// an interpreter's; with what its initialisation logged.
    private func makeLocal(id: Int, definition: FunctionDefinition, module: FunctionModule, image: NativeImage?) throws(EnclaveError) -> (any FunctionInstance, [UInt8]) {
        if let image {
            let sandbox = try NativeSandbox(id: id, module: module, image: image, limits: definition.limits, name: definition.name.description, deadlines: deadlines, initializationTimeout: initializationTimeout)
            return (sandbox, sandbox.initializationLogs)
        }
        let sandbox = try Sandbox(id: id, module: module, limits: definition.limits, name: definition.name.description, deadlines: deadlines, initializationTimeout: initializationTimeout)
        return (sandbox, sandbox.initializationLogs)
    }

    /// A new instance of a function, of the kind ``isolation`` and its engine ask for.
    private func makeInstance(id: Int, host: FunctionHost) throws(EnclaveError) -> any FunctionInstance {
        let definition = host.definition
        switch isolation {
        case .inProcess:
            let parsed: FunctionModule
            if let module = host.module { parsed = module } else { parsed = try FunctionModule(bytes: definition.module, main: definition.main, memoryLimit: definition.limits.memory) }
            return try makeLocal(id: id, definition: definition, module: parsed, image: host.nativeImage).0
        case .workers:
            return try makeWorker(id: id, definition: definition, native: host.nativeCode)
        }
    }

    /// A new worker for a function, within its namespace's cap: when the namespace has as many
    /// workers as it may, an idle one of another of its functions is stopped to make room.
    private func makeWorker(id: Int, definition: FunctionDefinition, native: NativeCode?) throws(EnclaveError) -> WorkerSandbox {
        guard case .workers(let executable, let memoryOverhead, _) = isolation, let quota = namespaceWorkers else {
            preconditionFailure("workers are made only with worker isolation")
        }
        let name = definition.name
        var reserved = quota.reserve(name.namespace)
        if !reserved {
            let others = functions.withLock { functions in
                functions.hosts.filter { $0.key.namespace == name.namespace && $0.key != name }.map(\.value)
            }
            for host in others where host.evictIdle() {
                reserved = quota.reserve(name.namespace)
                if reserved { break }
            }
        }
        guard reserved else {
            throw EnclaveError(.limitExceeded, "the namespace \(name.namespace) already runs \(quota.limit) workers, the most one namespace may have (tabula serve --workers-per-namespace), and none of them is idle; invoke again when some of its invocations have finished")
        }
        return try WorkerSandbox(
            id: id, definition: definition, native: native, executable: executable, memoryOverhead: memoryOverhead, initializationTimeout: initializationTimeout,
            deadlines: deadlines, quota: quota)
    }

    /// Removes a function; its sandboxes go away when their invocations in progress finish.
    /// A load of the name still in progress will not install its function.
    public func unload(_ name: FunctionName) {
        functions.withLock { functions in
            functions.hosts[name] = nil
            functions.pending[name] = nil
        }
    }

    /// The engine that runs a loaded function; `nil` when it is not loaded.
    public func engine(of name: FunctionName) -> ExecutionEngine? {
        functions.withLock { $0.hosts[name]?.engine }
    }

    /// The functions loaded, in no particular order.
    public var loadedFunctions: [FunctionName] {
        functions.withLock { Array($0.hosts.keys) }
    }

    /// Runs one invocation of a function on its snapshot state.
    ///
    /// - Parameters:
    ///   - parameters: a JSON object, handed to the function on stdin.
    ///   - activationID: the OpenWhisk activation id (32 hex digits); a new one when `nil`.
    ///   - caller: the namespace invoking, checked against the function's policy; `nil` skips the
    ///     check (a local run).
    ///   - revision: the ``FunctionDefinition/revision`` that must serve the invocation; `nil`
    ///     for whichever is loaded.
    ///   - environment: more WASI environment variables for this invocation only, after the
    ///     enclave's own `__OW_*` ones; a name given here replaces the enclave's value (the
    ///     OpenWhisk action runtime passes the activation's `__OW_*` fields this way). Like the
    ///     parameters, the WASI host wipes them when the run ends, and the rewind erases any copy
    ///     the function made: they never reach the snapshot.
    /// - Throws: ``EnclaveError`` when the function (or that revision of it) is not loaded, the
    ///   parameters are refused, or the policy forbids the invocation (it requires sealed
    ///   requests, or another caller). What the function itself does wrong is reported in the
    ///   returned response.
    public func invoke(
        _ name: FunctionName, revision: String? = nil, parameters: JSONValue, activationID: String? = nil, caller: String? = nil,
        environment: [(String, String)] = []
    ) async throws -> Invocation {
        let host = try host(name, revision: revision)
        if let refusal = host.definition.policy.refusal(caller: caller ?? name.namespace, owner: name.namespace, sealed: false) {
            let code: EnclaveError.Code = refusal == .confidentialRequired ? .confidentialRequired : .notPermitted
            throw EnclaveError(code, refusal.message(caller: caller ?? name.namespace, function: name))
        }
        guard case .object = parameters else {
            throw EnclaveError(.invalidConfiguration, "the parameters must be a JSON object")
        }
        return try await execute(host, input: WipedBytes(parameters.encoded), activationID: activationID ?? ActivationID.random(), environment: environment)
    }

    /// Runs one invocation in a sandbox made for it from the compiled module (instantiated and
    /// initialised anew) and then dropped: the "vanilla" baseline that reuse is measured against.
    package func invokeFresh(_ name: FunctionName, parameters: JSONValue) async throws -> Invocation {
        try await execute(try host(name), input: WipedBytes(parameters.encoded), activationID: ActivationID.random(), fresh: true)
    }

    /// The function loaded as `name`; when `revision` is given, only if it is that revision, so
    /// that what runs (module, policy, limits) is exactly the version the caller checked out.
    func host(_ name: FunctionName, revision: String? = nil) throws(EnclaveError) -> FunctionHost {
        guard let host = functions.withLock({ $0.hosts[name] }) else {
            throw EnclaveError(.unknownFunction, "no function \(name) is loaded")
        }
        if let revision, host.definition.revision != revision {
            throw EnclaveError(.unknownFunction, "the version of \(name) asked for is not the one loaded (it was replaced); invoke it again")
        }
        return host
    }

    /// Runs one invocation on a sandbox of `host`, with the parameters already encoded.
    ///
    /// - Parameters:
    ///   - fresh: run in a sandbox made for this invocation and dropped after it, instead of a
    ///     reused one (the benchmarks' baseline).
    ///   - sealed: whether the request came sealed, so that the result and logs leave sealed too:
    ///     only such invocations are given tenant secrets (a plain invocation's result and logs
    ///     are stored as they are).
    ///   - environment: the caller's variables, replacing the enclave's of the same name
    ///     (``invoke(_:revision:parameters:activationID:caller:environment:)``).
    func execute(
        _ host: FunctionHost, input: WipedBytes, activationID: String, fresh: Bool = false, sealed: Bool = false,
        environment extra: [(String, String)] = []
    ) async throws -> Invocation {
        let name = host.definition.name
        let limits = host.definition.limits
        guard input.bytes.count <= limits.input else {
            throw EnclaveError(.limitExceeded, "the parameters are \(input.bytes.count) bytes; the limit is \(limits.input) bytes")
        }
        let deadlineMilliseconds = Int64(Date().timeIntervalSince1970 * 1000) + limits.timeoutMilliseconds
        var owEnvironment = [
            ("__OW_ACTIVATION_ID", activationID),
            ("__OW_ACTION_NAME", name.description),
            ("__OW_NAMESPACE", name.namespace),
            ("__OW_DEADLINE", String(deadlineMilliseconds)),
        ]
        if !extra.isEmpty {
            // One value per name: libc's getenv takes the first, other languages the last.
            let names = Set(extra.map(\.0))
            owEnvironment.removeAll { names.contains($0.0) }
            owEnvironment += extra
        }
        if let secrets, sealed, !fresh {
            // Given per invocation, like the parameters: the WASI host wipes its copy when the
            // run ends, and the rewind erases whatever the function copied into its memory.
            owEnvironment += try await secrets.environment(namespace: name.namespace, action: name.name, moduleDigest: host.moduleDigest)
        }
        let environment = owEnvironment
        @Sendable func invocation(_ run: Sandbox.Run, in sandbox: any FunctionInstance) -> Invocation {
            Invocation(
                activationID: activationID,
                response: Invocation.response(for: run, limits: limits),
                logs: Invocation.logLines(run.stderr, truncated: run.logsTruncated, limit: limits.logs),
                duration: run.duration, sandbox: sandbox.id, sequence: run.sequence, rewind: run.rewind,
                snapshotDigest: sandbox.snapshotDigest, engine: fresh ? .interpreter : host.engine)
        }
        if fresh {
            return try await onEnclaveThread {
                // The baseline runs in this process whatever the isolation: it measures the engine.
                let module = try host.module ?? FunctionModule(bytes: host.definition.module, main: host.definition.main, memoryLimit: limits.memory)
                let sandbox = try Sandbox(id: Self.sandboxIDs.add(1, ordering: .relaxed).oldValue, module: module, limits: limits, name: name.description, reusable: false, deadlines: deadlines, initializationTimeout: initializationTimeout)
                return invocation(try sandbox.run(input: input.bytes, environment: environment, capabilities: host.definition.capabilities, rewind: false), in: sandbox)
            }
        }
        let sandbox = try await host.acquire(on: self) { () throws(EnclaveError) in
            try self.makeInstance(id: Self.sandboxIDs.add(1, ordering: .relaxed).oldValue, host: host)
        }
        defer { host.release(sandbox) }
        let run = try await onEnclaveThread {
            try sandbox.serve(input: input.bytes, environment: environment, capabilities: host.definition.capabilities)
        }
        return invocation(run, in: sandbox)
    }
}

/// Plaintext bytes that are overwritten with zeros when the last reference goes away.
final class WipedBytes: @unchecked Sendable {
    var bytes: [UInt8]

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    deinit { bytes.wipe() }
}
