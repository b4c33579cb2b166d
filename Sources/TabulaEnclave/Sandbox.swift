import Dispatch
import Synchronization
@_spi(Fuzzing) import WasmKit

/// One WebAssembly instance of one function, snapshotted after initialisation and rewound after
/// every invocation.
///
/// A sandbox runs one invocation at a time (its owner, ``FunctionHost``, guarantees that) and
/// belongs to exactly one function of one tenant. After every run, whatever its outcome, it is
/// back in the snapshot state: in place when that can be exact, otherwise by a rebuild from the
/// compiled module followed by a check that the rebuilt state equals the snapshot.
///
/// Package-visible so that tests can run one directly and compare its memory with the snapshot.
package final class Sandbox: @unchecked Sendable {
    /// Identifies the sandbox in invocation reports and receipts.
    let id: Int
    private let module: FunctionModule
    private let limits: Limits
    private let name: String
    private let engine: Engine
    private let wasi = WASIHost()
    private let limiter: MemoryLimiter
    /// The time initialisation may take, all its phases together (see ``build``).
    private let initializationTimeout: Duration

    private var store: Store
    private var instance: Instance
    private var entry: Function
    private var memory: Memory?
    private var globals: [Global]
    private(set) var snapshot: Snapshot
    /// What initialisation wrote to stderr, for the load report.
    private(set) var initializationLogs: [UInt8] = []
    /// Invocations served since the sandbox was created.
    private(set) var sequence: UInt64 = 0
    /// Set when a rebuild failed to reproduce the snapshot; the sandbox then refuses to run.
    private(set) var broken: EnclaveError?

    private let deadline: Deadline
    /// The pages written since the last rewind; `nil` when the memory cannot be tracked, and the
    /// rewind compares every page instead.
    private var pages: DirtyPages?
    /// How written pages are to be tracked, again after a rebuild.
    private let requestedTracking: Rewind.Tracking
    /// How many written pages rewinds may leave writable (see ``DirtyPages``).
    private let writableLimit: Int

    /// - Parameters:
    ///   - reusable: take the snapshot and track written pages, for rewinds; a sandbox used once
    ///     (the benchmarks' "vanilla" baseline) needs neither.
    ///   - tracking: how to track written pages; `nil` for the process's choice (tests name one to
    ///     exercise each mechanism in one process).
    ///   - writableLimit: how many written pages a rewind may leave writable, copying them back at
    ///     every rewind instead of protecting them again (tests set 0 to see every protection).
    ///   - deadlines: the enclave's deadlines, through which a shutdown ends this sandbox's runs.
    ///   - initializationTimeout: the server's bound on initialisation (start function,
    ///     `_initialize` and `wizer.initialize` together), beside the function's own timeout.
    package init(
        id: Int, module: FunctionModule, limits: Limits, name: String, reusable: Bool = true, tracking: Rewind.Tracking? = nil,
        writableLimit: Int = DirtyPages.defaultWritableLimit, deadlines: Deadlines? = nil,
        initializationTimeout: Duration = Enclave.defaultInitializationTimeout
    ) throws(EnclaveError) {
        self.id = id
        self.deadline = Deadline(group: deadlines)
        self.module = module
        self.limits = limits
        self.name = name
        self.limiter = MemoryLimiter(limit: limits.memory)
        self.initializationTimeout = initializationTimeout
        self.requestedTracking = tracking ?? DirtyPages.processTracking
        self.writableLimit = writableLimit
        // Fuel is metered only for a function with a fuel limit: the deadline does not need it.
        self.engine = Engine(configuration: EngineConfiguration(compilationMode: .eager, stackSize: limits.stack, fuelMetering: limits.fuel != nil))
        let built = try Self.build(module: module, engine: engine, wasi: wasi, limiter: limiter, limits: limits, name: name, deadline: deadline, initializationTimeout: initializationTimeout)
        (store, instance, entry, memory, globals) = built.instance
        initializationLogs = built.logs
        snapshot = reusable ? Self.snapshot(memory: memory, globals: globals) : Snapshot(memory: nil, globals: [])
        pages = reusable ? DirtyPages(memory: memory, engine: engine, tracking: requestedTracking, writableLimit: writableLimit) : nil
    }

    deinit {
        // Unprotect the memory while its mapping certainly exists, before the store goes.
        pages = nil
    }

    /// How rewinds find the pages written: by one of the trackers, or by comparing every page.
    package var tracking: Rewind.Tracking { pages?.tracking ?? .comparison }

    /// Whether memory and mutable globals equal the snapshot, byte for byte (for tests).
    package var matchesSnapshot: Bool { Self.matches(snapshot, memory: memory, globals: globals) }

    // MARK: Running an invocation

    /// The raw result of one run: how it ended and what it wrote.
    package struct Run {
        package var termination: Termination
        package var stdout: [UInt8]
        package var stderr: [UInt8]
        package var logsTruncated: Bool
        package var duration: Duration
        package var sequence: UInt64
        package var rewind: Rewind
    }

    /// Runs the entry point once on the snapshot state, then rewinds (unless `rewind` is false: a
    /// sandbox used once and dropped, as the "vanilla" baseline of the benchmarks does).
    package func run(input: [UInt8], environment: [(String, String)], capabilities: Capabilities, rewind rewinds: Bool = true) throws(EnclaveError) -> Run {
        if let broken { throw broken }
        sequence += 1
        wasi.capabilities = capabilities
        wasi.begin(stdin: input, arguments: [name], environment: environment, limits: limits)
        limiter.reset()
        let clock = ContinuousClock()
        let started = clock.now
        var poisoned = false
        var termination: Termination
        do {
            deadline.arm(store: store, timeout: limits.timeout, fuel: limits.fuel)
            let results = try entry.invoke()
            if case .i32(let status)? = results.first, status != 0 {
                termination = .exited(Int32(bitPattern: status))
            } else {
                termination = .returned
            }
        } catch let stop as WASIHost.Stop {
            switch stop {
            case .exit(0): termination = .returned
            case .exit(let status): termination = .exited(status)
            case .outputLimit: termination = .outputTooLarge
            }
        } catch is Deadline.Expired {
            termination = .timedOut
        } catch {
            termination = Self.classify(error, limiter: limiter)
            poisoned = !(error is Trap)
        }
        if deadline.expired { termination = .timedOut }
        if case .trapped(let reason) = termination, let refusal = wasi.refusal {
            termination = .trapped("\(reason) (after \(refusal.function) was refused: the function's policy does not grant the \(refusal.capability) capability; "
                + "grant it with \"\(refusal.capability)\" in the action's \"capabilities\" annotation (or leave the annotation out: by default both clock and random are granted), or run with tabula run --\(refusal.capability))")
        }
        let duration = clock.now - started
        let output = wasi.finish()
        let logsTruncated = wasi.stderrTruncated

        let rewindStarted = clock.now
        let tracking = self.tracking
        let kind = rewinds ? rewind(poisoned: poisoned) : .rebuilt(reason: "not rewound: the sandbox is used once")
        let rewind = Rewind(kind: kind, duration: clock.now - rewindStarted, tracking: tracking)
        return Run(termination: termination, stdout: output.stdout, stderr: output.stderr, logsTruncated: logsTruncated, duration: duration, sequence: sequence, rewind: rewind)
    }

    private static func classify(_ error: any Error, limiter: MemoryLimiter) -> Termination {
        if Termination.isOutOfFuel(error) { return .outOfFuel }
        if Termination.isStackExhausted(error) { return .stackExhausted }
        if limiter.refused { return .memoryExhausted }
        return .trapped(Termination.reason(of: error))
    }

    // MARK: Rewind

    /// Brings the sandbox back to the snapshot state.
    private func rewind(poisoned: Bool) -> Rewind.Kind {
        let currentSize = memory?.byteCount ?? 0
        let reason: String?
        if poisoned {
            reason = "the engine reported an error that is not a trap"
        } else if let fixed = module.rebuildReason {
            reason = fixed
        } else if currentSize != snapshot.memoryByteCount {
            reason = "memory grew from \(snapshot.memoryByteCount) to \(currentSize) bytes"
        } else {
            reason = nil
        }
        var failure: String?
        if reason == nil, let pages {
            if let restored = pages.restore(from: snapshot.contents) {
                restoreGlobals()
                return .inPlace(chunks: restored)
            }
            failure = "the written pages could not be listed or write-protected again"
        }
        guard let reason = reason ?? failure else {
            let restored = memory.map { memory in
                memory.withUnsafeMutableBufferPointer(offset: 0, count: memory.byteCount) { snapshot.rewind(memory: $0) }
            } ?? 0
            restoreGlobals()
            return .inPlace(chunks: restored)
        }
        do {
            try rebuild()
        } catch {
            broken = error
        }
        return .rebuilt(reason: reason)
    }

    /// Replaces the instance with a fresh one from the compiled module, re-runs the
    /// (deterministic) initialisation and checks that it reproduces the snapshot.
    private func rebuild() throws(EnclaveError) {
        pages = nil
        let built = try Self.build(module: module, engine: engine, wasi: wasi, limiter: limiter, limits: limits, name: name, deadline: deadline, initializationTimeout: initializationTimeout).instance
        guard Self.matches(snapshot, memory: built.memory, globals: built.globals) else {
            throw EnclaveError(.snapshotMismatch, "a rebuilt sandbox of \(name) did not reproduce its snapshot (initialisation is not deterministic); the sandbox is retired")
        }
        (store, instance, entry, memory, globals) = built
        pages = DirtyPages(memory: memory, engine: engine, tracking: requestedTracking, writableLimit: writableLimit)
    }

    /// Puts the mutable globals back as the snapshot holds them.
    private func restoreGlobals() {
        for (global, value) in zip(globals, snapshot.globals) where global.value != value {
            try? global.assign(value)
        }
    }

    private static func snapshot(memory: Memory?, globals: [Global]) -> Snapshot {
        guard let memory, memory.byteCount > 0 else { return Snapshot(memory: nil, globals: globals.map(\.value)) }
        return memory.withUnsafeBufferPointer(offset: 0, count: memory.byteCount) { Snapshot(memory: $0, globals: globals.map(\.value)) }
    }

    private static func matches(_ snapshot: Snapshot, memory: Memory?, globals: [Global]) -> Bool {
        guard let memory, memory.byteCount > 0 else { return snapshot.matches(memory: nil, globals: globals.map(\.value)) }
        return memory.withUnsafeBufferPointer(offset: 0, count: memory.byteCount) { snapshot.matches(memory: $0, globals: globals.map(\.value)) }
    }

    // MARK: Building

    private typealias Built = (store: Store, instance: Instance, entry: Function, memory: Memory?, globals: [Global])

    /// A new instance, initialised: instantiation (which runs the module's start function), then
    /// `_initialize` and `wizer.initialize` when exported. Returns the instance and what
    /// initialisation wrote to stderr.
    ///
    /// All of it runs like an invocation, under the function's fuel, memory limit and deadline
    /// (a start function that loops forever is refused with a timeout, not left running), but
    /// with no input, clock or randomness, so that running it again on a fresh instance gives the
    /// same state. The phases share one time budget: the function's timeout, at most
    /// `initializationTimeout`, so that no module holds a loader thread for longer whatever its
    /// timeout (up to 300 s each for three phases, before).
    private static func build(
        module: FunctionModule, engine: Engine, wasi: WASIHost, limiter: MemoryLimiter, limits: Limits, name: String, deadline: Deadline,
        initializationTimeout: Duration
    ) throws(EnclaveError) -> (instance: Built, logs: [UInt8]) {
        let budget = InitializationBudget(limits: limits, cap: initializationTimeout)
        wasi.capabilities = []
        wasi.memory = nil
        wasi.begin(stdin: [], arguments: [name], environment: [], limits: limits)
        defer { _ = wasi.finish() }
        limiter.reset()
        limiter.beginInstance(tables: module.tableCount)
        let built = try instantiate(module: module, engine: engine, wasi: wasi, limiter: limiter, limits: limits, deadline: deadline, budget: budget)
        wasi.memory = built.memory.map(GuestMemory.wasmKit)
        var initializers: [String] = []
        if module.exportsInitialize { initializers.append("_initialize") }
        if module.exportsWizerInitialize { initializers.append("wizer.initialize") }
        for initializer in initializers {
            guard let function = built.instance.exports[function: initializer] else { continue }
            do {
                deadline.arm(store: built.store, timeout: budget.remaining, fuel: limits.fuel)
                _ = try function.invoke()
            } catch WASIHost.Stop.exit(0) {
                continue
            } catch {
                throw EnclaveError(.initializationFailed, "\(initializer) failed: \(initializationFailure(error, wasi: wasi, limiter: limiter, limits: limits, deadline: deadline, budget: budget))")
            }
        }
        return (built, wasi.stderr)
    }

    private static func instantiate(
        module: FunctionModule, engine: Engine, wasi: WASIHost, limiter: MemoryLimiter, limits: Limits, deadline: Deadline, budget: InitializationBudget
    ) throws(EnclaveError) -> Built {
        let store = Store(engine: engine)
        store.resourceLimiter = limiter
        let instance: Instance
        do {
            var imports = wasi.imports(module.wasiImports, store: store)
            deadline.define(in: &imports, store: store)
            deadline.arm(store: store, timeout: budget.remaining, fuel: limits.fuel)
            instance = try module.module.instantiate(store: store, imports: imports)
        } catch {
            if module.hasStartFunction, error is Trap || error is WASIHost.Stop || error is Deadline.Expired {
                throw EnclaveError(.initializationFailed, "the start function failed: \(initializationFailure(error, wasi: wasi, limiter: limiter, limits: limits, deadline: deadline, budget: budget))")
            }
            throw EnclaveError(.invalidModule, "the module cannot be instantiated: \(Termination.reason(of: error))")
        }
        guard let entry = instance.exports[function: module.entry] else {
            throw EnclaveError(.invalidEntryPoint, "the export \"\(module.entry)\" is not a function")
        }
        guard entry.type.parameters.isEmpty, entry.type.results == [] || entry.type.results == [.i32] else {
            throw EnclaveError(.invalidEntryPoint, "the entry \"\(module.entry)\" must take no parameters and return nothing or an i32 status; it has type \(entry.type)")
        }
        let memory = module.memoryExport.flatMap { instance.exports[memory: $0] }
        let globals = module.mutableGlobalExports.compactMap { instance.exports[global: $0] }
        return (store, instance, entry, memory, globals)
    }

    /// Why initialisation failed, in the words an invocation's outcome would use.
    private static func initializationFailure(
        _ error: any Error, wasi: WASIHost, limiter: MemoryLimiter, limits: Limits, deadline: Deadline, budget: InitializationBudget
    ) -> String {
        let termination: Termination
        switch error {
        case WASIHost.Stop.exit(let status): termination = .exited(status)
        case WASIHost.Stop.outputLimit: termination = .outputTooLarge
        default: termination = deadline.expired ? .timedOut : classify(error, limiter: limiter)
        }
        var reason: String
        switch termination {
        case .timedOut: reason = budget.capped
            ? "it exceeded the server's initialisation time limit of \(budget.total.milliseconds) ms (start function, _initialize and wizer.initialize together)"
            : "it exceeded the time limit of \(limits.timeoutMilliseconds) ms"
        case .outOfFuel: reason = "it ran out of fuel (its limit is \(limits.fuel ?? 0) units)"
        case .stackExhausted: reason = "it exhausted its call stack (\(limits.stack >> 10) KiB)"
        case .memoryExhausted: reason = "it exhausted its memory (\(FunctionModule.mebibytes(UInt64(limits.memory))))"
        case .outputTooLarge: reason = "it wrote more than \(limits.output) bytes to stdout"
        case .exited(let status): reason = "it exited with status \(status)"
        case .trapped(let trap): reason = trap
        case .workerStopped(let stopped): reason = stopped
        case .returned: reason = "it failed"
        }
        if let refusal = wasi.refusal {
            reason += " (after \(refusal.function) was refused: clocks and randomness are not available during initialisation, whatever the policy, so that nothing time- or random-dependent is frozen into the snapshot; use them from the entry point instead)"
        }
        return reason
    }
}

/// The time initialisation may still take: one budget for all its phases.
package struct InitializationBudget {
    /// The function's timeout, or the server's cap when that is shorter.
    package let total: Duration
    /// Whether the server's cap, not the function's timeout, set the total.
    package let capped: Bool
    private let clock = ContinuousClock()
    private let started: ContinuousClock.Instant

    package init(limits: Limits, cap: Duration) {
        total = min(limits.timeout, cap)
        capped = cap < limits.timeout
        started = clock.now
    }

    /// What is left of the total; zero once spent, so that a later phase ends at once.
    package var remaining: Duration { max(.zero, total - (clock.now - started)) }
}

/// The rewind that followed an invocation.
public struct Rewind: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        /// Memory and globals were restored in place; `chunks` 4 KiB chunks were copied back.
        case inPlace(chunks: Int)
        /// The instance was rebuilt from the compiled module, for the given reason.
        case rebuilt(reason: String)
    }

    /// How the rewind found the pages written.
    public enum Tracking: String, Sendable, Hashable, CaseIterable {
        /// userfaultfd's asynchronous write protection, read back with PAGEMAP_SCAN (Linux 6.7+).
        case userfaultfd
        /// Write protection by `mprotect`, first writes caught by a SIGSEGV handler.
        case signals
        /// No tracking: every page was compared with the snapshot.
        case comparison
    }

    public var kind: Kind
    public var duration: Duration
    /// How the sandbox tracked the pages written (by one of the write-protection mechanisms, so
    /// that the rewind touched only those, or not at all).
    public var tracking: Tracking

    /// Whether the sandbox tracked the pages written, so that the rewind touched only those;
    /// otherwise it compared every page with the snapshot.
    public var tracked: Bool { tracking != .comparison }
}

/// Refuses memory and table growth past the function's limits, and remembers when it refused
/// memory.
///
/// Tables count toward the memory limit (``tableElementBytes`` per element, what WasmKit
/// allocates), and all the tables of an instance together hold at most
/// ``ModuleBounds/maxTotalTableElements``: a bound per table alone let a hundred tables take
/// hundreds of MiB beside the memory.
final class MemoryLimiter: ResourceLimiter {
    let limit: Int
    private let refusedFlag = Atomic<Bool>(false)
    private let usage = Mutex(Usage())

    /// Bytes of one table element in WasmKit (a pointer-sized reference).
    static let tableElementBytes = MemoryLayout<Int>.stride

    /// What the instance being built or run holds.
    private struct Usage {
        var memoryBytes = 0
        /// Each table's size, as far as the limiter knows: WasmKit names only the size asked
        /// for, not the table, so a growth is charged to the smallest table it could be (the
        /// table-grown's old size being unknown), which never counts less than the truth.
        var tableSizes: [Int] = []
        /// Tables instantiation has yet to create: the first calls are those.
        var tablesToCreate = 0

        var tableElements: Int { tableSizes.reduce(0, +) }
    }

    init(limit: Int) { self.limit = limit }

    var refused: Bool { refusedFlag.load(ordering: .relaxed) }
    func reset() { refusedFlag.store(false, ordering: .relaxed) }

    /// Starts the accounting of a new instance, which defines `tables` tables.
    func beginInstance(tables: Int) {
        usage.withLock { $0 = Usage(tablesToCreate: tables) }
    }

    func limitMemoryGrowth(to desired: Int) throws -> Bool {
        let allowed = usage.withLock { usage in
            let tableBytes = usage.tableElements * Self.tableElementBytes
            guard desired <= limit - tableBytes else { return false }
            usage.memoryBytes = desired
            return true
        }
        if !allowed { refusedFlag.store(true, ordering: .relaxed) }
        return allowed
    }

    func limitTableGrowth(to desired: Int) throws -> Bool {
        usage.withLock { usage in
            guard desired <= ModuleBounds.maxTableElements else { return false }
            var sizes = usage.tableSizes
            var creating = false
            if usage.tablesToCreate > 0 {
                creating = true
                sizes.append(desired)
            } else if let smallest = sizes.indices.filter({ sizes[$0] <= desired }).min(by: { sizes[$0] < sizes[$1] }) {
                sizes[smallest] = desired
            } else {
                sizes.append(desired)
            }
            let elements = sizes.reduce(0, +)
            guard elements <= ModuleBounds.maxTotalTableElements,
                elements * Self.tableElementBytes <= limit - usage.memoryBytes
            else { return false }
            usage.tableSizes = sizes
            if creating { usage.tablesToCreate -= 1 }
            return true
        }
    }
}
