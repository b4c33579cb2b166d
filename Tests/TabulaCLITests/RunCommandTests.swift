import Dispatch
import Foundation
import TabulaTestSupport
import Testing

/// `tabula run` as a user runs it: the real executable, real files, stdout and stderr.
@Suite("tabula run")
struct RunCommandTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The `tabula` executable built next to the test bundle.
    static var executable: URL {
        get throws { try TabulaExecutable.url }
    }

    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
        var lines: [String] { stdout.split(separator: "\n").map(String.init) }
    }

    /// Runs the `tabula` binary to its end, off Swift's cooperative pool (a `tabula run` compiles
    /// for seconds, and a blocked pool stalls every other test of the process).
    static func tabula(_ arguments: [String], stdin: String? = nil, environment: [String: String] = [:]) async throws -> Output {
        let executable = try executable
        return try await withCheckedThrowingContinuation { continuation in
            // A thread of its own: Dispatch's global queue shares its few threads with the pool.
            Thread { continuation.resume(with: Result { try run(executable, arguments, stdin: stdin, environment: environment) }) }.start()
        }
    }

    static func run(_ executable: URL, _ arguments: [String], stdin: String?, environment: [String: String]) throws -> Output {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, given in given }
        process.currentDirectoryURL = repository
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Output(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self))
    }

    @Test func oneLinePerInputInOneReusedSandbox() async throws {
        let inputs = FileManager.default.temporaryDirectory.appendingPathComponent("tabula-run-\(UUID().uuidString).jsonl")
        try "{\"text\":\"abc\"}\n\n{\"text\":\"hello world\"}\n{\"text\":\"abc\"}\n".write(to: inputs, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: inputs) }
        let output = try await Self.tabula(["run", "examples/c/hasher.wasm", "--inputs", inputs.path])
        #expect(output.status == 0)
        #expect(output.lines == [
            #"{"status":"success","success":true,"result":{"length":3,"rounds":1,"sha256":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}}"#,
            #"{"status":"success","success":true,"result":{"length":11,"rounds":1,"sha256":"b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"}}"#,
            #"{"status":"success","success":true,"result":{"length":3,"rounds":1,"sha256":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}}"#,
        ])
        #expect(output.stderr.contains("hasher: hashed 11 bytes, 1 rounds"))
    }

    @Test func inputFromStdinAndFunctionErrorsStillExitZero() async throws {
        let output = try await Self.tabula(["run", "examples/c/transform.wasm", "--inputs", "-"], stdin: "{\"records\":[1]}\n{\"records\":[]}\n")
        #expect(output.status == 0)
        #expect(output.lines == [
            #"{"status":"application error","success":false,"result":{"error":"records[0] is not an object"}}"#,
            #"{"status":"success","success":true,"result":{"count":0,"records":[],"stats":{}}}"#,
        ])
    }

    @Test func timeoutIsADeveloperError() async throws {
        let spin = FileManager.default.temporaryDirectory.appendingPathComponent("spin-\(UUID().uuidString).wat")
        try #"(module (func (export "main") (loop $l (br $l))))"#.write(to: spin, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: spin) }
        let output = try await Self.tabula(["run", spin.path, "--timeout", "100", "--input", "{}"])
        #expect(output.status == 0)
        #expect(output.lines == [#"{"status":"action developer error","success":false,"result":{"error":"The action exceeded its time limits of 100 milliseconds."}}"#])
    }

    @Test func badInputLineIsReportedAndExitIsNonZero() async throws {
        let output = try await Self.tabula(["run", "examples/echo.wat", "--inputs", "-"], stdin: "{\"a\":1}\nnot json\n[1]\n")
        #expect(output.status != 0)
        #expect(output.lines == [#"{"status":"success","success":true,"result":{"a":1}}"#])
        #expect(output.stderr.contains("input line 2: not valid JSON"))
        #expect(output.stderr.contains("input line 3: the parameters must be a JSON object"))
    }

    /// A function's log line cannot drive the user's terminal: control characters are shown escaped.
    @Test func controlCharactersInLogsAreEscaped() async throws {
        let module = FileManager.default.temporaryDirectory.appendingPathComponent("escape-\(UUID().uuidString).wat")
        // stderr: ESC ] 0 ; x BEL (retitle the window), ESC [ 2 J (clear the screen), a C1 CSI, then "done".
        try #"""
        (module
          (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 64) "\1b]0;x\07\1b[2J\c2\9bdone\n")
          (data (i32.const 128) "{}")
          (func (export "main")
            (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const 17))
            (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
            (i32.store (i32.const 0) (i32.const 128)) (i32.store (i32.const 4) (i32.const 2))
            (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
        """#.write(to: module, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: module) }
        let output = try await Self.tabula(["run", module.path, "--input", "{}"])
        #expect(output.status == 0)
        #expect(!output.stderr.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 || $0.value == 0x9B })
        #expect(output.stderr.contains(#"\u001b]0;x\u0007\u001b[2J\u009bdone"#))
    }

    @Test func unloadableModuleFailsWithTheReason() async throws {
        let module = FileManager.default.temporaryDirectory.appendingPathComponent("bad-\(UUID().uuidString).wat")
        try #"(module (import "env" "socket" (func)) (func (export "main")))"#.write(to: module, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: module) }
        let output = try await Self.tabula(["run", module.path])
        #expect(output.status != 0)
        #expect(output.stderr.contains("env.socket"))
        #expect(output.stdout.isEmpty)
    }
}
