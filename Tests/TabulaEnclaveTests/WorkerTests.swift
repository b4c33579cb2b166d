import Foundation
@testable import TabulaEnclave
import TabulaTestSupport
import Testing

/// Worker processes (`tabula worker`): the real executable, confined, serving loads and runs over
/// its channel; what happens when it dies; what its seccomp filter kills; what its memory holds.
///
/// Every worker a test starts is terminated (killed and reaped) by a `defer`, whatever happens.
@Suite("Worker processes", .serialized)
struct WorkerTests {
    static func spawn(namespace: String = "test") throws -> WorkerProcess {
        try WorkerProcess.spawn(executable: TabulaExecutable.url.path, namespace: namespace, memoryLimit: nil)
    }

    static let environment = [("__OW_ACTIVATION_ID", "0123456789abcdef0123456789abcdef"), ("__OW_NAMESPACE", "test")]

    /// A reactor that counts its invocations in a global: from the snapshot, every run says 1.
    static let counter = Array("""
    (module
      (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (global $n (mut i32) (i32.const 0))
      (data (i32.const 16) "{\\"n\\":0}")
      (func (export "main")
        (global.set $n (i32.add (global.get $n) (i32.const 1)))
        (i32.store8 (i32.const 21) (i32.add (i32.const 48) (global.get $n)))
        (i32.store (i32.const 0) (i32.const 16))
        (i32.store (i32.const 4) (i32.const 7))
        (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
    """.utf8)

    /// Reads stdin into its memory, then spins until its deadline.
    static let spinner = Array("""
    (module
      (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 2)
      (func (export "main")
        (i32.store (i32.const 0) (i32.const 1024))
        (i32.store (i32.const 4) (i32.const 65536))
        (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
        (loop $spin (br $spin))))
    """.utf8)

    static func load(_ module: [UInt8], key: UInt64 = 1, limits: Limits = Limits()) -> WorkerMessage.Load {
        WorkerMessage.Load(key: key, name: "test/probe", module: module, main: "main", limits: limits, initializationTimeout: .seconds(10))
    }

    @Test func runsLikeTheEnclaveAndStartsFromTheSnapshot() throws {
        let worker = try Self.spawn()
        defer { worker.terminate() }
        let hasher = try example("c/hasher.wasm")
        let input = Array(#"{"text":"abc"}"#.utf8)

        let loaded = try worker.load(Self.load(hasher))
        let module = try FunctionModule(bytes: hasher, memoryLimit: Limits().memory)
        let local = try Sandbox(id: 1, module: module, limits: Limits(), name: "test/probe")
        #expect(loaded.kind == module.kind && loaded.entry == module.entry)
        #expect(loaded.moduleDigest == module.digest)
        #expect(loaded.snapshotDigest == local.snapshot.digest)

        let remote = try worker.run(.init(key: 1, input: input, environment: Self.environment, capabilities: .default), timeout: .seconds(60))
        let expected = try local.run(input: input, environment: Self.environment, capabilities: .default)
        #expect(remote.termination == expected.termination)
        #expect(String(decoding: remote.stdout, as: UTF8.self) == String(decoding: expected.stdout, as: UTF8.self))
        #expect(remote.stdout.starts(with: Array(#"{"sha256":"ba7816bf"#.utf8)))
        #expect(remote.sequence == 1)

        // A second function in the same worker; every run starts from its snapshot.
        _ = try worker.load(Self.load(Self.counter, key: 2))
        for sequence in 1...3 as ClosedRange<UInt64> {
            let run = try worker.run(.init(key: 2, input: Array("{}".utf8), environment: [], capabilities: []), timeout: .seconds(60))
            #expect(String(decoding: run.stdout, as: UTF8.self) == #"{"n":1}"#)
            #expect(run.sequence == sequence)
            #expect(run.termination == .returned)
        }
        // Errors come back as errors, and the worker keeps serving.
        let unknown = #expect(throws: EnclaveError.self) { try worker.run(.init(key: 9, input: [], environment: [], capabilities: []), timeout: .seconds(5)) }
        #expect(unknown?.code == .unknownFunction)
        let invalid = #expect(throws: EnclaveError.self) { try worker.load(Self.load(Array("(module".utf8), key: 3)) }
        #expect(invalid?.code == .invalidModule)
        worker.unload(key: 2)
        let unloaded = #expect(throws: EnclaveError.self) { try worker.run(.init(key: 2, input: [], environment: [], capabilities: []), timeout: .seconds(5)) }
        #expect(unloaded?.code == .unknownFunction)
        #expect(try worker.run(.init(key: 1, input: input, environment: Self.environment, capabilities: .default), timeout: .seconds(60)).stdout == expected.stdout)
    }

    /// SIGKILL in the middle of a run: the run fails with workerStopped at once (not at its 60 s
    /// deadline), and a new worker serves. While the run spins, the worker's memory holds its
    /// input (the search's positive control) and not a key made only in this process.
    @Test func aKilledWorkerFailsItsRunAndIsReplaced() async throws {
        let worker = try Self.spawn()
        defer { worker.terminate() }
        _ = try worker.load(Self.load(Self.spinner, limits: Limits(timeout: .seconds(60))))
        let marker = Array("tabula-marker-\(UUID().uuidString)".utf8)
        var key = [UInt8](repeating: 0, count: 32)
        for index in key.indices { key[index] = UInt8.random(in: 0...255) }

        let running = Task.detached { () -> Result<Sandbox.Run, EnclaveError> in
            do throws(EnclaveError) {
                return .success(try worker.run(.init(key: 1, input: marker, environment: [], capabilities: []), timeout: .seconds(60)))
            } catch {
                return .failure(error)
            }
        }
        // The input is in the worker once the function has read it: wait for that, bounded.
        var search = try ProcessMemory.search(pid: worker.processID, for: marker)
        for _ in 0..<100 {
            search = try ProcessMemory.search(pid: worker.processID, for: marker)
            if search.found { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(search.found, "the marker passed as input was not found in the worker's memory (\(search.bytesRead) bytes read)")
        let keySearch = try ProcessMemory.search(pid: worker.processID, for: key)
        #expect(!keySearch.found)
        #expect(keySearch.bytesRead > 1 << 20)

        let killed = ContinuousClock.now
        kill(worker.processID, SIGKILL)
        let result = await running.value
        guard case .failure(let error) = result else {
            Issue.record("the run of a killed worker did not fail")
            return
        }
        #expect(error.code == .workerStopped)
        let expected = "the worker running this function stopped (signal 9, SIGKILL)"
        #expect(error.message.contains(expected))
        // At once, not at the run's 60 s deadline (the bound leaves room for a loaded machine).
        #expect(ContinuousClock.now - killed < .seconds(30))
        #expect(worker.hasStopped)
        // Every later call fails the same way, without waiting.
        let later = #expect(throws: EnclaveError.self) { try worker.run(.init(key: 1, input: [], environment: [], capabilities: []), timeout: .seconds(60)) }
        #expect(later?.code == .workerStopped)

        let replacement = try Self.spawn()
        defer { replacement.terminate() }
        _ = try replacement.load(Self.load(Self.counter))
        let run = try replacement.run(.init(key: 1, input: Array("{}".utf8), environment: [], capabilities: []), timeout: .seconds(60))
        #expect(String(decoding: run.stdout, as: UTF8.self) == #"{"n":1}"#)
    }

    /// A function that runs out its own timeout is ended by the worker itself, which goes on.
    @Test func aRunPastItsTimeoutEndsInTheWorker() throws {
        let worker = try Self.spawn()
        defer { worker.terminate() }
        _ = try worker.load(Self.load(Self.spinner, limits: Limits(timeout: .milliseconds(200))))
        let run = try worker.run(.init(key: 1, input: Array("{}".utf8), environment: [], capabilities: []), timeout: .milliseconds(200))
        #expect(run.termination == .timedOut)
        #expect(!worker.hasStopped)
    }

    /// How `tabula worker --check-confinement NAME` ends: its exit status, or the signal that
    /// killed it.
    static func check(_ name: String) throws -> (reason: Process.TerminationReason, status: Int32) {
        let process = Process()
        process.executableURL = try TabulaExecutable.url
        process.arguments = ["worker", "--check-confinement", name]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            Issue.record("\(name): the check did not end within 30 s")
        }
        return (process.terminationReason, process.terminationStatus)
    }

    @Test(arguments: [
        "socket", "connect", "bind", "accept", "openat", "open", "creat", "execve", "execveat", "ptrace", "fork", "vfork", "clone",
        "kill", "tgkill", "mount", "bpf", "process_vm_readv", "setuid", "userfaultfd", "ioctl",
    ])
    func aForbiddenSystemCallKillsTheWorker(_ name: String) throws {
        let ended = try Self.check(name)
        #expect(ended.reason == .uncaughtSignal, "\(name) did not kill the worker: it exited with \(ended.status)")
        #expect(ended.status == SIGSYS)
    }

    /// The positive control: an allowed call returns, and the process exits 0.
    @Test func anAllowedSystemCallReturns() throws {
        let ended = try Self.check("getpid")
        #expect(ended.reason == .exit)
        #expect(ended.status == 0)
        let unknown = try Self.check("no-such-call")
        #expect(unknown.reason == .exit && unknown.status == 64)
    }
}
