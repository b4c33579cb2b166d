import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Synchronization
import TabulaWire
import Testing

/// The real `tabula runtime` process, driven the way OpenWhisk's invoker drives an action
/// container: one `/init`, then `/run`s, with its stdout and stderr read as the action's logs.
@Suite("tabula runtime, live")
struct RuntimeCommandTests {
    static let sentinel = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX"

    /// Counts its invocations in memory and returns `{"count":N}`: 1 every time when the sandbox
    /// is rewound after each activation, and it logs one line per activation.
    static let counter = """
        (module
          (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (global $count (mut i32) (i32.const 0))
          (data (i32.const 100) "{\\"count\\":0}")
          (data (i32.const 200) "counted\\n")
          (func (export "main")
            (global.set $count (i32.add (global.get $count) (i32.const 1)))
            (i32.store8 (i32.const 109) (i32.add (i32.load8_u (i32.const 109)) (i32.const 1)))
            (i32.store (i32.const 16) (i32.const 200))
            (i32.store (i32.const 20) (i32.const 8))
            (drop (call $fd_write (i32.const 2) (i32.const 16) (i32.const 1) (i32.const 8)))
            (i32.store (i32.const 0) (i32.const 100))
            (i32.store (i32.const 4) (i32.const 11))
            (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
        """

    /// A `tabula runtime` process on 127.0.0.1 and a port it picks.
    final class RuntimeProcess: Sendable {
        let process: Process
        let port: Int
        let directory: URL
        private let output = Output()
        private let errors = Output()

        /// What the process printed so far; the pipe's handler appends to it from another thread.
        final class Output: Sendable {
            let text = Mutex("")
        }

        var stdout: String { output.text.withLock { $0 } }
        var stderr: String { errors.text.withLock { $0 } }

        init() async throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("tabula-runtime-\(UUID().uuidString)")
            process = Process()
            process.executableURL = try RunCommandTests.executable
            process.arguments = ["runtime", "--host", "127.0.0.1", "--port", "0", "--engine", "interpreter", "--tee", "simulated", "--data-dir", directory.path]
            var environment = ProcessInfo.processInfo.environment
            environment["__OW_API_HOST"] = "https://openwhisk.example"
            environment["__OW_RUNTIME_PLATFORM"] = nil
            environment["__OW_ACTION_CODE"] = nil
            process.environment = environment
            let outPipe = Pipe()
            let errorPipe = Pipe()
            process.standardOutput = outPipe
            process.standardError = errorPipe
            outPipe.fileHandleForReading.readabilityHandler = { [output] handle in
                let data = handle.availableData
                output.text.withLock { $0 += String(decoding: data, as: UTF8.self) }
            }
            errorPipe.fileHandleForReading.readabilityHandler = { [errors] handle in
                let data = handle.availableData
                errors.text.withLock { $0 += String(decoding: data, as: UTF8.self) }
            }
            try process.run()
            let deadline = ContinuousClock.now + .seconds(60)
            var found: Int?
            while found == nil, ContinuousClock.now < deadline, process.isRunning {
                try await Task.sleep(for: .milliseconds(50))
                let text = errors.text.withLock { $0 }
                if let range = text.range(of: "listening on http://127.0.0.1:") {
                    found = Int(text[range.upperBound...].prefix { $0.isNumber })
                }
            }
            guard let found else {
                process.terminate()
                throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "tabula runtime did not start: \(errors.text.withLock { $0 }.suffix(2000))"])
            }
            port = found
        }

        func post(_ path: String, _ body: JSONValue) async throws -> (status: Int, body: JSONValue?) {
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
            request.httpMethod = "POST"
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = Data(body.encoded)
            let (data, response) = try await URLSession.shared.data(for: request)
            return ((response as? HTTPURLResponse)?.statusCode ?? 0, try? JSONValue(parsing: Array(data)))
        }

        /// Waits (at most 10 s) until each stream holds `count` sentinels: the pipes are read on
        /// another thread.
        func waitForSentinels(_ count: Int) async throws {
            let deadline = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < deadline {
                if RuntimeCommandTests.sentinels(stdout) >= count && RuntimeCommandTests.sentinels(stderr) >= count { return }
                try await Task.sleep(for: .milliseconds(20))
            }
        }

        func stop() async throws -> Int32? {
            process.terminate()
            let deadline = ContinuousClock.now + .seconds(20)
            while process.isRunning, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                return nil
            }
            try? FileManager.default.removeItem(at: directory)
            return process.terminationStatus
        }
    }

    static func sentinels(_ text: String) -> Int {
        text.split(separator: "\n", omittingEmptySubsequences: false).filter { $0 == sentinel }.count
    }

    @Test("init, two runs on a rewound sandbox, a refused second init, one sentinel per run on each stream")
    func initAndRuns() async throws {
        let runtime = try await RuntimeProcess()
        do {
            let initialized = try await runtime.post("/init", ["value": ["code": .string(Self.counter), "main": "main", "binary": false, "env": ["GREETING": "hi"]]])
            #expect(initialized.status == 200)
            let first = try await runtime.post("/run", ["value": [:], "activation_id": "a1", "deadline": "4102498800000"])
            let second = try await runtime.post("/run", ["value": [:], "activation_id": "a2", "deadline": "4102498800000"])
            #expect(first.status == 200)
            #expect(second.status == 200)
            // Nothing of the first activation is left for the second: both start from the snapshot.
            #expect(first.body == ["count": 1])
            #expect(second.body == ["count": 1])
            let again = try await runtime.post("/init", ["value": ["code": .string(Self.counter)]])
            #expect(again.status == 403)
            #expect(again.body == ["error": "Cannot initialize the action more than once."])
            try await runtime.waitForSentinels(2)
        } catch {
            _ = try await runtime.stop()
            throw error
        }
        let status = try await runtime.stop()
        #expect(status == 0)
        // stdout: the sentinels and nothing else.
        #expect(runtime.stdout == "\(Self.sentinel)\n\(Self.sentinel)\n")
        // stderr: the port line (asked for with --port 0), each run's log line then its sentinel,
        // and the refusal of the second init, without a sentinel.
        let lines = runtime.stderr.split(separator: "\n").map(String.init)
        #expect(Self.sentinels(runtime.stderr) == 2)
        #expect(lines.filter { $0 == "counted" }.count == 2)
        #expect(lines.contains("Cannot initialize the action more than once."))
        let expectedTail = ["counted", Self.sentinel, "counted", Self.sentinel, "Cannot initialize the action more than once."]
        #expect(Array(lines.suffix(5)) == expectedTail)
        #expect(lines.count == 6, "nothing else on stderr: \(lines)")
    }

    @Test("the attestation bundle of the runtime, simulated here")
    func attestation() async throws {
        let runtime = try await RuntimeProcess()
        let result: (Data, URLResponse)
        do {
            result = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(runtime.port)/api/v1/attestation")!)
        } catch {
            _ = try await runtime.stop()
            throw error
        }
        _ = try await runtime.stop()
        #expect((result.1 as? HTTPURLResponse)?.statusCode == 200)
        let bundle = try JSONValue(parsing: Array(result.0)).objectValue
        #expect(bundle?["tee"] == "simulated")
        #expect(runtime.stdout.isEmpty)
    }
}
