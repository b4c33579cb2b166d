/// The resource limits of a function, enforced on every invocation.
///
/// Defaults follow OpenWhisk's where it has one (256 MiB of memory, 60 s, 10 MiB of logs).
public struct Limits: Sendable, Hashable {
    /// The largest linear memory, in bytes; `memory.grow` beyond it fails (returns -1).
    public var memory: Int
    /// The wall-clock time an invocation may run.
    public var timeout: Duration
    /// The fuel an invocation may burn (about one unit per WebAssembly instruction); `nil` for no
    /// fuel bound, leaving the timeout as the only bound on run time.
    public var fuel: UInt64?
    /// The largest parameters document, in bytes.
    public var input: Int
    /// The largest result on stdout, in bytes; beyond it the invocation is aborted.
    public var output: Int
    /// The most log bytes kept (stderr); beyond it the logs are truncated and the run continues.
    public var logs: Int
    /// The interpreter's call stack, in bytes; deeper recursion traps.
    public var stack: Int

    public static let mebibyte = 1 << 20

    public init(
        memory: Int = 256 << 20,
        timeout: Duration = .seconds(60),
        fuel: UInt64? = nil,
        input: Int = 1 << 20,
        output: Int = 1 << 20,
        logs: Int = 10 << 20,
        stack: Int = 1 << 20
    ) {
        self.memory = memory
        self.timeout = timeout
        self.fuel = fuel
        self.input = input
        self.output = output
        self.logs = logs
        self.stack = stack
    }

    /// The timeout in whole milliseconds, as OpenWhisk states it.
    public var timeoutMilliseconds: Int64 {
        timeout.milliseconds
    }

    func validate() throws(EnclaveError) {
        guard memory >= 65536 else { throw EnclaveError(.invalidConfiguration, "the memory limit must be at least 64 KiB (one WebAssembly page)") }
        guard timeout > .zero else { throw EnclaveError(.invalidConfiguration, "the timeout must be positive") }
        guard input > 0, output > 0, logs >= 0 else { throw EnclaveError(.invalidConfiguration, "the input and output limits must be positive and the logs limit not negative") }
        guard stack >= 64 << 10 else { throw EnclaveError(.invalidConfiguration, "the stack limit must be at least 64 KiB") }
    }
}
