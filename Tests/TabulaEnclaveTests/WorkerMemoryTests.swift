import Foundation
import TabulaEnclave
import TabulaTestSupport
import TabulaWire
import Testing

/// A worker that goes over its memory limit (`RLIMIT_DATA` = the function's memory limit + the
/// isolation's `memoryOverhead`) stops, and only its invocation fails (issue #13, items 3 and 4).
///
/// WebAssembly cannot get there through its linear memory: the enclave's `MemoryLimiter` refuses a
/// `memory.grow` (or table growth) past the function's own limit first, and a commit the kernel
/// refuses would end the run as a trap, not the worker. What the limiter does not count is the
/// worker's own memory, which grows with what the function makes it hold: here its stdout. The
/// function grows its memory to 32 MiB (within its 64 MiB) and writes those 32 MiB to stdout 16
/// times, 512 MiB that its output limit (set to 1 GiB for the test) allows; the worker's WASI host
/// copies each write and appends it to the result, so its private memory passes 64 + 128 MiB, an
/// allocation fails and the Swift runtime ends the process. The parent sees the socket close.
@Suite("Enclave with workers: memory limit")
struct WorkerMemoryTests {
    /// `{"big":…}` grows to 32 MiB and writes it 16 times; anything else answers `{"v":[1]}`.
    private let function = probe("""
        (func (export "main")
          (local $i i32)
          (drop (call $read))
          (if (i32.eq (i32.load8_u (i32.const 4098)) (i32.const 98))
            (then
              (drop (memory.grow (i32.const 511)))
              (i32.store (i32.const 16) (i32.const 0))
              (i32.store (i32.const 20) (i32.const 33554432))
              (loop $again
                (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24)))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br_if $again (i32.lt_u (local.get $i) (i32.const 16))))))
          (call $begin)
          (call $num (i32.const 1))
          (call $end))
        """)

    private static let memoryLimit = 64 << 20
    private static let overhead = 128 << 20

    /// The `Max data size` soft limit of a process, from /proc/PID/limits.
    private func dataLimit(_ pid: Int32) -> Int? {
        guard let limits = try? String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8),
            let line = limits.split(separator: "\n").first(where: { $0.hasPrefix("Max data size") })
        else { return nil }
        return line.split(separator: " ", omittingEmptySubsequences: true).dropFirst(3).first.flatMap { Int($0) }
    }

    @Test("a worker whose function makes it hold more than its memory limit stops; only that invocation fails, and the next one works")
    func overTheLimit() async throws {
        let tenant = "memory\(UInt32.random(in: 0...UInt32.max))"
        let bystander = "bystander\(UInt32.random(in: 0...UInt32.max))"
        let isolation = Isolation.workers(executable: try TabulaExecutable.url.path, memoryOverhead: Self.overhead)
        try await withEnclave(isolation: isolation) { enclave in
            let limits = Limits(memory: Self.memoryLimit, output: 1 << 30)
            let name = try await enclave.load(function, tenant: tenant, limits: limits)
            let other = try await enclave.load(function, tenant: bystander, limits: limits)
            let ok = #"{"status":"success","success":true,"result":{"v":[1]}}"#
            #expect(try await enclave.call(name, ["small": 1]) == ok)
            #expect(try await enclave.call(other, ["small": 1]) == ok)

            // The limit the worker runs under is the one this test reasons about.
            let pid = try #require(WorkerProcesses.of(tenant).first)
            #expect(dataLimit(pid) == Self.memoryLimit + Self.overhead)

            let over = try await enclave.invoke(name, parameters: ["big": 1])
            #expect(over.response.status == .developerError)
            let error = over.response.result["error"]?.stringValue ?? ""
            #expect(error.hasPrefix("The worker running this action stopped"), "\(over.response.jsonLine)")
            #expect(error.contains("invoke it again"), "\(error)")

            // Only that invocation: the same function answers again (a new worker), and the
            // other namespace's worker never noticed.
            #expect(try await enclave.call(name, ["small": 1]) == ok)
            #expect(try await enclave.call(other, ["small": 1]) == ok)
            #expect(!WorkerProcesses.of(tenant).contains(pid))
        }
    }
}
