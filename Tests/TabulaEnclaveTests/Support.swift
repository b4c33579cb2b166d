import Dispatch
import Foundation
import TabulaEnclave
import TabulaTestSupport
import TabulaWire
import Testing

/// Runs `body` with a fresh enclave and shuts it down afterwards, whatever happens.
func withEnclave<T>(
    threads: Int? = nil, monitor: Monitor? = nil, isolation: Isolation = .inProcess, engines: Engines = .interpreterOnly, _ body: (Enclave) async throws -> T
) async throws -> T {
    let enclave = Enclave(threads: threads, monitor: monitor, isolation: isolation, engines: engines)
    do {
        let result = try await body(enclave)
        try await enclave.shutdown()
        return result
    } catch {
        try await enclave.shutdown()
        throw error
    }
}

/// Where a test's enclave runs tenant code, and with which engine: tests that go through
/// `Enclave` and must hold in every combination (the rewind, residue and example tests) take
/// these as arguments.
enum TestIsolation: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case inProcess = "in-process"
    /// Confined worker processes of the `tabula` binary the build made.
    case workers
    /// The native engine, in process.
    case native = "native in-process"
    /// The native engine in workers, compiled by `tabula native-compile`.
    case nativeWorkers = "native in workers"

    var isolation: Isolation {
        get throws {
            switch self {
            case .inProcess, .native: .inProcess
            case .workers, .nativeWorkers: .workers(executable: try TabulaExecutable.url.path)
            }
        }
    }

    /// The engines the enclave has: the native engine for the native cases (a test fails when it
    /// is unavailable: CI has the toolchain's clang).
    var engines: Engines {
        get async throws {
            switch self {
            case .inProcess, .workers: return .interpreterOnly
            case .native: return try await Self.nativeEngines(child: nil)
            case .nativeWorkers: return try await Self.nativeEngines(child: try TabulaExecutable.url.path)
            }
        }
    }

    /// The engine a module the translator accepts runs with.
    var engine: ExecutionEngine {
        switch self {
        case .inProcess, .workers: .interpreter
        case .native, .nativeWorkers: .native
        }
    }

    /// The native engine (finding it compiles a probe, once per process: off the cooperative pool).
    static func nativeEngines(child: String?) async throws -> Engines {
        let engines = try await offThePool { Engines.detect(childExecutable: child) }
        guard engines.compiler != nil else {
            throw EnclaveError(.compilationFailed, "the native engine is unavailable here: \(engines.unavailable ?? "")")
        }
        return engines
    }

    var testDescription: String { rawValue }
}

/// Runs `body` with a fresh enclave of the given runtime.
func withEnclave<T>(runtime: TestIsolation, monitor: Monitor? = nil, _ body: (Enclave) async throws -> T) async throws -> T {
    try await withEnclave(monitor: monitor, isolation: try runtime.isolation, engines: try await runtime.engines, body)
}

/// Runs blocking work (compiling with clang, waiting for a child process) on a thread of its own,
/// never on Swift's cooperative pool: it has as many threads as cores (two here), and a test that
/// blocks them stalls every other test of the process, timeouts and all. Not on Dispatch's global
/// queue either, whose threads on Linux are as few and shared with the pool.
func offThePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

/// The repository's `examples/` directory.
let examplesDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("examples")

func example(_ path: String) throws -> [UInt8] {
    Array(try Data(contentsOf: examplesDirectory.appendingPathComponent(path)))
}

/// The error that loading `module` in a fresh enclave fails with; `nil` when it loads. Any error
/// that is not an ``EnclaveError`` is recorded as an issue: loading reports everything as one.
func loadingError(_ module: [UInt8], main: String = "main", limits: Limits = Limits(), capabilities: Capabilities = []) async -> EnclaveError? {
    do {
        _ = try await withEnclave { try await $0.load(module, main: main, limits: limits, capabilities: capabilities) }
        return nil
    } catch let error as EnclaveError {
        return error
    } catch {
        Issue.record("unexpected error \(error)")
        return nil
    }
}

extension Enclave {
    /// Loads WAT text or module bytes as `tenant/name` and returns its name.
    @discardableResult
    func load(_ module: [UInt8], name: String = "probe", tenant: String = "test", main: String = "main", limits: Limits = Limits(), capabilities: Capabilities = [], maxSandboxes: Int = 1) async throws -> FunctionName {
        let functionName = FunctionName(namespace: tenant, name: name)
        try await load(FunctionDefinition(name: functionName, module: module, main: main, limits: limits, capabilities: capabilities, maxSandboxes: maxSandboxes))
        return functionName
    }

    /// Invokes and returns the activation response as its JSON line.
    func call(_ name: FunctionName, _ parameters: JSONValue = [:]) async throws -> String {
        try await invoke(name, parameters: parameters).response.jsonLine
    }
}

/// Builds a reactor module in WAT whose `main` reports observations as `{"v":[n, …]}`.
///
/// Layout of the probe's memory: 0-16 iovecs and counts, 256-2048 the output being built,
/// 4096-8192 stdin (read by `$read`, never cleared by the probe), 8192 and up free for the test.
/// Helpers: `$begin`, `$num n` (appends an unsigned number), `$end` (writes the output), `$read`
/// (reads stdin, returns its length).
func probe(_ body: String, memory: String = "1", imports: String = "") -> [UInt8] {
    Array("""
    (module
      (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
      \(imports)
      (memory (export "memory") \(memory))
      (global $out (mut i32) (i32.const 256))
      (global $first (mut i32) (i32.const 1))
      (func $byte (param $b i32)
        (i32.store8 (global.get $out) (local.get $b))
        (global.set $out (i32.add (global.get $out) (i32.const 1))))
      (func $digits (param $n i32)
        (if (i32.ge_u (local.get $n) (i32.const 10))
          (then (call $digits (i32.div_u (local.get $n) (i32.const 10)))))
        (call $byte (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10)))))
      (func $num (param $n i32)
        (if (i32.eqz (global.get $first)) (then (call $byte (i32.const 44))))
        (global.set $first (i32.const 0))
        (call $digits (local.get $n)))
      (func $begin
        (global.set $out (i32.const 256))
        (global.set $first (i32.const 1))
        (call $byte (i32.const 123)) (call $byte (i32.const 34)) (call $byte (i32.const 118))
        (call $byte (i32.const 34)) (call $byte (i32.const 58)) (call $byte (i32.const 91)))
      (func $end
        (call $byte (i32.const 93)) (call $byte (i32.const 125))
        (i32.store (i32.const 0) (i32.const 256))
        (i32.store (i32.const 4) (i32.sub (global.get $out) (i32.const 256)))
        (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
      (func $read (result i32)
        (local $total i32)
        (block $done
          (loop $more
            (i32.store (i32.const 0) (i32.add (i32.const 4096) (local.get $total)))
            (i32.store (i32.const 4) (i32.sub (i32.const 4096) (local.get $total)))
            (br_if $done (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
            (br_if $done (i32.eqz (i32.load (i32.const 8))))
            (local.set $total (i32.add (local.get $total) (i32.load (i32.const 8))))
            (br_if $done (i32.ge_u (local.get $total) (i32.const 4096)))
            (br $more)))
        (local.get $total))
      \(body)
    )
    """.utf8)
}

/// Writes a fixed string to stdout; for output-shape tests.
func printer(_ text: String, fd: Int = 1) -> [UInt8] {
    let escaped = text.utf8.map { String(format: "\\%02x", $0) }.joined()
    return Array("""
    (module
      (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 64) "\(escaped)")
      (func (export "_start")
        (i32.store (i32.const 0) (i32.const 64))
        (i32.store (i32.const 4) (i32.const \(text.utf8.count)))
        (drop (call $fd_write (i32.const \(fd)) (i32.const 0) (i32.const 1) (i32.const 8)))))
    """.utf8)
}
