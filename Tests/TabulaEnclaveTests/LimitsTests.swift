import Testing
import TabulaEnclave
import TabulaWire

/// Every limit ends the invocation with a clear developer error, and the sandbox then serves the
/// next invocation normally.
@Suite("Limits")
struct LimitsTests {
    private let runaway = probe("""
        (func $recurse (param $n i32) (result i32)
          (i32.add (call $recurse (i32.add (local.get $n) (i32.const 1))) (i32.const 1)))
        (func (export "main")
          (drop (call $read))
          (call $begin)
          (call $num (i32.load (i32.const 9000)))
          (i32.store (i32.const 9000) (i32.const 77))
          ;; {"spin":…} loops, {"deep":…} recurses, {"grow":…} asks for 64 MiB, {"out":…} floods stdout,
          ;; {"logs":…} floods stderr
          (if (i32.eq (i32.load8_u (i32.const 4098)) (i32.const 115)) (then (loop $forever (br $forever))))
          (if (i32.eq (i32.load8_u (i32.const 4098)) (i32.const 100)) (then (drop (call $recurse (i32.const 0)))))
          (if (i32.eq (i32.load8_u (i32.const 4098)) (i32.const 103)) (then (call $num (memory.grow (i32.const 1024)))))
          (if (i32.eq (i32.load8_u (i32.const 4098)) (i32.const 111))
            (then (loop $flood
              (i32.store (i32.const 0) (i32.const 20000))
              (i32.store (i32.const 4) (i32.const 40000))
              (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
              (br $flood))))
          (if (i32.eq (i32.load8_u (i32.const 4098)) (i32.const 108))
            (then
              (i32.store (i32.const 0) (i32.const 20000))
              (i32.store (i32.const 4) (i32.const 5000))
              (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))))
          (call $end))
        """)

    private let clean = #"{"status":"success","success":true,"result":{"v":[0]}}"#

    private func expectLimit(_ input: JSONValue, limits: Limits, message: String) async throws {
        try await withEnclave { enclave in
            let name = try await enclave.load(runaway, limits: limits)
            #expect(try await enclave.call(name, ["x": 1]) == clean)
            let failed = try await enclave.invoke(name, parameters: input)
            #expect(failed.response.status == .developerError)
            #expect(failed.response.result["error"] == .string(message))
            #expect(try await enclave.call(name, ["x": 1]) == clean)
            #expect(try await enclave.call(name, ["x": 1]) == clean)
        }
    }

    @Test func fuel() async throws {
        try await expectLimit(["spin": true], limits: Limits(fuel: 100_000), message: "The action ran out of fuel: its limit is 100000 units.")
    }

    @Test func wallClockTimeout() async throws {
        try await expectLimit(["spin": true], limits: Limits(timeout: .milliseconds(150)), message: "The action exceeded its time limits of 150 milliseconds.")
    }

    /// The deadline timer is set once and reused: runs that end early leave it set for an earlier
    /// run's deadline. A later run that spins must still be stopped at its own deadline, not
    /// sooner and not much later, and twice in a row.
    @Test func timeoutAfterManyShortRuns() async throws {
        try await withEnclave { enclave in
            let name = try await enclave.load(runaway, limits: Limits(timeout: .milliseconds(300)))
            for _ in 0..<50 { #expect(try await enclave.call(name, ["x": 1]) == clean) }
            // Let the deadline of the first short run pass, so the timer fires with no run in progress.
            try await Task.sleep(for: .milliseconds(350))
            for _ in 0..<2 {
                #expect(try await enclave.call(name, ["x": 1]) == clean)
                try await Task.sleep(for: .milliseconds(150))
                let clock = ContinuousClock()
                let started = clock.now
                let failed = try await enclave.invoke(name, parameters: ["spin": true])
                #expect(failed.response.result["error"] == "The action exceeded its time limits of 300 milliseconds.")
                #expect(clock.now - started >= .milliseconds(300))
                #expect(clock.now - started < .seconds(5))
            }
            #expect(try await enclave.call(name, ["x": 1]) == clean)
        }
    }

    @Test func stackExhaustion() async throws {
        try await expectLimit(["deep": true], limits: Limits(stack: 64 << 10), message: "The action exhausted its call stack (64 KiB).")
    }

    @Test func outputSize() async throws {
        try await expectLimit(["out": true], limits: Limits(output: 100_000), message: "The action produced more than 100000 bytes of output.")
    }

    @Test func memoryGrowthBeyondTheLimitFails() async throws {
        try await withEnclave { enclave in
            let name = try await enclave.load(runaway, limits: Limits(memory: 4 << 20))
            // memory.grow answers -1, as WebAssembly specifies for a refused growth.
            #expect(try await enclave.call(name, ["grow": true]) == #"{"status":"success","success":true,"result":{"v":[0,4294967295]}}"#)
            #expect(try await enclave.call(name, ["x": 1]) == clean)
        }
    }

    @Test func initialMemoryBeyondTheLimitIsRefusedAtLoad() async throws {
        await #expect(throws: EnclaveError(.limitExceeded, "the module's initial memory is 2 MiB but the function's memory limit is 1 MiB; raise the limit or shrink the module's memory")) {
            try await withEnclave { try await $0.load(probe("(func (export \"main\"))", memory: "32"), limits: Limits(memory: 1 << 20)) }
        }
    }

    @Test func logsAreTruncatedAndTheRunContinues() async throws {
        try await withEnclave { enclave in
            let name = try await enclave.load(runaway, limits: Limits(logs: 1000))
            let invocation = try await enclave.invoke(name, parameters: ["logs": true])
            #expect(invocation.response.status == .success)
            #expect(invocation.logs.last == "Logs were truncated because the total bytes size exceeds the limit of 1000 bytes.")
            #expect(invocation.logs.dropLast().joined().utf8.count == 1000)
        }
    }

    @Test func parametersOverTheInputLimitAreRefused() async throws {
        try await withEnclave { enclave in
            let name = try await enclave.load(runaway, limits: Limits(input: 64))
            await #expect(throws: EnclaveError.self) {
                try await enclave.invoke(name, parameters: ["big": .string(String(repeating: "x", count: 100))])
            }
            #expect(try await enclave.call(name, ["x": 1]) == clean)
        }
    }

    @Test func invalidLimitsAreRefused() async throws {
        await #expect(throws: EnclaveError.self) {
            try await withEnclave { try await $0.load(runaway, limits: Limits(memory: 1000)) }
        }
    }
}
