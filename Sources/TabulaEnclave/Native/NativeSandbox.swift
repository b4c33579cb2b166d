import CNativeRuntime
import Dispatch
import WasmKit
import WasmParser

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One instance of a function compiled ahead of time, snapshotted after initialisation and rewound
/// after every invocation: the native engine's counterpart of ``Sandbox``.
///
/// The instance's state lives in memory this class owns: a linear memory reserved at its largest
/// size up front (so that its address never changes and growth only moves `memory_size`), one
/// 64-bit slot per global, the tables and the drop flags. The code is shared (``NativeImage``).
/// Rewinds work as the interpreter's do: written pages tracked by ``DirtyPages`` and copied back
/// from the ``Snapshot``, mutable globals put back; anything else (growth, a module that changes
/// tables or drops segments) rebuilds the state from the module and checks it against the snapshot.
///
/// Deadlines and fuel come from the instrumentation every module gets (``DeadlineChecks``): the
/// code calls the `tabula.poll` import when its countdown runs out, and the poll ends the run at
/// the deadline or, when the function has a fuel limit, once the units counted since the run
/// began exceed it. Fuel is counted in the instrumentation's units, deterministic for a given
/// module and input (not WasmKit's per-instruction count).
package final class NativeSandbox: @unchecked Sendable {
    let id: Int
    private let module: FunctionModule
    private let image: NativeImage
    private let limits: Limits
    private let name: String
    private let wasi = WASIHost()
    private let limiter: MemoryLimiter
    private let deadline: Deadline
    private let initializationTimeout: Duration
    private let requestedTracking: Rewind.Tracking
    private let writableLimit: Int

    private let context: UnsafeMutablePointer<tabula_context>
    /// The reserved linear memory: `reserved` bytes, of which `context.memory_size` are in use.
    private let memoryBase: UnsafeMutableRawPointer?
    private let reserved: Int
    private let globals: UnsafeMutableBufferPointer<UInt64>
    private let tables: UnsafeMutableBufferPointer<tabula_table>
    private let dropped: UnsafeMutableBufferPointer<UInt8>
    /// The WASI handler of each import, by function index (the poll has none).
    private let handlers: [WASIHost.Handler?]
    private let parameterCounts: [Int]

    private(set) var snapshot: Snapshot
    private(set) var initializationLogs: [UInt8] = []
    private(set) var sequence: UInt64 = 0
    private(set) var broken: EnclaveError?
    private var pages: DirtyPages?

    /// Why the host ended the run (exit, output limit, deadline, fuel), kept across the jump.
    private var stop: (any Error)?
    /// The fuel left for this run, and the countdown given at the last poll; `nil` without a limit.
    private var fuelLeft: Int64?
    private var granted: Int64 = 0

    package convenience init(
        id: Int, module: FunctionModule, image: NativeImage, limits: Limits, name: String, tracking: Rewind.Tracking? = nil,
        writableLimit: Int = DirtyPages.defaultWritableLimit, deadlines: Deadlines? = nil,
        initializationTimeout: Duration = Enclave.defaultInitializationTimeout
    ) throws(EnclaveError) {
        try self.init(
            id: id, module: module, image: image, limits: limits, name: name, tracking: tracking, writableLimit: writableLimit,
            deadlines: deadlines, initializationTimeout: initializationTimeout, checkingEntry: true)
    }

    /// An instance for tests that call its exports one by one (``call(_:_:)``), as the
    /// WebAssembly specification's scripts do: the module's entry is not checked, since a script's
    /// module has none (``FunctionModule`` still wants one of its exports named as `main`).
    package convenience init(testing module: FunctionModule, image: NativeImage, limits: Limits) throws(EnclaveError) {
        try self.init(
            id: 0, module: module, image: image, limits: limits, name: "test", tracking: nil, writableLimit: DirtyPages.defaultWritableLimit,
            deadlines: nil, initializationTimeout: Enclave.defaultInitializationTimeout, checkingEntry: false)
    }

    private init(
        id: Int, module: FunctionModule, image: NativeImage, limits: Limits, name: String, tracking: Rewind.Tracking?,
        writableLimit: Int, deadlines: Deadlines?, initializationTimeout: Duration, checkingEntry: Bool
    ) throws(EnclaveError) {
        self.id = id
        self.module = module
        self.image = image
        self.limits = limits
        self.name = name
        self.limiter = MemoryLimiter(limit: limits.memory)
        self.deadline = Deadline(group: deadlines)
        self.initializationTimeout = initializationTimeout
        self.requestedTracking = tracking ?? DirtyPages.processTracking
        self.writableLimit = writableLimit

        let descriptor = image.module.pointee
        // The image must be this module's: its globals, imports and entry are indexed with the
        // module's numbers (a cache or a parent that handed over another module's code is refused).
        guard Int(descriptor.global_count) == module.countdownGlobal + 3, Int(descriptor.import_count) == module.pollFunction + 1,
              module.entryFunction.map({ $0 < descriptor.function_count }) ?? true,
              module.mutableGlobals.allSatisfy({ $0.index < Int(descriptor.global_count) })
        else {
            throw EnclaveError(.compilationFailed, "the native code handed over for \(name) does not describe its module (\(descriptor.global_count) globals, \(descriptor.import_count) imports); it is not used")
        }
        if checkingEntry {
            guard module.entryFunction != nil, let type = module.entryType else {
                throw EnclaveError(.invalidEntryPoint, "the export \"\(module.entry)\" is not a function")
            }
            guard type.parameters.isEmpty, type.results == [] || type.results == [.i32] else {
                throw EnclaveError(.invalidEntryPoint, "the entry \"\(module.entry)\" must take no parameters and return nothing or an i32 status; it has type \(type)")
            }
        }

        // Linear memory: TABULA_NATIVE_RESERVATION bytes of address space, reserved once and
        // inaccessible; the pages in use are made accessible as the memory grows, so that only
        // they count toward the process's data limit (a worker's RLIMIT_DATA), and every access
        // beyond them faults, which the guard turns into the trap (the code checks no bounds).
        guard tabula_native_guard_install() == 0 else {
            throw EnclaveError(.compilationFailed, "the native engine cannot install its memory guard (sigaction failed)")
        }
        if descriptor.has_memory != 0 {
            let size = tabula_native_reservation()
            guard let mapped = mmap(nil, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0), mapped != MAP_FAILED else {
                throw EnclaveError(.limitExceeded, "cannot reserve \(FunctionModule.mebibytes(UInt64(size))) of address space for the function's memory")
            }
            memoryBase = mapped
            reserved = size
        } else {
            memoryBase = nil
            reserved = 0
        }
        globals = .allocate(capacity: max(1, Int(descriptor.global_count)))
        tables = .allocate(capacity: max(1, Int(descriptor.table_count)))
        dropped = .allocate(capacity: max(1, Int(descriptor.data_count + descriptor.element_count)))
        for index in 0..<Int(descriptor.table_count) {
            let maximum = descriptor.table_maximums[index] == UInt32.max ? descriptor.table_minimums[index] : descriptor.table_maximums[index]
            let capacity = max(1, Int(max(maximum, descriptor.table_minimums[index])))
            tables.initializeElement(at: index, to: tabula_table(elements: .allocate(capacity: capacity), size: 0, maximum: UInt32(capacity)))
        }
        context = .allocate(capacity: 1)
        context.initialize(to: tabula_context())

        var handlers: [WASIHost.Handler?] = []
        var counts: [Int] = []
        for name in module.wasiImports {
            handlers.append(WASIHost.Handler(name))
            counts.append(WASIHost.signatures[name]?.parameters.count ?? 0)
        }
        handlers.append(nil)  // the poll
        counts.append(0)
        self.handlers = handlers
        self.parameterCounts = counts

        snapshot = Snapshot(memory: nil, globals: [])
        // A failure here still runs deinit (every property is set), which releases the state.
        try build()
        snapshot = takeSnapshot()
        if let memoryBase {
            pages = DirtyPages(region: memoryBase, count: Int(context.pointee.memory_size), tracking: requestedTracking, writableLimit: writableLimit)
        }
    }

    deinit {
        pages = nil
        if let memoryBase { munmap(memoryBase, reserved) }
        for index in 0..<Int(image.module.pointee.table_count) { tables[index].elements.deallocate() }
        globals.deallocate()
        tables.deallocate()
        dropped.deallocate()
        context.deallocate()
    }

    package var tracking: Rewind.Tracking { pages?.tracking ?? .comparison }
    package var matchesSnapshot: Bool { snapshot.matches(memory: memoryBytes, globals: globalValues) }

    // MARK: Running

    package func run(input: [UInt8], environment: [(String, String)], capabilities: Capabilities) throws(EnclaveError) -> Sandbox.Run {
        if let broken { throw broken }
        sequence += 1
        wasi.capabilities = capabilities
        wasi.begin(stdin: input, arguments: [name], environment: environment, limits: limits)
        limiter.reset()
        let clock = ContinuousClock()
        let started = clock.now
        deadline.arm(timeout: limits.timeout)
        let (code, result) = call(module.entryFunction!)
        var termination: Termination
        if code == TABULA_TRAP_NONE {
            let status = UInt32(truncatingIfNeeded: result)
            termination = module.entryType?.results == [.i32] && status != 0 ? .exited(Int32(bitPattern: status)) : .returned
        } else {
            termination = outcome(of: code)
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
        let kind = rewind()
        let rewind = Rewind(kind: kind, duration: clock.now - rewindStarted, tracking: tracking)
        return Sandbox.Run(termination: termination, stdout: output.stdout, stderr: output.stderr, logsTruncated: logsTruncated, duration: duration, sequence: sequence, rewind: rewind)
    }

    /// Calls function `index` (or instantiates, for `UInt32.max`) under the trap handler; the trap
    /// code and the result.
    private func call(_ index: UInt32) -> (tabula_trap, UInt64) {
        prepareRun()
        var result: UInt64 = 0
        let code = guarded { tabula_native_run(image.module, context, index, limits.stack, &result) }
        return (tabula_trap(UInt32(bitPattern: code)), result)
    }

    /// Runs native code with the memory guard on for this thread (see NativeGuard.c).
    private func guarded<T>(_ body: () -> T) -> T {
        let mapping = image.mapping
        tabula_native_guard_enter(context, mapping.base, mapping.length)
        defer { tabula_native_guard_leave() }
        return body()
    }

    /// What calling an export gave: its results (bit patterns, i32 and f32 in the low 32 bits),
    /// or the trap's message in WasmKit's words.
    package enum CallOutcome: Sendable, Equatable {
        case returned([UInt64])
        case trapped(String)
    }

    /// Calls the exported function `export` with `arguments` (bit patterns), for tests: the state
    /// stays as the call leaves it (no rewind), as between a specification script's invocations.
    /// The server never calls it: it runs only the entry, through ``run(input:environment:capabilities:)``.
    ///
    /// - Throws: ``EnclaveError`` when `export` is not an exported function taking
    ///   `arguments.count` parameters.
    package func call(_ export: String, _ arguments: [UInt64]) throws(EnclaveError) -> CallOutcome {
        if let broken { throw broken }
        guard let (kind, index) = image.export(export), kind == 0 else {
            throw EnclaveError(.invalidEntryPoint, "the module exports no function \"\(export)\"")
        }
        limiter.reset()
        deadline.arm(timeout: limits.timeout)
        prepareRun()
        var results = [UInt64](repeating: 0, count: Self.resultCapacity)
        var called: Int32 = -1
        let module = image.module
        let context = context
        let stack = limits.stack
        let code = arguments.withUnsafeBufferPointer { arguments in
            results.withUnsafeMutableBufferPointer { results in
                guarded { tabula_native_call(module, context, index, arguments.baseAddress, UInt32(arguments.count), stack, results.baseAddress, UInt32(results.count), &called) }
            }
        }
        if code == TABULA_TRAP_NONE.rawValue {
            guard called >= 0 else {
                throw EnclaveError(.invalidEntryPoint, "the export \"\(export)\" does not take \(arguments.count) arguments (or returns more than \(Self.resultCapacity) values)")
            }
            return .returned(Array(results.prefix(Int(called))))
        }
        var termination = outcome(of: tabula_trap(UInt32(bitPattern: code)))
        if deadline.expired { termination = .timedOut }
        switch termination {
        case .trapped(let reason): return .trapped(reason)
        case .stackExhausted: return .trapped(Self.reason(TABULA_TRAP_STACK, detail: (0, 0), types: []))
        default: return .trapped("\(termination)")
        }
    }

    /// The most results ``call(_:_:)`` takes from a function.
    static let resultCapacity = 256

    /// Sets up the fuel and the context for a call.
    private func prepareRun() {
        stop = nil
        if let fuel = limits.fuel {
            let grant = Int64(clamping: min(fuel, UInt64(DeadlineChecks.reload)))
            fuelLeft = Int64(clamping: fuel) - grant
            granted = grant
            globals[module.countdownGlobal] = UInt64(bitPattern: grant)
        } else {
            fuelLeft = nil
        }
        prepareContext()
    }

    private func prepareContext() {
        context.pointee.memory = memoryBase?.assumingMemoryBound(to: UInt8.self)
        context.pointee.globals = globals.baseAddress
        context.pointee.tables = tables.baseAddress
        context.pointee.dropped = dropped.baseAddress
        context.pointee.host = nativeHostCall
        context.pointee.grow = nativeGrow
        context.pointee.host_data = Unmanaged.passUnretained(self).toOpaque()
    }

    /// How a run that trapped ended, in the interpreter's words.
    private func outcome(of code: tabula_trap) -> Termination {
        let detail = (context.pointee.detail_a, context.pointee.detail_b)
        switch code {
        case TABULA_TRAP_HOST:
            switch stop {
            case WASIHost.Stop.exit(0)?: return .returned
            case WASIHost.Stop.exit(let status)?: return .exited(status)
            case WASIHost.Stop.outputLimit?: return .outputTooLarge
            case is Deadline.Expired: return .timedOut
            case is OutOfFuel: return .outOfFuel
            default: return .trapped("the host ended the run")
            }
        case TABULA_TRAP_STACK: return .stackExhausted
        default:
            if limiter.refused { return .memoryExhausted }
            return .trapped(Self.reason(code, detail: detail, types: image.typeDescriptions))
        }
    }

    /// The trap's reason, worded exactly as WasmKit words the same trap.
    static func reason(_ code: tabula_trap, detail: (UInt64, UInt64), types: [String]) -> String {
        func type(_ id: UInt64) -> String { id < types.count ? types[Int(id)] : "type \(id)" }
        switch code {
        case TABULA_TRAP_UNREACHABLE: return "unreachable"
        case TABULA_TRAP_MEMORY: return "out of bounds memory access"
        case TABULA_TRAP_DIVIDE_BY_ZERO: return "integer divide by zero"
        case TABULA_TRAP_OVERFLOW: return "integer overflow"
        case TABULA_TRAP_CONVERSION: return "invalid conversion to integer"
        case TABULA_TRAP_TYPE_MISMATCH: return "indirect call type mismatch, expected \(type(detail.0)), got \(type(detail.1))"
        case TABULA_TRAP_TABLE_BOUNDS: return "out of bounds table access at \(detail.0) (undefined element)"
        case TABULA_TRAP_NULL_ELEMENT: return "indirect call to null element (uninitialized element \(detail.0))"
        case TABULA_TRAP_TABLE_ACCESS: return "out of bounds table access"
        case TABULA_TRAP_STACK: return "call stack exhausted"
        default: return "native trap \(code.rawValue)"
        }
    }

    /// Thrown (kept in ``stop``) when the fuel runs out.
    struct OutOfFuel: Error {}

    /// An import called by the native code; 0 to go on, 1 when the run must end (``stop`` says why).
    fileprivate func host(_ index: UInt32, _ arguments: UnsafePointer<UInt64>?, _ results: UnsafeMutablePointer<UInt64>?) -> Int32 {
        let position = Int(index)
        guard position < handlers.count else {
            stop = nil
            return 1
        }
        do {
            if let handler = handlers[position] {
                let errno = try wasi.call(handler, native: arguments ?? UnsafePointer(bitPattern: 8)!, count: parameterCounts[position])
                results?[0] = UInt64(errno.rawValue)
            } else {
                results?[0] = UInt64(bitPattern: try poll())
            }
            return 0
        } catch {
            stop = error
            return 1
        }
    }

    /// The poll: the deadline, then the fuel used since the last poll.
    private func poll() throws -> Int64 {
        let reload = try deadline.poll()
        guard let left = fuelLeft else { return reload }
        // The countdown ran below zero: what was used is the grant plus the overshoot.
        let countdown = Int64(bitPattern: globals[module.countdownGlobal])
        let overshoot = countdown < 0 ? -countdown : 0
        let remaining = left - overshoot
        guard remaining > 0 else { throw OutOfFuel() }
        let grant = min(reload, remaining)
        fuelLeft = remaining - grant
        granted = grant
        return grant
    }

    /// `memory.grow`: the old size in pages, or -1 when the limit or the module's maximum refuses.
    fileprivate func grow(_ delta: UInt64) -> Int64 {
        let current = context.pointee.memory_size
        let pages = image.module.pointee.memory_maximum_pages
        let moduleMaximum = min(pages.multipliedReportingOverflow(by: 65536).overflow ? .max : pages * 65536, 65536 * 65536)
        let (added, overflow) = delta.multipliedReportingOverflow(by: 65536)
        guard !overflow, added <= moduleMaximum, current + added <= moduleMaximum else { return -1 }
        // The limiter refuses past the function's limit (and remembers it, so that a run that then
        // fails is reported as out of memory); the reservation is at least that limit.
        guard (try? limiter.limitMemoryGrowth(to: Int(current + added))) == true, current + added <= UInt64(reserved) else { return -1 }
        if added > 0, let memoryBase, mprotect(memoryBase + Int(current), Int(added), PROT_READ | PROT_WRITE) != 0 {
            // The process's data limit refused the pages: the memory limit, as far as the run goes.
            _ = try? limiter.limitMemoryGrowth(to: Int.max)
            return -1
        }
        context.pointee.memory_size = current + added
        return Int64(current / 65536)
    }

    // MARK: Snapshot and rewind

    private var memoryBytes: UnsafeRawBufferPointer? {
        guard let memoryBase else { return nil }
        return UnsafeRawBufferPointer(start: memoryBase, count: Int(context.pointee.memory_size))
    }

    /// The mutable globals as values, as the interpreter's snapshot holds them.
    private var globalValues: [Value] {
        module.mutableGlobals.map { global in
            let bits = globals[global.index]
            switch global.type {
            case .i32: return .i32(UInt32(truncatingIfNeeded: bits))
            case .f32: return .f32(UInt32(truncatingIfNeeded: bits))
            case .f64: return .f64(bits)
            default: return .i64(bits)
            }
        }
    }

    private func takeSnapshot() -> Snapshot {
        Snapshot(memory: memoryBytes, globals: globalValues)
    }

    private func restoreGlobals() {
        for (global, value) in zip(module.mutableGlobals, snapshot.globals) {
            switch value {
            case .i32(let bits), .f32(let bits): globals[global.index] = UInt64(bits)
            case .i64(let bits), .f64(let bits): globals[global.index] = bits
            default: break
            }
        }
    }

    private func rewind() -> Rewind.Kind {
        let size = Int(context.pointee.memory_size)
        let reason: String?
        if let fixed = module.rebuildReason {
            reason = fixed
        } else if size != snapshot.memoryByteCount {
            reason = "memory grew from \(snapshot.memoryByteCount) to \(size) bytes"
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
            let restored = memoryBase.map { snapshot.rewind(memory: UnsafeMutableRawBufferPointer(start: $0, count: size)) } ?? 0
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

    private func rebuild() throws(EnclaveError) {
        pages = nil
        try build()
        guard snapshot.matches(memory: memoryBytes, globals: globalValues) else {
            throw EnclaveError(.snapshotMismatch, "a rebuilt sandbox of \(name) did not reproduce its snapshot (initialisation is not deterministic); the sandbox is retired")
        }
        if let memoryBase {
            pages = DirtyPages(region: memoryBase, count: Int(context.pointee.memory_size), tracking: requestedTracking, writableLimit: writableLimit)
        }
    }

    // MARK: Building

    /// Puts the instance in its initial state and initialises it: the module's own instantiation
    /// (globals, tables, data, start function), then `_initialize` and `wizer.initialize`, under one
    /// time budget and without clocks or randomness, as ``Sandbox`` does.
    private func build() throws(EnclaveError) {
        let descriptor = image.module.pointee
        let initialBytes = descriptor.memory_minimum_pages * 65536
        if let memoryBase {
            // Back to zero pages, inaccessible beyond the initial size.
            // Only what was ever made accessible: the rest of the reservation was never touched.
            let used = Int(max(context.pointee.memory_size, initialBytes) + UInt64(DirtyPages.pageSize - 1)) / DirtyPages.pageSize * DirtyPages.pageSize
            madvise(memoryBase, used, MADV_DONTNEED)
            mprotect(memoryBase, used, PROT_NONE)
            if initialBytes > 0, mprotect(memoryBase, Int(initialBytes), PROT_READ | PROT_WRITE) != 0 {
                throw EnclaveError(.limitExceeded, "cannot commit the module's initial memory of \(FunctionModule.mebibytes(initialBytes)) (the process's data limit)")
            }
        }
        context.pointee.memory_size = initialBytes
        globals.update(repeating: 0)
        dropped.update(repeating: 0)
        limiter.reset()
        limiter.beginInstance(tables: Int(descriptor.table_count))
        for index in 0..<Int(descriptor.table_count) {
            let minimum = descriptor.table_minimums[index]
            guard (try? limiter.limitTableGrowth(to: Int(minimum))) == true, minimum <= tables[index].maximum else {
                throw EnclaveError(.limitExceeded, "the module's tables do not fit the function's memory limit of \(FunctionModule.mebibytes(UInt64(limits.memory)))")
            }
            tables[index].elements.update(repeating: tabula_funcref(), count: Int(tables[index].maximum))
            tables[index].size = minimum
        }
        if descriptor.has_memory != 0 {
            guard (try? limiter.limitMemoryGrowth(to: Int(initialBytes))) == true else {
                throw EnclaveError(.limitExceeded, "the module's initial memory is \(FunctionModule.mebibytes(initialBytes)) but the function's memory limit is \(FunctionModule.mebibytes(UInt64(limits.memory)))")
            }
        }

        let budget = InitializationBudget(limits: limits, cap: initializationTimeout)
        wasi.capabilities = []
        wasi.memory = descriptor.has_memory != 0 ? .native(context) : nil
        wasi.begin(stdin: [], arguments: [name], environment: [], limits: limits)
        defer { initializationLogs = wasi.finish().stderr }
        let phases: [(String, UInt32)] = [("the start function", UInt32.max)]
            + (module.initializeFunction.map { [("_initialize", $0)] } ?? [])
            + (module.wizerInitializeFunction.map { [("wizer.initialize", $0)] } ?? [])
        for (phase, index) in phases {
            deadline.arm(timeout: budget.remaining)
            let (code, _) = call(index)
            guard code != TABULA_TRAP_NONE else { continue }
            var termination = outcome(of: code)
            if deadline.expired { termination = .timedOut }
            if termination == .returned { continue }
            if index == UInt32.max, !module.hasStartFunction {
                throw EnclaveError(.invalidModule, "the module cannot be instantiated: \(Self.describe(termination, limits: limits, budget: budget))")
            }
            var reason = Self.describe(termination, limits: limits, budget: budget)
            if let refusal = wasi.refusal {
                reason += " (after \(refusal.function) was refused: clocks and randomness are not available during initialisation, whatever the policy, so that nothing time- or random-dependent is frozen into the snapshot; use them from the entry point instead)"
            }
            throw EnclaveError(.initializationFailed, "\(phase) failed: \(reason)")
        }
    }

    private static func describe(_ termination: Termination, limits: Limits, budget: InitializationBudget) -> String {
        switch termination {
        case .timedOut: return budget.capped
            ? "it exceeded the server's initialisation time limit of \(budget.total.milliseconds) ms (start function, _initialize and wizer.initialize together)"
            : "it exceeded the time limit of \(limits.timeoutMilliseconds) ms"
        case .outOfFuel: return "it ran out of fuel (its limit is \(limits.fuel ?? 0) units)"
        case .stackExhausted: return "it exhausted its call stack (\(limits.stack >> 10) KiB)"
        case .memoryExhausted: return "it exhausted its memory (\(FunctionModule.mebibytes(UInt64(limits.memory))))"
        case .outputTooLarge: return "it wrote more than \(limits.output) bytes to stdout"
        case .exited(let status): return "it exited with status \(status)"
        case .trapped(let trap): return trap
        case .workerStopped(let stopped): return stopped
        case .returned: return "it failed"
        }
    }
}

extension NativeSandbox: FunctionInstance {
    var snapshotDigest: [UInt8] { snapshot.digest }
    var isUsable: Bool { broken == nil }

    func serve(input: [UInt8], environment: [(String, String)], capabilities: Capabilities) throws(EnclaveError) -> Sandbox.Run {
        try run(input: input, environment: environment, capabilities: capabilities)
    }
}

/// The context's `host` entry: an import called by native code.
private let nativeHostCall: @convention(c) (UnsafeMutablePointer<tabula_context>?, UInt32, UnsafePointer<UInt64>?, UnsafeMutablePointer<UInt64>?) -> Int32 = { context, index, arguments, results in
    let sandbox = Unmanaged<NativeSandbox>.fromOpaque(context!.pointee.host_data).takeUnretainedValue()
    return sandbox.host(index, arguments, results)
}

/// The context's `grow` entry: `memory.grow`.
private let nativeGrow: @convention(c) (UnsafeMutablePointer<tabula_context>?, UInt64) -> Int64 = { context, delta in
    let sandbox = Unmanaged<NativeSandbox>.fromOpaque(context!.pointee.host_data).takeUnretainedValue()
    return sandbox.grow(delta)
}
