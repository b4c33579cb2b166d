import Foundation
import TabulaAttestation
import TabulaEnclave
import TabulaTestSupport
import TabulaWire
import Testing

/// An enclave that runs tenants' code in confined worker processes (what `tabula serve` does by
/// default): each namespace's code in processes of its own, none of them holding a key, and a
/// worker's death taking only its own invocation with it.
@Suite("Enclave with workers")
struct WorkerIsolationTests {
    /// `{"spin":…}` loops until its deadline; anything else is echoed back as `{"v":[n]}` where n
    /// is the input's length.
    private let function = probe("""
        (func (export "main")
          (local $n i32)
          (local.set $n (call $read))
          (if (i32.eq (i32.load8_u (i32.const 4098)) (i32.const 115)) (then (loop $forever (br $forever))))
          (call $begin)
          (call $num (local.get $n))
          (call $end))
        """)

    private func withWorkers<T>(monitor: Monitor? = nil, perNamespace: Int = Isolation.defaultWorkersPerNamespace, _ body: (Enclave) async throws -> T) async throws -> T {
        try await withEnclave(monitor: monitor, isolation: .workers(executable: try TabulaExecutable.url.path, perNamespace: perNamespace), body)
    }

    private func status(_ pid: Int32) throws -> [String] {
        try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8).split(separator: "\n").map(String.init)
    }

    private func unique(_ prefix: String) -> String { "\(prefix)\(UInt32.random(in: 0...UInt32.max))" }

    @Test("each namespace's code runs in confined workers of its own")
    func namespacesHaveWorkersOfTheirOwn() async throws {
        let (alice, bob) = (unique("alice"), unique("bob"))
        try await withWorkers { enclave in
            let first = try await enclave.load(function, name: "f", tenant: alice)
            let second = try await enclave.load(function, name: "f", tenant: bob)
            #expect(try await enclave.call(first, ["x": 1]) == #"{"status":"success","success":true,"result":{"v":[7]}}"#)
            #expect(try await enclave.call(second, ["yy": 1]) == #"{"status":"success","success":true,"result":{"v":[8]}}"#)
            let (alices, bobs) = (WorkerProcesses.of(alice), WorkerProcesses.of(bob))
            #expect(alices.count == 1)
            #expect(bobs.count == 1)
            #expect(Set(alices).isDisjoint(with: bobs))
            for pid in alices + bobs {
                let lines = try status(pid)
                #expect(lines.contains("Seccomp:\t2"))
                #expect(lines.contains("NoNewPrivs:\t1"))
            }
        }
    }

    @Test("a worker killed in the middle of an invocation fails only that invocation, and is replaced")
    func killedWorkerFailsOnlyItsInvocation() async throws {
        let (alice, bob) = (unique("alice"), unique("bob"))
        try await withWorkers { enclave in
            let spinner = try await enclave.load(function, name: "f", tenant: alice, limits: Limits(timeout: .seconds(60)))
            let other = try await enclave.load(function, name: "f", tenant: bob)
            let victim = try #require(WorkerProcesses.of(alice).first)
            let running = Task { try await enclave.invoke(spinner, parameters: ["spin": true]) }
            // Let the run start, then kill its worker.
            try await Task.sleep(for: .milliseconds(300))
            #expect(kill(victim, SIGKILL) == 0)
            let failed = try await running.value
            #expect(failed.response.status == .developerError)
            let message = try #require(failed.response.result["error"]?.stringValue)
            #expect(message.hasPrefix("The worker running this action stopped: signal 9, SIGKILL"))
            // The other namespace never noticed; the killed worker's function gets a new one.
            #expect(try await enclave.call(other, ["x": 1]) == #"{"status":"success","success":true,"result":{"v":[7]}}"#)
            #expect(try await enclave.call(spinner, ["x": 1]) == #"{"status":"success","success":true,"result":{"v":[7]}}"#)
            let replacements = WorkerProcesses.of(alice)
            #expect(replacements.count == 1)
            #expect(!replacements.contains(victim))
        }
    }

    @Test("an idle worker killed between invocations is replaced before the next one")
    func idleWorkerKilled() async throws {
        let alice = unique("alice")
        try await withWorkers { enclave in
            let name = try await enclave.load(function, name: "f", tenant: alice)
            #expect(try await enclave.call(name, ["x": 1]) == #"{"status":"success","success":true,"result":{"v":[7]}}"#)
            let victim = try #require(WorkerProcesses.of(alice).first)
            #expect(kill(victim, SIGKILL) == 0)
            // Wait (bounded: 20 s, for a loaded CI machine) until it is gone, so that the pool
            // sees it dead.
            for _ in 0..<2000 where (try? String(contentsOfFile: "/proc/\(victim)/status", encoding: .utf8))?.contains("State:\tZ") != true {
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(try await enclave.call(name, ["x": 1]) == #"{"status":"success","success":true,"result":{"v":[7]}}"#)
        }
    }

    /// The monitor's keys live in this (the test's) process; workers are started by
    /// `posix_spawn` of a new program, not forked, and receive only one invocation's data. (That
    /// the search finds what a worker does hold is shown in WorkerTests, with an input marker.)
    @Test("no worker's memory holds a long-term key, after plain and confidential invocations")
    func noWorkerHoldsAKey() async throws {
        let tenant = unique("carol")
        let monitor = try await Monitor.start(provider: SimulatedTEE.ephemeral())
        try await withWorkers(monitor: monitor) { enclave in
            let name = try await enclave.load(function, name: "f", tenant: tenant)
            #expect(try await enclave.call(name, ["x": 1]) == #"{"status":"success","success":true,"result":{"v":[7]}}"#)
            let call = try SealedCall(to: monitor, path: "/api/v1/namespaces/\(tenant)/actions/f", parameters: Array(#"{"x":"confidential"}"#.utf8))
            let outcome = try await enclave.invoke(name, sealed: try enclave.open(sealed: call.sealed), caller: tenant, activationID: "k1")
            let answer = try call.open(outcome)
            #expect(answer.status == 200, "\(String(decoding: answer.content, as: UTF8.self))")

            // Each key as its bytes, and reversed: BoringSSL keeps a P-256 scalar as
            // little-endian words, the reverse of its raw representation.
            let keys = monitor.privateKeyBytesForTests
            #expect(keys.count >= 3)
            let needles = keys + keys.map { Array($0.reversed()) }
            let pids = WorkerProcesses.of(tenant)
            #expect(!pids.isEmpty)
            for pid in pids {
                let there = try ProcessMemory.search(pid: pid, forAny: needles, runtimeDataOnly: true)
                #expect(there.found.allSatisfy { !$0 }, "worker \(pid) holds a key")
                #expect(there.bytesRead > 1 << 20)
            }
        }
    }

    @Test("a namespace has at most its cap of workers: idle ones of its other functions make room, busy ones do not")
    func namespaceCap() async throws {
        let alice = unique("alice")
        let slow = Limits(timeout: .seconds(60))
        try await withWorkers(perNamespace: 2) { enclave in
            let first = try await enclave.load(function, name: "f1", tenant: alice, limits: slow)
            _ = try await enclave.load(function, name: "f2", tenant: alice, limits: slow)
            #expect(WorkerProcesses.of(alice).count == 2)
            // A third function takes the place of an idle worker of the other two.
            let third = try await enclave.load(function, name: "f3", tenant: alice, limits: slow, maxSandboxes: 2)
            #expect(WorkerProcesses.of(alice).count == 2)
            // Two runs of it keep both places busy (the second takes the last idle worker's place).
            let runs = (0..<2).map { _ in Task { try await enclave.invoke(third, parameters: ["spin": true]) } }
            for _ in 0..<500 where WorkerProcesses.of(alice).count < 2 { try await Task.sleep(for: .milliseconds(10)) }
            try await Task.sleep(for: .milliseconds(300))
            let error = await #expect(throws: EnclaveError.self) { try await enclave.invoke(first, parameters: ["x": 1]) }
            #expect(error?.code == .limitExceeded)
            #expect(error?.message.contains("already runs 2 workers") == true)
            #expect(WorkerProcesses.of(alice).count == 2)
            enclave.endRuns()
            for run in runs { _ = try? await run.value }
        }
    }
}
