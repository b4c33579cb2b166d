import CConfinement
import Dispatch

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The worker side of a worker process (`tabula worker`): confines itself, then serves the
/// parent's requests on its channel, one at a time, with the same ``FunctionModule`` and
/// ``Sandbox`` objects the enclave uses in process, until the parent closes the channel.
///
/// It holds only what its requests brought: modules, their sandboxes, and one invocation's input
/// at a time; never a key. See ``WorkerProcess`` for the parent side and docs/isolation.md for
/// the confinement.
package enum Worker {
    /// The descriptor the parent hands the channel on.
    package static let channel: Int32 = 3
    /// The descriptor of the shared memory (``SharedChannel``), when the parent passes one.
    package static let sharedMemory: Int32 = 4

    /// Serves requests until the channel closes (or, on the shared channel, until the server is
    /// gone); returns the process's exit status.
    ///
    /// - Parameters:
    ///   - memoryLimit: the most private writable memory the worker may commit, in bytes (`nil`
    ///     for no limit beyond the functions' own).
    ///   - sharedChannel: whether the parent passed a ``SharedChannel`` as descriptor 4.
    ///   - parent: the server's process id; `nil` for whatever the parent is at start.
    package static func serve(memoryLimit: Int?, sharedChannel: Bool = false, parent: Int32? = nil) -> Int32 {
        let parent = parent ?? getppid()
        // A server that died before this worker got here is not coming back.
        guard getppid() == parent else { return 0 }
        var shared: SharedChannel?
        if sharedChannel {
            // Mapped before anything is closed or confined; the descriptor is then closed: the
            // mapping is all the worker keeps.
            do {
                shared = try SharedChannel.map(sharedMemory)
            } catch {
                report(error.message)
                return 70
            }
            close(sharedMemory)
        }
        if let failure = confine(memoryLimit: memoryLimit) {
            report(failure)
            return 70
        }
        let watch = watchParent(parent)
        defer { watch.cancel() }
        var sandboxes: [UInt64: any WorkerInstance] = [:]
        if let shared { return serve(shared, sandboxes: &sandboxes, parent: parent) }
        while true {
            let payload: [UInt8]
            do {
                guard let read = try readFrame() else { return 0 }
                payload = read
            } catch {
                report(error.message)
                return 65
            }
            guard let request = decode(payload) else { return 65 }
            guard let reply = handle(request, sandboxes: &sandboxes) else { continue }
            guard writeAll(WorkerMessage.frame(reply)) else { return 0 }
        }
    }

    /// The request in `payload`; `nil`, after saying why, when it is malformed: the stream can no
    /// longer be trusted to be in step, so the worker stops.
    private static func decode(_ payload: [UInt8]) -> WorkerMessage.Request? {
        do {
            return try WorkerMessage.request(from: payload)
        } catch {
            report(error.message)
            return nil
        }
    }

    /// Serves the requests announced on the shared channel: each is in the request slot or follows
    /// on the socket; each reply goes in the reply slot when it fits, else on the socket.
    private static func serve(_ shared: SharedChannel, sandboxes: inout [UInt64: any WorkerInstance], parent: pid_t) -> Int32 {
        var last: UInt32 = 0
        while true {
            guard let sequence = shared.awaitRequest(after: last, parent: parent) else { return 0 }
            let payload: [UInt8]
            do throws(EnclaveError) {
                // The parent numbers its requests one by one: anything else is not the parent.
                guard sequence == last &+ 1 else {
                    throw EnclaveError(.invalidWorkerMessage, "a worker request is numbered \(sequence) after \(last); the peer is broken or hostile")
                }
                switch try shared.requestPlace() {
                case .slot: payload = try shared.takeRequest()
                case .socket:
                    guard let read = try readFrame() else { return 0 }
                    payload = read
                case .none: throw EnclaveError(.invalidWorkerMessage, "a worker request is announced with no request")
                }
            } catch {
                report(error.message)
                return 65
            }
            last = sequence
            guard let request = decode(payload) else { return 65 }
            guard let reply = handle(request, sandboxes: &sandboxes) else {
                _ = shared.postReply(nil, sequence: sequence)
                continue
            }
            let frame = WorkerMessage.frame(reply)
            if !shared.postReply(frame, sequence: sequence) {
                guard writeAll(frame) else { return 0 }
            }
        }
    }

    /// Carries out one request; returns its reply, `nil` for an unload (which has none).
    private static func handle(_ request: WorkerMessage.Request, sandboxes: inout [UInt64: any WorkerInstance]) -> WorkerMessage.Reply? {
        switch request {
        case .load(let load):
            return Self.load(load, into: &sandboxes)
        case .run(let run):
            return Self.run(run, in: sandboxes)
        case .unload(let key):
            sandboxes[key] = nil
            return nil
        }
    }

    private static func load(_ load: WorkerMessage.Load, into sandboxes: inout [UInt64: any WorkerInstance]) -> WorkerMessage.Reply {
        guard sandboxes[load.key] == nil else {
            return .failed(EnclaveError(.invalidConfiguration, "the worker already holds a function under key \(load.key); unload it first"))
        }
        do throws(EnclaveError) {
            try load.limits.validate()
            let module = try FunctionModule(bytes: load.module, main: load.main, memoryLimit: load.limits.memory)
            let sandbox: any WorkerInstance
            if let native = load.native {
                // Mapped by Tabula's own loader, which needs no file and no system call the
                // confinement refuses.
                guard let code = NativeCompiler.decode(native) else {
                    throw EnclaveError(.invalidWorkerMessage, "the native code of the load request is malformed")
                }
                let image = try NativeImage(code: NativeCode(image: code.image, typeDescriptions: code.types, compileDuration: .zero, cached: false, cacheStatus: "off"))
                sandbox = try NativeSandbox(
                    id: Int(truncatingIfNeeded: load.key), module: module, image: image, limits: load.limits, name: load.name,
                    initializationTimeout: load.initializationTimeout)
            } else {
                sandbox = try Sandbox(
                    id: Int(truncatingIfNeeded: load.key), module: module, limits: load.limits, name: load.name,
                    initializationTimeout: load.initializationTimeout)
            }
            sandboxes[load.key] = sandbox
            return .loaded(WorkerLoad(
                kind: module.kind, entry: module.entry, moduleDigest: module.digest, snapshotDigest: sandbox.snapshotDigest,
                initializationLogs: sandbox.initializationLogs, rebuildReason: module.rebuildReason, tracking: sandbox.tracking))
        } catch {
            return .failed(error)
        }
    }

    private static func run(_ run: WorkerMessage.Run, in sandboxes: [UInt64: any WorkerInstance]) -> WorkerMessage.Reply {
        guard let sandbox = sandboxes[run.key] else {
            return .failed(EnclaveError(.unknownFunction, "the worker holds no function under key \(run.key)"))
        }
        var input = run.input
        defer { input.wipe() }
        do {
            return .ran(try sandbox.serve(input: input, environment: run.environment.map { ($0.name, $0.value) }, capabilities: run.capabilities))
        } catch {
            return .failed(error)
        }
    }

    // MARK: Confinement

    /// Closes what was inherited, starts what must be started while it still may (the page
    /// tracker's descriptors and signal handler, Dispatch's timer thread), then confines the
    /// process for good. Returns why it could not.
    private static func confine(memoryLimit: Int?) -> String? {
        let closed = tabula_confine_descriptors(channel)
        guard closed == 0 else { return "cannot close inherited descriptors: \(String(cString: strerror(closed)))" }
        // The page tracker opens its userfaultfd and /proc/self/pagemap (or installs its SIGSEGV
        // handler) at its first use: once confined it could open nothing.
        _ = DirtyPages.processTracking
        startTimers()
        let confined = tabula_confine(channel, UInt64(max(0, memoryLimit ?? 0)))
        guard confined == 0 else { return "cannot confine the worker: \(String(cString: strerror(confined)))" }
        return nil
    }

    /// Ends the worker as soon as its server is gone, even in the middle of a run: a server that
    /// crashed or exited cannot kill it, and nobody would read what it computes. (The idle wait
    /// notices too, but a run of a function with a long timeout would go on to its end.)
    private static func watchParent(_ parent: pid_t) -> any DispatchSourceTimer {
        let timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "tabula.worker.parent"))
        timer.setEventHandler {
            if getppid() != parent { _exit(0) }
        }
        timer.schedule(deadline: .now() + .milliseconds(250), repeating: .milliseconds(250))
        timer.activate()
        return timer
    }

    /// Fires one Dispatch timer on the clock the deadlines use, so that Dispatch creates its
    /// manager thread, epoll instance, eventfd and timerfd now rather than under the filter.
    private static func startTimers() {
        let fired = DispatchSemaphore(value: 0)
        let timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "tabula.worker.start", attributes: .concurrent))
        timer.setEventHandler { fired.signal() }
        timer.schedule(deadline: .now() + .milliseconds(1))
        timer.activate()
        _ = fired.wait(timeout: .now() + .seconds(5))
        timer.cancel()
    }

    /// For tests (`tabula worker --check-confinement NAME`): confines the process, then makes the
    /// system call `name`. Returns 0 when it survived, 64 for an unknown name, 70 when it could not
    /// confine itself; a forbidden call ends the process by SIGSYS instead.
    package static func checkConfinement(_ name: String) -> Int32 {
        if let failure = confine(memoryLimit: nil) {
            report(failure)
            return 70
        }
        return tabula_confinement_check(name) == 0 ? 0 : 64
    }

    // MARK: Channel

    /// The next frame's payload; `nil` at the end of the stream between frames.
    private static func readFrame() throws(EnclaveError) -> [UInt8]? {
        var header = [UInt8](repeating: 0, count: 4)
        guard try readExactly(&header, 0..<4, allowEnd: true) else { return nil }
        let length = try WorkerMessage.payloadLength(header: header, side: "request")
        // Grown as the bytes arrive, so that a length announced and never sent costs nothing.
        var payload: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: min(length, 1 << 20))
        while payload.count < length {
            let want = min(chunk.count, length - payload.count)
            _ = try readExactly(&chunk, 0..<want, allowEnd: false)
            payload.append(contentsOf: chunk[0..<want])
        }
        chunk.wipe()
        return payload
    }

    /// Fills `range` of `buffer`; returns false at the end of the stream before the first byte
    /// when `allowEnd`.
    private static func readExactly(_ buffer: inout [UInt8], _ range: Range<Int>, allowEnd: Bool) throws(EnclaveError) -> Bool {
        var done = range.lowerBound
        while done < range.upperBound {
            let count = buffer.withUnsafeMutableBytes { read(channel, $0.baseAddress! + done, range.upperBound - done) }
            if count < 0 {
                if errno == EINTR { continue }
                throw EnclaveError(.invalidWorkerMessage, "the worker cannot read its channel: \(String(cString: strerror(errno)))")
            }
            if count == 0 {
                if allowEnd && done == range.lowerBound { return false }
                throw EnclaveError(.invalidWorkerMessage, "the parent closed the channel in the middle of a request")
            }
            done += count
        }
        return true
    }

    private static func writeAll(_ bytes: [UInt8]) -> Bool {
        var done = 0
        while done < bytes.count {
            let count = bytes.withUnsafeBytes { write(channel, $0.baseAddress! + done, bytes.count - done) }
            if count < 0 {
                if errno == EINTR { continue }
                return false
            }
            done += count
        }
        return true
    }

    /// One line on stderr (inherited from the server, for crash messages only): never anything a
    /// function sent or wrote.
    private static func report(_ message: String) {
        let line = Array("tabula worker: \(message)\n".utf8)
        _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }
}

/// A sandbox a worker holds: the interpreter's or the native engine's.
protocol WorkerInstance: FunctionInstance {
    var initializationLogs: [UInt8] { get }
    var tracking: Rewind.Tracking { get }
}

extension Sandbox: WorkerInstance {}
extension NativeSandbox: WorkerInstance {}
