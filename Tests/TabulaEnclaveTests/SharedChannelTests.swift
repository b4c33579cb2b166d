import Foundation
@testable import TabulaEnclave
import TabulaTestSupport
import Testing

/// The shared-memory channel between the server and a worker (``SharedChannel``): the same results
/// as the socket, the socket for what does not fit, a dead worker noticed while the parent sleeps
/// on the futex, and a worker that writes garbage into the reply slot killed.
///
/// Every worker a test starts is terminated (killed and reaped) by a `defer`, whatever happens.
@Suite("Worker shared channel", .serialized)
struct SharedChannelTests {
    static func spawn(_ transport: WorkerProcess.Transport) throws -> WorkerProcess {
        try WorkerProcess.spawn(executable: TabulaExecutable.url.path, namespace: "test", memoryLimit: nil, transport: transport)
    }

    static func run(_ worker: WorkerProcess, key: UInt64, input: [UInt8] = Array("{}".utf8), timeout: Duration = .seconds(60)) throws(EnclaveError) -> Sandbox.Run {
        try worker.run(.init(key: key, input: input, environment: WorkerTests.environment, capabilities: .default), timeout: timeout)
    }

    /// Writes `count` bytes of 'a' to stdout and "oops" to stderr, then exits with status 3.
    static func writer(count: Int) -> [UInt8] {
        let pages = (count + 1024) / 65536 + 1
        return Array("""
        (module
          (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
          (memory (export "memory") \(pages))
          (data (i32.const 32) "oops")
          (func (export "main")
            (memory.fill (i32.const 1024) (i32.const 97) (i32.const \(count)))
            (i32.store (i32.const 0) (i32.const 1024))
            (i32.store (i32.const 4) (i32.const \(count)))
            (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
            (i32.store (i32.const 0) (i32.const 32))
            (i32.store (i32.const 4) (i32.const 4))
            (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
            (call $proc_exit (i32.const 3))))
        """.utf8)
    }

    static func same(_ a: Sandbox.Run, _ b: Sandbox.Run) -> Bool {
        a.termination == b.termination && a.stdout == b.stdout && a.stderr == b.stderr && a.sequence == b.sequence
            && a.logsTruncated == b.logsTruncated
    }

    /// The same loads and runs on a worker with the shared channel and one with the socket alone
    /// give the same results; the first's replies came through the slot, the second's did not.
    @Test func runsGiveTheSameResultsAsTheSocket() throws {
        let fast = try Self.spawn(.sharedMemory)
        defer { fast.terminate() }
        let socket = try Self.spawn(.socket)
        defer { socket.terminate() }
        #expect(fast.shared != nil && socket.shared == nil)
        let hasher = try example("c/hasher.wasm")
        for worker in [fast, socket] {
            #expect(try worker.load(WorkerTests.load(hasher, key: 1)).kind == .command)
            _ = try worker.load(WorkerTests.load(WorkerTests.counter, key: 2))
            _ = try worker.load(WorkerTests.load(Self.writer(count: 100), key: 3))
            _ = try worker.load(WorkerTests.load(WorkerTests.spinner, key: 4, limits: Limits(timeout: .milliseconds(200))))
        }
        let input = Array(#"{"text":"abc"}"#.utf8)
        for round in 0..<3 {
            let pairs = [
                (try Self.run(fast, key: 1, input: input), try Self.run(socket, key: 1, input: input)),
                (try Self.run(fast, key: 2), try Self.run(socket, key: 2)),
                (try Self.run(fast, key: 3), try Self.run(socket, key: 3)),
            ]
            for (a, b) in pairs { #expect(Self.same(a, b), "round \(round): \(a) differs from \(b)") }
            #expect(pairs[0].0.stdout.starts(with: Array(#"{"sha256":"ba7816bf"#.utf8)))
            #expect(pairs[1].0.stdout == Array(#"{"n":1}"#.utf8))
            #expect(pairs[2].0.termination == .exited(3) && pairs[2].0.stderr == Array("oops".utf8))
            #expect(pairs[0].0.sequence == UInt64(round + 1))
        }
        let spun = (try Self.run(fast, key: 4, timeout: .milliseconds(200)), try Self.run(socket, key: 4, timeout: .milliseconds(200)))
        #expect(spun.0.termination == .timedOut && Self.same(spun.0, spun.1))
        // Errors too, and an unload is acknowledged before the next request.
        for worker in [fast, socket] {
            let unknown = #expect(throws: EnclaveError.self) { try Self.run(worker, key: 9) }
            #expect(unknown?.code == .unknownFunction)
            worker.unload(key: 2)
            let unloaded = #expect(throws: EnclaveError.self) { try Self.run(worker, key: 2) }
            #expect(unloaded?.code == .unknownFunction)
            #expect(try Self.run(worker, key: 3).termination == .exited(3))
        }
        // 4 loads, 10 runs and 3 more after, all small: every reply through the slot.
        #expect(fast.replies.slot == 17 && fast.replies.socket == 0)
        #expect(socket.replies.slot == 0 && socket.replies.socket == 17)
        #expect(!fast.hasStopped && !socket.hasStopped)
    }

    /// A reply bigger than the reply slot, and a request bigger than the request slot, travel on
    /// the socket; the channel stays in step, and the next small reply uses the slot again.
    @Test func whatDoesNotFitTakesTheSocket() throws {
        let worker = try Self.spawn(.sharedMemory)
        defer { worker.terminate() }
        let count = SharedChannel.replyCapacity + 1000
        _ = try worker.load(WorkerTests.load(Self.writer(count: count), key: 1))
        _ = try worker.load(WorkerTests.load(WorkerTests.counter, key: 2))
        let before = worker.replies
        let big = try Self.run(worker, key: 1)
        #expect(big.termination == .exited(3))
        #expect(big.stdout.count == count && big.stdout.allSatisfy { $0 == 97 })
        #expect(big.stderr == Array("oops".utf8))
        #expect(worker.replies.socket == before.socket + 1 && worker.replies.slot == before.slot)

        // An input bigger than the request slot (the counter ignores it).
        let input = Array(#"{"pad":""#.utf8) + [UInt8](repeating: 98, count: SharedChannel.requestCapacity) + Array(#""}"#.utf8)
        let small = try Self.run(worker, key: 2, input: input)
        #expect(small.stdout == Array(#"{"n":1}"#.utf8))
        #expect(worker.replies.slot == before.slot + 1)
        #expect(try Self.run(worker, key: 1).stdout.count == count)
        #expect(try Self.run(worker, key: 2).stdout == Array(#"{"n":1}"#.utf8))
        #expect(worker.replies.socket == before.socket + 2 && worker.replies.slot == before.slot + 2)
    }

    /// Starts the spinner (60 s timeout) on `worker` in a task and returns it once the parent has
    /// announced the run (so it is waiting for the reply), bounded.
    static func startSpinning(_ worker: WorkerProcess) async throws -> Task<Result<Sandbox.Run, EnclaveError>, Never> {
        _ = try worker.load(WorkerTests.load(WorkerTests.spinner, limits: Limits(timeout: .seconds(60))))
        let announced = worker.shared!.lastRequest &+ 1
        let running = Task.detached { () -> Result<Sandbox.Run, EnclaveError> in
            do throws(EnclaveError) {
                return .success(try Self.run(worker, key: 1))
            } catch {
                return .failure(error)
            }
        }
        for _ in 0..<500 where worker.shared!.lastRequest != announced { try await Task.sleep(for: .milliseconds(10)) }
        #expect(worker.shared!.lastRequest == announced)
        // Long enough for the parent to be past its spin, asleep on the futex.
        try await Task.sleep(for: .milliseconds(100))
        return running
    }

    /// A worker SIGKILLed while the parent sleeps on the futex fails the run with worker_stopped
    /// promptly (the parent checks between slices of 10 ms), not at its 60 s deadline.
    @Test func aWorkerKilledWhileTheParentWaitsFailsPromptly() async throws {
        let worker = try Self.spawn(.sharedMemory)
        defer { worker.terminate() }
        let running = try await Self.startSpinning(worker)
        let killed = ContinuousClock.now
        kill(worker.processID, SIGKILL)
        guard case .failure(let error) = await running.value else {
            Issue.record("the run of a killed worker did not fail")
            return
        }
        #expect(error.code == .workerStopped)
        #expect(error.message.contains("the worker running this function stopped (signal 9, SIGKILL)"))
        #expect(ContinuousClock.now - killed < .seconds(10))
        #expect(worker.hasStopped)
    }

    /// Garbage in the reply slot, or a reply number or place out of step, as a compromised worker
    /// could write them at any moment: the run fails with invalid_worker_message and the worker is
    /// killed. The test plays the worker by writing into the parent's own mapping of the region.
    @Test(arguments: [
        ("length 2^32 - 1", [0xFF, 0xFF, 0xFF, 0xFF], SharedChannel.Place.slot.rawValue, 0 as UInt32),
        ("length zero", [0, 0, 0, 0], SharedChannel.Place.slot.rawValue, 0),
        ("length past the slot", [0x00, 0x00, 0x10, 0x00, 0x82], SharedChannel.Place.slot.rawValue, 0),
        ("unknown tag", [1, 0, 0, 0, 0x99], SharedChannel.Place.slot.rawValue, 0),
        ("truncated run", [2, 0, 0, 0, 0x82, 0], SharedChannel.Place.slot.rawValue, 0),
        ("unknown place", [1, 0, 0, 0, 0x83], 77, 0),
        ("no reply to a run", [], SharedChannel.Place.none.rawValue, 0),
        ("reply number out of step", [1, 0, 0, 0, 0x83], SharedChannel.Place.slot.rawValue, 7),
    ] as [(String, [UInt8], UInt32, UInt32)])
    func garbageInTheReplySlotKillsTheWorker(_ name: String, _ frame: [UInt8], _ place: UInt32, _ skew: UInt32) async throws {
        let worker = try Self.spawn(.sharedMemory)
        defer { worker.terminate() }
        let running = try await Self.startSpinning(worker)
        worker.shared!.forgeReply(frame: frame, place: place, sequence: worker.shared!.lastRequest &+ skew)
        guard case .failure(let error) = await running.value else {
            Issue.record("\(name): a forged reply was taken as a run")
            return
        }
        #expect(error.code == .invalidWorkerMessage, "\(name): \(error.message)")
        #expect(error.message.contains("malformed"), "\(name): \(error.message)")
        #expect(worker.hasStopped, "\(name): the worker was not killed")
        #expect(worker.ending?.contains("SIGKILL") == true)
        // Every later call fails without waiting.
        let later = #expect(throws: EnclaveError.self) { try Self.run(worker, key: 1) }
        #expect(later?.code == .workerStopped)
    }
}
