/// What a worker reports after loading a function: what the enclave needs for the function's
/// ``FunctionInfo`` and its invocation reports.
package struct WorkerLoad: Sendable, Equatable {
    package var kind: FunctionModule.Kind
    package var entry: String
    /// SHA-256 of the module as deployed.
    package var moduleDigest: [UInt8]
    /// SHA-256 of the snapshot every run starts from.
    package var snapshotDigest: [UInt8]
    /// What initialisation wrote to stderr.
    package var initializationLogs: [UInt8]
    /// Why every run rebuilds the sandbox, when it does.
    package var rebuildReason: String?
    /// How the worker's sandbox tracks written pages.
    package var tracking: Rewind.Tracking
}
