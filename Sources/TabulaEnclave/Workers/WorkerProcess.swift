import CConfinement
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The parent side of one worker process: `tabula worker`, started for one namespace, confined,
/// holding no key, running that namespace's sandboxes (see ``Worker``).
///
/// Calls are blocking and serialised: one request at a time, like a ``Sandbox`` serving one
/// invocation at a time; call them from the enclave's own threads. Requests and replies travel
/// through a ``SharedChannel`` (shared memory and futex wake-ups) when they fit its slots, and as
/// frames on the socket otherwise; ``Transport/socket`` keeps everything on the socket (for
/// comparison). A worker that stops (killed,
/// crashed, killed by its seccomp filter, out of memory) fails the call in flight, and every later
/// one, with ``EnclaveError/Code/workerStopped``; one that sends a malformed reply is killed and
/// fails it with ``EnclaveError/Code/invalidWorkerMessage``. Either way the worker is reaped;
/// spawn a new one to go on.
package final class WorkerProcess: Sendable {
    /// The worker's process id (valid until it is reaped: see ``terminate()``).
    package let processID: Int32
    /// The namespace whose functions the worker runs.
    package let namespace: String
    /// The parent's end of the socket.
    private let channel: Int32
    /// The shared memory, unless the worker was started with ``Transport/socket``.
    let shared: SharedChannel?
    /// Held for a whole request and its reply; holds the last request's number on the shared channel.
    private let exchange = Mutex<UInt32>(0)
    /// How many replies came through the shared slot and how many on the socket (for tests and
    /// benchmarks).
    private let counts = Mutex<(slot: Int, socket: Int)>((0, 0))

    /// How requests and replies travel between the server and a worker.
    package enum Transport: Sendable {
        /// Through shared memory with futex wake-ups, frames too big for its slots on the socket.
        case sharedMemory
        /// Every frame on the socket (what workers did before the shared channel; for benchmarks).
        case socket
    }

    /// The transport of workers spawned without one: ``Transport/sharedMemory`` unless a benchmark
    /// sets this to compare with the socket.
    package static var socketByDefault: Bool {
        get { socketDefault.load(ordering: .relaxed) }
        set { socketDefault.store(newValue, ordering: .relaxed) }
    }
    private static let socketDefault = Atomic<Bool>(false)
    /// How the process ended, once reaped: guards `kill` against a reused process id.
    private let life = Mutex<Life>(Life())

    private struct Life {
        /// The wait status, once reaped.
        var status: Int32?
        /// Why the worker was stopped by the parent, when it was.
        var stoppedBecause: String?
    }

    private init(processID: pid_t, namespace: String, channel: Int32, shared: SharedChannel?) {
        self.processID = processID
        self.namespace = namespace
        self.channel = channel
        self.shared = shared
    }

    deinit {
        terminate()
        close(channel)
    }

    /// Starts a worker for `namespace` from `executable` (the `tabula` binary, an absolute path).
    ///
    /// - Parameter memoryLimit: the most private writable memory the worker may commit, in bytes;
    ///   beyond it allocations fail and the worker stops. `nil` for no limit beyond the functions'
    ///   own.
    /// - Parameter transport: how requests and replies travel; `nil` for the default (see
    ///   ``socketByDefault``).
    package static func spawn(executable: String, namespace: String, memoryLimit: Int?, transport: Transport? = nil) throws(EnclaveError) -> WorkerProcess {
        let transport = transport ?? (socketByDefault ? .socket : .sharedMemory)
        var memory: (fd: Int32, channel: SharedChannel)?
        if transport == .sharedMemory { memory = try SharedChannel.create() }
        // The worker has its own mapping once started: the parent's descriptor is not kept.
        defer { if let memory { close(memory.fd) } }
        var ends: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0 else {
            throw EnclaveError(.workerStopped, "cannot create a worker's channel: \(String(cString: strerror(errno)))")
        }
        // The server's pid, so that a worker whose server died before it started notices too.
        var arguments = [executable, "worker", "--namespace", namespace, "--parent", String(getpid())]
        if let memoryLimit { arguments += ["--memory-limit", String(memoryLimit)] }
        if memory != nil { arguments.append("--shared-channel") }
        // The server's environment may hold secrets: the worker gets none of it, only the page
        // tracking choice that tests and benchmarks force.
        var environment: [String] = []
        if let tracking = getenv("TABULA_PAGE_TRACKING") { environment.append("TABULA_PAGE_TRACKING=\(String(cString: tracking))") }
        var pid: pid_t = 0
        let error = withCStrings(arguments) { argv in
            withCStrings(environment) { envp in tabula_spawn_worker(executable, argv, envp, ends[1], memory?.fd ?? -1, &pid) }
        }
        close(ends[1])
        guard error == 0 else {
            close(ends[0])
            throw EnclaveError(.workerStopped, "cannot start a worker from \(executable): \(String(cString: strerror(error)))")
        }
        return WorkerProcess(processID: pid, namespace: namespace, channel: ends[0], shared: memory?.channel)
    }

    /// Loads a function into the worker under `load.key`.
    package func load(_ load: WorkerMessage.Load) throws(EnclaveError) -> WorkerLoad {
        // Initialisation is bounded by the worker; the parent waits a little longer before it
        // gives up on a worker that does not answer at all.
        switch try exchange(.load(load), within: min(load.limits.timeout, load.initializationTimeout) + Self.grace) {
        case .loaded(let loaded): return loaded
        case .failed(let error): throw error
        case .ran: throw stop(because: "it answered a load with a run")
        }
    }

    /// Runs one invocation of the function loaded under `run.key`.
    ///
    /// - Parameter timeout: the function's timeout: the worker ends the run itself at that
    ///   deadline; the parent waits ``grace`` more, then kills the worker.
    package func run(_ run: WorkerMessage.Run, timeout: Duration) throws(EnclaveError) -> Sandbox.Run {
        switch try exchange(.run(run), within: timeout + Self.grace) {
        case .ran(let ran): return ran
        case .failed(let error): throw error
        case .loaded: throw stop(because: "it answered a run with a load")
        }
    }

    /// Drops the function loaded under `key` (no answer is awaited on the socket; on the shared
    /// channel, its acknowledgement, so that the next request does not overwrite it unread).
    package func unload(key: UInt64) {
        _ = try? transact(.unload(key: key), within: Self.grace)
    }

    /// How long past a request's own bound the parent waits for the answer before it kills the
    /// worker: rewinds, rebuilds and a loaded machine.
    package static let grace: Duration = .seconds(5)

    /// Kills the worker (SIGKILL) if it still runs, and reaps it. The call in flight, if any,
    /// fails with ``EnclaveError/Code/workerStopped``.
    package func terminate() {
        life.withLock { life in
            guard life.status == nil else { return }
            if life.stoppedBecause == nil { life.stoppedBecause = "it was terminated" }
            kill(processID, SIGKILL)
            var status: Int32 = 0
            while waitpid(processID, &status, 0) < 0 && errno == EINTR {}
            life.status = status
        }
    }

    /// Whether the worker has ended (reaping it if so).
    package var hasStopped: Bool {
        life.withLock { life in
            if life.status != nil { return true }
            var status: Int32 = 0
            guard waitpid(processID, &status, WNOHANG) == processID else { return false }
            life.status = status
            return true
        }
    }

    // MARK: Exchange

    private func exchange(_ request: WorkerMessage.Request, within bound: Duration) throws(EnclaveError) -> WorkerMessage.Reply {
        guard let reply = try transact(request, within: bound) else {
            throw stop(because: "it acknowledged a request without answering it", code: .invalidWorkerMessage)
        }
        return reply
    }

    /// Sends `request` and returns its reply (`nil` for an unload, which has none).
    private func transact(_ request: WorkerMessage.Request, within bound: Duration) throws(EnclaveError) -> WorkerMessage.Reply? {
        let expectsReply: Bool
        if case .unload = request { expectsReply = false } else { expectsReply = true }
        let result: Result<WorkerMessage.Reply?, EnclaveError> = exchange.withLock { sequence in
            if let stopped = stoppedError() { return .failure(stopped) }
            let frame = WorkerMessage.frame(request)
            let deadline = ContinuousClock.now + bound
            do throws(EnclaveError) {
                guard let shared else {
                    guard sendFrame(frame) else { return .failure(stopped()) }
                    guard expectsReply else { return .success(nil) }
                    let reply = try WorkerMessage.reply(from: try receive(before: deadline))
                    counts.withLock { $0.socket += 1 }
                    return .success(reply)
                }
                sequence &+= 1
                // Announced first, then streamed: a frame bigger than the socket's buffer would
                // otherwise wait for a reader that waits for the announcement.
                if !shared.postRequest(frame, sequence: sequence) {
                    guard sendFrame(frame) else { return .failure(stopped()) }
                }
                switch try shared.awaitReply(sequence, before: deadline, stopped: { hasStopped }) {
                case .arrived: break
                case .stopped: return .failure(stopped())
                case .timedOut: throw timedOut()
                }
                let place = try shared.replyPlace()
                guard expectsReply else {
                    guard place == .none else { throw EnclaveError(.invalidWorkerMessage, "it answered a request that has no answer") }
                    return .success(nil)
                }
                let payload: [UInt8]
                switch place {
                case .slot:
                    payload = try shared.takeReply()
                    counts.withLock { $0.slot += 1 }
                case .socket:
                    payload = try receive(before: deadline)
                    counts.withLock { $0.socket += 1 }
                case .none:
                    throw EnclaveError(.invalidWorkerMessage, "it acknowledged a request without answering it")
                }
                return .success(try WorkerMessage.reply(from: payload))
            } catch {
                if error.code == .invalidWorkerMessage {
                    return .failure(stop(because: "it sent a malformed reply: \(error.message)", code: .invalidWorkerMessage))
                }
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// How many replies came through the shared slot and how many as socket frames.
    package var replies: (slot: Int, socket: Int) { counts.withLock { $0 } }

    private func sendFrame(_ frame: [UInt8]) -> Bool {
        var done = 0
        while done < frame.count {
            // MSG_NOSIGNAL: a worker gone is an error to report, not a SIGPIPE for the server.
            let count = frame.withUnsafeBytes { send(channel, $0.baseAddress! + done, frame.count - done, Int32(MSG_NOSIGNAL)) }
            if count < 0 {
                if errno == EINTR { continue }
                return false
            }
            done += count
        }
        return true
    }

    /// The next reply's payload; the worker's end of the stream, or no reply by `deadline`, is
    /// ``EnclaveError/Code/workerStopped``.
    private func receive(before deadline: ContinuousClock.Instant) throws(EnclaveError) -> [UInt8] {
        var header = [UInt8](repeating: 0, count: 4)
        try receive(&header, 0..<4, before: deadline)
        let length = try WorkerMessage.payloadLength(header: header, side: "reply")
        // Grown as the bytes arrive: a worker announcing 80 MiB and sending nothing costs nothing.
        var payload: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: min(length, 1 << 20))
        defer { chunk.wipe() }
        while payload.count < length {
            let want = min(chunk.count, length - payload.count)
            try receive(&chunk, 0..<want, before: deadline)
            payload.append(contentsOf: chunk[0..<want])
        }
        return payload
    }

    private func receive(_ buffer: inout [UInt8], _ range: Range<Int>, before deadline: ContinuousClock.Instant) throws(EnclaveError) {
        var done = range.lowerBound
        while done < range.upperBound {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { throw timedOut() }
            var poller = pollfd(fd: channel, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(clamping: max(1, min(left.milliseconds, 1000))))
            if ready < 0 && errno != EINTR { throw stopped() }
            guard ready > 0 else { continue }
            let count = buffer.withUnsafeMutableBytes { recv(channel, $0.baseAddress! + done, range.upperBound - done, 0) }
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw stopped()
            }
            if count == 0 { throw stopped() }
            done += count
        }
    }

    // MARK: Ending

    /// Kills a worker that did not answer in time; returns the error for the call in flight.
    private func timedOut() -> EnclaveError {
        stop(because: "it did not answer within its time limit and \(Self.grace.milliseconds / 1000) s of grace")
    }

    /// Kills and reaps the worker, noting why; returns the error for the call in flight.
    private func stop(because reason: String, code: EnclaveError.Code = .workerStopped) -> EnclaveError {
        life.withLock { life in
            if life.stoppedBecause == nil { life.stoppedBecause = reason }
        }
        terminate()
        if code == .workerStopped { return stopped() }
        return EnclaveError(code, "the worker running this function was stopped: \(reason)")
    }

    /// The error for a worker found gone: waits (bounded) for it to be reapable, kills it if it
    /// lingers, and says how it ended.
    private func stopped() -> EnclaveError {
        // The channel closes as the process exits, a moment before its status can be collected.
        for _ in 0..<1000 where !hasStopped { usleep(1000) }
        terminate()
        return stoppedError()!
    }

    /// The error for a worker already reaped, else `nil`.
    private func stoppedError() -> EnclaveError? {
        life.withLock { life -> EnclaveError? in
            guard let status = life.status else { return nil }
            return EnclaveError(.workerStopped, "the worker running this function stopped (\(Self.describe(status: status, reason: life.stoppedBecause))) before it answered; the invocation failed, invoke it again")
        }
    }

    /// How the worker ended ("signal 9, SIGKILL", with the parent's reason when it stopped it);
    /// `nil` while it runs.
    package var ending: String? {
        guard hasStopped else { return nil }
        return life.withLock { life in life.status.map { Self.describe(status: $0, reason: life.stoppedBecause) } }
    }

    /// "signal 9, SIGKILL", "exit status 3", with the parent's reason when it stopped the worker.
    static func describe(status: Int32, reason: String?) -> String {
        let signal = status & 0x7F
        var text: String
        if signal == 0 {
            text = "exit status \((status >> 8) & 0xFF)"
        } else {
            let names: [Int32: String] = [SIGKILL: "SIGKILL", SIGSEGV: "SIGSEGV", SIGBUS: "SIGBUS", SIGABRT: "SIGABRT", SIGSYS: "SIGSYS, a system call its confinement forbids", SIGILL: "SIGILL", SIGTERM: "SIGTERM"]
            text = "signal \(signal)" + (names[signal].map { ", \($0)" } ?? "")
        }
        if let reason { text += "; \(reason)" }
        return text
    }

    /// Calls `body` with a NULL-terminated array of C strings.
    private static func withCStrings<T>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> T) -> T {
        let pointers = strings.map { strdup($0) } + [nil]
        defer { for pointer in pointers { free(pointer) } }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}
