/// An error of the enclave runtime: loading a function or running the enclave itself.
///
/// What a function does wrong at run time (a trap, a limit) is not an error of the runtime: it is an
/// ``InvocationOutcome`` of the invocation. These errors are for modules that cannot be loaded and
/// for requests the enclave cannot serve. Each has a stable ``code`` for clients and a message that
/// says what to do.
public struct EnclaveError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A stable identifier of the kind of failure, safe to match on.
    public enum Code: String, Sendable {
        /// The bytes are neither a WebAssembly binary nor WAT text that parses.
        case invalidModule = "invalid_module"
        /// The module imports something outside the supported WASI subset.
        case unsupportedImport = "unsupported_import"
        /// The module lacks an entry point or has one of the wrong type.
        case invalidEntryPoint = "invalid_entry_point"
        /// The module asks for more than the function's limits allow.
        case limitExceeded = "limit_exceeded"
        /// Initialisation (`_initialize`, `wizer.initialize`) failed.
        case initializationFailed = "initialization_failed"
        /// No function with that name is loaded.
        case unknownFunction = "unknown_function"
        /// The limits or settings given are not valid.
        case invalidConfiguration = "invalid_configuration"
        /// A rebuilt sandbox did not reproduce the snapshot: the function is retired.
        case snapshotMismatch = "snapshot_mismatch"
        /// Another load or an unload of the same function came after this load started: the
        /// function loaded is not installed, so that an older version never replaces a newer one.
        case superseded = "superseded"
        /// The enclave is shutting down.
        case shuttingDown = "shutting_down"
        /// A sealed request could not be opened: altered, truncated, or sealed to a key this
        /// enclave does not have (unknown or already erased).
        case sealedRequest = "sealed_request"
        /// A sealed request was already opened once in its key epoch.
        case replayedRequest = "replayed_request"
        /// The function's policy requires sealed (confidential) invocations.
        case confidentialRequired = "confidential_required"
        /// The function's policy does not let this caller invoke it.
        case notPermitted = "not_permitted"
        /// No monitor runs in this enclave, so it has no keys and no attestation.
        case notAttested = "not_attested"
        /// The worker process running the function stopped (killed, crashed, out of memory, or
        /// ended by its confinement) before it answered: the invocations it was running fail.
        case workerStopped = "worker_stopped"
        /// A worker process, or its parent, sent bytes that are not a well-formed message of the
        /// worker protocol; the worker is stopped.
        case invalidWorkerMessage = "invalid_worker_message"
        /// The module uses a feature the native engine does not translate; the interpreter runs it.
        case unsupportedByEngine = "unsupported_by_engine"
        /// The native engine could not compile or load the function's code (no C compiler, a
        /// compiler failure, a compile time or memory limit, or a cached compilation that fails
        /// its authentication).
        case compilationFailed = "compilation_failed"
        /// The function may read tenant secrets, but the key broker that holds them cannot be
        /// reached now.
        case secretsUnavailable = "secrets_unavailable"
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
