import Testing
import TabulaEnclave
import TabulaWire

/// The WASI subset: per-invocation environment, capability-gated clocks and randomness, errors
/// rather than traps for everything else.
@Suite("WASI subset")
struct WASIHostTests {
    /// A probe that calls one WASI function (`call` leaves its errno on the stack) and reports it.
    private func errno(of call: String, imports: String, capabilities: Capabilities = []) async throws -> String {
        try await withEnclave { enclave in
            let name = try await enclave.load(probe("""
                (func (export "main") (call $begin) (call $num \(call)) (call $end))
                """, imports: imports), capabilities: capabilities)
            return try await enclave.call(name)
        }
    }

    private let clock = #"(import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))"#
    private let random = #"(import "wasi_snapshot_preview1" "random_get" (func $random (param i32 i32) (result i32)))"#

    @Test func clockOnlyWhenGranted() async throws {
        #expect(try await errno(of: "(call $clock (i32.const 0) (i64.const 1) (i32.const 9000))", imports: clock) == #"{"status":"success","success":true,"result":{"v":[76]}}"#)
        #expect(try await errno(of: "(call $clock (i32.const 0) (i64.const 1) (i32.const 9000))", imports: clock, capabilities: .clock) == #"{"status":"success","success":true,"result":{"v":[0]}}"#)
    }

    @Test func randomOnlyWhenGranted() async throws {
        #expect(try await errno(of: "(call $random (i32.const 9000) (i32.const 32))", imports: random) == #"{"status":"success","success":true,"result":{"v":[76]}}"#)
        #expect(try await errno(of: "(call $random (i32.const 9000) (i32.const 32))", imports: random, capabilities: .random) == #"{"status":"success","success":true,"result":{"v":[0]}}"#)
    }

    /// One host call cannot be interrupted at the deadline, so what one call may ask for is
    /// bounded: at most 1,024 buffers per fd_write or fd_read (wasi-libc's IOV_MAX), and random
    /// bytes filled in bulk (64 MiB here, once 8 bytes per system call).
    @Test func oneHostCallStaysSmall() async throws {
        // 1,025 empty iovecs (memory is zero at 0x3000): EINVAL; 1,024 are fine.
        #expect(try await errno(of: "(call $fd_write (i32.const 1) (i32.const 0x3000) (i32.const 1025) (i32.const 9000))", imports: "") == #"{"status":"success","success":true,"result":{"v":[28]}}"#)
        #expect(try await errno(of: "(call $fd_read (i32.const 0) (i32.const 0x3000) (i32.const 1025) (i32.const 9000))", imports: "") == #"{"status":"success","success":true,"result":{"v":[28]}}"#)
        #expect(try await errno(of: "(call $fd_read (i32.const 0) (i32.const 0x3000) (i32.const 1024) (i32.const 9000))", imports: "") == #"{"status":"success","success":true,"result":{"v":[0]}}"#)
        try await withEnclave { enclave in
            let name = try await enclave.load(probe("""
                (func (export "main")
                  (drop (memory.grow (i32.const 1024)))
                  (call $begin)
                  (call $num (call $random (i32.const 0x10000) (i32.const 0x4000000)))
                  (call $num (i64.ne (i64.load (i32.const 0x400FFF8)) (i64.const 0)))
                  (call $end))
                """, memory: "1", imports: random), limits: Limits(memory: 128 << 20, timeout: .seconds(20)), capabilities: .random)
            #expect(try await enclave.call(name) == #"{"status":"success","success":true,"result":{"v":[0,1]}}"#)
        }
    }

    @Test func filesAndSocketsAnswerErrorsNotTraps() async throws {
        let open = #"(import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))"#
        #expect(try await errno(of: "(call $open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 4) (i32.const 0) (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 9000))", imports: open) == #"{"status":"success","success":true,"result":{"v":[76]}}"#)
        let prestat = #"(import "wasi_snapshot_preview1" "fd_prestat_get" (func $prestat (param i32 i32) (result i32)))"#
        #expect(try await errno(of: "(call $prestat (i32.const 3) (i32.const 9000))", imports: prestat) == #"{"status":"success","success":true,"result":{"v":[8]}}"#)
        let accept = #"(import "wasi_snapshot_preview1" "sock_accept" (func $accept (param i32 i32 i32) (result i32)))"#
        #expect(try await errno(of: "(call $accept (i32.const 3) (i32.const 0) (i32.const 9000))", imports: accept) == #"{"status":"success","success":true,"result":{"v":[58]}}"#)
        #expect(try await errno(of: "(call $fd_write (i32.const 7) (i32.const 0) (i32.const 0) (i32.const 9000))", imports: "") == #"{"status":"success","success":true,"result":{"v":[8]}}"#)
        // A pointer outside memory is EFAULT, not a crash.
        #expect(try await errno(of: "(call $fd_write (i32.const 1) (i32.const 70000) (i32.const 1) (i32.const 9000))", imports: "") == #"{"status":"success","success":true,"result":{"v":[21]}}"#)
    }

    @Test func closingStdoutLastsOneInvocation() async throws {
        let close = #"(import "wasi_snapshot_preview1" "fd_close" (func $close (param i32) (result i32)))"#
        try await withEnclave { enclave in
            let name = try await enclave.load(probe("""
                (func (export "main") (call $begin) (call $num (i32.const 1)) (call $end) (drop (call $close (i32.const 1))))
                """, imports: close))
            for _ in 0..<3 {
                #expect(try await enclave.call(name) == #"{"status":"success","success":true,"result":{"v":[1]}}"#)
            }
        }
    }

    @Test func environmentCarriesTheOpenWhiskVariables() async throws {
        // Writes the environment block (NULs turned into newlines) to stderr.
        let sizes = #"(import "wasi_snapshot_preview1" "environ_sizes_get" (func $sizes (param i32 i32) (result i32)))"#
        let get = #"(import "wasi_snapshot_preview1" "environ_get" (func $get (param i32 i32) (result i32)))"#
        let module = probe("""
            (func (export "main")
              (local $i i32)
              (drop (call $sizes (i32.const 8200) (i32.const 8204)))
              (drop (call $get (i32.const 8300) (i32.const 10000)))
              (block $b (loop $l
                (br_if $b (i32.ge_u (local.get $i) (i32.load (i32.const 8204))))
                (if (i32.eqz (i32.load8_u (i32.add (i32.const 10000) (local.get $i))))
                  (then (i32.store8 (i32.add (i32.const 10000) (local.get $i)) (i32.const 10))))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br $l)))
              (i32.store (i32.const 0) (i32.const 10000))
              (i32.store (i32.const 4) (i32.load (i32.const 8204)))
              (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
              (call $begin) (call $num (i32.load (i32.const 8200))) (call $end))
            """, imports: sizes + get)
        try await withEnclave { enclave in
            let name = try await enclave.load(module, name: "envy", tenant: "acme")
            let invocation = try await enclave.invoke(name, parameters: [:], activationID: "0123456789abcdef0123456789abcdef")
            #expect(invocation.response.result == ["v": [4]])
            #expect(invocation.logs.contains("__OW_ACTIVATION_ID=0123456789abcdef0123456789abcdef"))
            #expect(invocation.logs.contains("__OW_ACTION_NAME=/acme/envy"))
            #expect(invocation.logs.contains("__OW_NAMESPACE=acme"))
            #expect(invocation.logs.contains { $0.hasPrefix("__OW_DEADLINE=") })
            let second = try await enclave.invoke(name, parameters: [:])
            #expect(second.logs.contains("__OW_ACTIVATION_ID=\(second.activationID)"))
        }
    }
}
