import Synchronization

/// A function instance in a worker process of its own: the worker loads the module, takes the
/// snapshot and rewinds after every run; this side holds only what the enclave reports.
///
/// The worker is started for this instance alone and dies with it, so a namespace's instances
/// never share a process with another namespace's, and a worker that stops takes only its own
/// invocation with it: that invocation ends as ``Termination/workerStopped(_:)`` (a developer
/// error), the instance is broken, and its host makes a new one for the next invocation.
final class WorkerSandbox: FunctionInstance {
    let id: Int
    let snapshotDigest: [UInt8]
    /// What the worker reported when it loaded the function.
    let load: WorkerLoad
    private let worker: WorkerProcess
    private let key: UInt64
    private let timeout: Duration
    private let failure = Mutex<EnclaveError?>(nil)
    private let deadlines: Deadlines
    private let quota: NamespaceWorkers
    private let namespace: String

    /// Starts a worker for the function's namespace and loads the function into it.
    ///
    /// - Parameters:
    ///   - deadlines: the enclave's deadlines, which kill the worker when the enclave ends its
    ///     runs.
    ///   - quota: the namespace's workers, in which the caller has reserved a place for this one;
    ///     it is given back when the worker stops (or fails to start).
    init(
        id: Int, definition: FunctionDefinition, native: NativeCode?, executable: String, memoryOverhead: Int, initializationTimeout: Duration, deadlines: Deadlines,
        quota: NamespaceWorkers
    ) throws(EnclaveError) {
        self.id = id
        self.deadlines = deadlines
        self.quota = quota
        self.namespace = definition.name.namespace
        let spawned: WorkerProcess
        self.key = UInt64(id)
        self.timeout = definition.limits.timeout
        let (limit, overflow) = definition.limits.memory.addingReportingOverflow(memoryOverhead)
        do {
            spawned = try WorkerProcess.spawn(executable: executable, namespace: definition.name.namespace, memoryLimit: overflow ? nil : limit)
        } catch {
            quota.release(definition.name.namespace)
            throw error
        }
        worker = spawned
        deadlines.track(worker)
        do {
            load = try worker.load(WorkerMessage.Load(
                key: key, name: definition.name.description, module: definition.module, main: definition.main,
                limits: definition.limits, initializationTimeout: initializationTimeout,
                native: native.map { NativeCompiler.encode(image: $0.image, types: $0.typeDescriptions) }))
        } catch {
            deadlines.forget(worker)
            worker.terminate()
            quota.release(namespace)
            throw error
        }
        snapshotDigest = load.snapshotDigest
    }

    deinit {
        deadlines.forget(worker)
        worker.terminate()
        quota.release(namespace)
    }

    var broken: EnclaveError? { failure.withLock { $0 } }
    var isUsable: Bool { broken == nil && !worker.hasStopped }

    /// The worker's process id, for tests that look into it.
    var processID: Int32 { worker.processID }

    func serve(input: [UInt8], environment: [(String, String)], capabilities: Capabilities) throws(EnclaveError) -> Sandbox.Run {
        do {
            return try worker.run(WorkerMessage.Run(key: key, input: input, environment: environment, capabilities: capabilities), timeout: timeout)
        } catch where error.code == .workerStopped || error.code == .invalidWorkerMessage {
            failure.withLock { $0 = error }
            let ending = worker.ending ?? "it stopped answering"
            return Sandbox.Run(
                termination: .workerStopped("\(ending); the invocation failed, invoke it again"), stdout: [], stderr: [], logsTruncated: false,
                duration: .zero, sequence: 0, rewind: Rewind(kind: .rebuilt(reason: "the worker stopped"), duration: .zero, tracking: load.tracking))
        }
    }
}
