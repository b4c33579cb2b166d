import Crypto
import Foundation
import TabulaTestSupport
import TabulaWire
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Layered isolation through the real `tabula serve` (issue #13): tenant code runs in confined
/// worker processes of each namespace, a worker killed mid-invocation fails only that invocation,
/// and no worker holds a key the server holds.
@Suite("tabula serve with workers", .loadHeavy, .serialized)
struct WorkerServerTests {
    private static let spinner = """
        (module (memory (export "memory") 1)
          (func (export "main") (local $i i32)
            (block $done (loop $spin
              (br_if $done (i32.ge_u (local.get $i) (i32.const 2000000000)))
              (local.set $i (i32.add (local.get $i) (i32.const 1))) (br $spin)))))
        """
    private static let printer = #"""
        (module
          (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 64) "{\"ok\":true}")
          (func (export "_start")
            (i32.store (i32.const 0) (i32.const 64))
            (i32.store (i32.const 4) (i32.const 11))
            (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
        """#

    private func post(_ server: ServerProcess, action: String, auth: String, blocking: Bool) async throws -> JSONValue {
        var request = URLRequest(url: URL(string: "\(server.apiHost.absoluteString)/api/v1/namespaces/_/actions/\(action)?blocking=\(blocking)")!)
        request.httpMethod = "POST"
        request.setValue("Basic " + Data(auth.utf8).base64EncodedString(), forHTTPHeaderField: "Authorization")
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data("{}".utf8)
        request.timeoutInterval = 30
        let (data, _) = try await URLSession.shared.data(for: request)
        return try JSONValue(parsing: data)
    }

    @Test("a worker killed mid-invocation fails only that invocation; other namespaces go on; no worker holds the platform key")
    func killedWorkerAndKeys() async throws {
        let server = try await ServerProcess(arguments: ["--grace", "0"])
        defer {
            _ = server.terminate()
            server.removeData()
        }
        let directory = server.dataDirectory
        let guest = try server.auth
        let created = try await RunCommandTests.tabula(["namespace", "create", "bob", "--data-dir", directory.path])
        #expect(created.status == 0, "\(created.stderr)")
        let bob = created.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let spinner = directory.appendingPathComponent("spin.wat")
        let printer = directory.appendingPathComponent("print.wat")
        try Data(Self.spinner.utf8).write(to: spinner)
        try Data(Self.printer.utf8).write(to: printer)
        for (name, file, auth) in [("spin", spinner, guest), ("print", printer, bob)] {
            let create = try await RunCommandTests.tabula(
                ["action", "create", name, file.path, "--timeout", "60000"],
                environment: ["TABULA_CONFIG_DIR": directory.path, "TABULA_APIHOST": server.apiHost.absoluteString, "TABULA_AUTH": auth])
            #expect(create.status == 0, "\(create.stderr)")
        }
        #expect(try await post(server, action: "print", auth: bob, blocking: true)["response"]?["result"] == ["ok": true])

        // Start the spinner and find its worker (the deploy's check ran in another, now gone).
        let started = try await post(server, action: "spin", auth: guest, blocking: false)
        let id = try #require(started["activationId"]?.stringValue)
        var victim: Int32?
        for _ in 0..<500 {
            victim = WorkerProcesses.of("guest", parent: server.processID).first
            if victim != nil { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        let worker = try #require(victim)
        let bobs = WorkerProcesses.of("bob", parent: server.processID)
        #expect(bobs.count == 1)
        #expect(!bobs.contains(worker))

        // The simulated TEE's platform key: a long-term key the server holds (as BoringSSL's
        // little-endian words), which no worker may.
        let pem = try String(contentsOf: directory.appendingPathComponent("simulated-platform-key.pem"), encoding: .utf8)
        let raw = Array(try P256.Signing.PrivateKey(pemRepresentation: pem).rawRepresentation)
        let needles = [raw, Array(raw.reversed())]
        let inServer = try ProcessMemory.search(pid: server.processID, forAny: needles, runtimeDataOnly: true)
        #expect(inServer.found.contains(true), "the search does not find the key where it is")
        for pid in bobs + [worker] {
            let inWorker = try ProcessMemory.search(pid: pid, forAny: needles, runtimeDataOnly: true)
            #expect(!inWorker.found.contains(true), "worker \(pid) holds the platform key")
            #expect(inWorker.bytesRead > 1 << 20)
        }

        // Kill the spinner's worker mid-run.
        try await Task.sleep(for: .milliseconds(200))
        #expect(kill(worker, SIGKILL) == 0)
        var message: String?
        for _ in 0..<250 {
            let answer = try await server.activation(id, authorization: "Basic " + Data(guest.utf8).base64EncodedString())
            if answer.status == 200, let parsed = try? JSONValue(parsing: answer.body),
                let error = parsed["response"]?["result"]?["error"]?.stringValue, error.hasPrefix("The worker") {
                #expect(parsed["response"]?["status"] == "action developer error")
                message = error
                break
            }
            try await Task.sleep(for: .milliseconds(40))
        }
        let stopped = try #require(message)
        #expect(stopped.hasPrefix("The worker running this action stopped: signal 9, SIGKILL"), "\(stopped)")

        // The other namespace never noticed, and the spinner gets a new worker.
        #expect(try await post(server, action: "print", auth: bob, blocking: true)["response"]?["result"] == ["ok": true])
        #expect(WorkerProcesses.of("bob", parent: server.processID) == bobs)
        _ = try await post(server, action: "spin", auth: guest, blocking: false)
        var replaced: [Int32] = []
        for _ in 0..<500 {
            replaced = WorkerProcesses.of("guest", parent: server.processID)
            if !replaced.isEmpty { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(!replaced.isEmpty)
        #expect(!replaced.contains(worker))
    }

    @Test("a worker stops with its server, even in the middle of a run")
    func workerStopsWithItsServer() async throws {
        let server = try await ServerProcess()
        defer { server.removeData() }
        let directory = server.dataDirectory
        let spinner = directory.appendingPathComponent("spin.wat")
        try Data(Self.spinner.utf8).write(to: spinner)
        let create = try await RunCommandTests.tabula(
            ["action", "create", "spin", spinner.path, "--timeout", "60000"],
            environment: ["TABULA_CONFIG_DIR": directory.path, "TABULA_APIHOST": server.apiHost.absoluteString])
        #expect(create.status == 0, "\(create.stderr)")
        _ = try await post(server, action: "spin", auth: try server.auth, blocking: false)
        var found: Int32?
        for _ in 0..<500 {
            found = WorkerProcesses.of("guest", parent: server.processID).first
            if found != nil { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        let worker = try #require(found)
        server.kill()
        // Gone (or a zombie waiting for init) within a few seconds, not at its 60 s timeout.
        var gone = false
        for _ in 0..<250 {
            let status = try? String(contentsOfFile: "/proc/\(worker)/status", encoding: .utf8)
            if status == nil || status!.contains("State:\tZ") {
                gone = true
                break
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(gone, "the worker outlived its server")
        if !gone { kill(worker, SIGKILL) }
    }
}
