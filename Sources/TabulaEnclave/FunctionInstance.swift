/// One instance of a function, serving one invocation at a time from its snapshot: a ``Sandbox``
/// in this process, or a ``WorkerSandbox`` in a confined worker process (see ``Isolation``).
///
/// ``FunctionHost`` pools instances without knowing which kind they are; the enclave chooses the
/// kind when it makes one.
protocol FunctionInstance: AnyObject, Sendable {
    /// Identifies the instance in invocation reports and receipts.
    var id: Int { get }
    /// The digest of the snapshot every run starts from.
    var snapshotDigest: [UInt8] { get }
    /// Set when the instance can no longer run (a rebuild that missed the snapshot, a worker that
    /// stopped); its host drops it and makes another.
    var broken: EnclaveError? { get }
    /// Whether the instance can take an invocation now: not broken, and (for a worker) its process
    /// still alive. An idle worker killed between invocations is dropped before it is handed out,
    /// so that no invocation is sent to a process already gone.
    var isUsable: Bool { get }
    /// Runs the function's entry once on the snapshot state and rewinds.
    func serve(input: [UInt8], environment: [(String, String)], capabilities: Capabilities) throws(EnclaveError) -> Sandbox.Run
}

extension Sandbox: FunctionInstance {
    var snapshotDigest: [UInt8] { snapshot.digest }
    var isUsable: Bool { broken == nil }

    func serve(input: [UInt8], environment: [(String, String)], capabilities: Capabilities) throws(EnclaveError) -> Sandbox.Run {
        try run(input: input, environment: environment, capabilities: capabilities)
    }
}
