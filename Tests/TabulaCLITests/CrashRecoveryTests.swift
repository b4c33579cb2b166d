import Foundation
import Synchronization
import TabulaTestSupport
import Testing
import TabulaWire
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A 202 means stored: every activation id the real server acknowledged resolves after it is
/// killed with SIGKILL mid-load and started again on the same data directory (issue #12, point 6).
@Suite("tabula serve, crash recovery", .loadHeavy, .serialized)
struct CrashRecoveryTests {
    @Test func everyAcknowledgedActivationResolvesAfterSIGKILL() async throws {
        let server = try await ServerProcess()
        defer { server.removeData() }
        let environment = ["TABULA_CONFIG_DIR": server.dataDirectory.path, "TABULA_APIHOST": server.apiHost.absoluteString]
        // A function slow enough that some invocations are still running or queued at the kill.
        let module = server.dataDirectory.appendingPathComponent("spin.wat")
        try Data("""
            (module (memory (export "memory") 1)
              (func (export "main") (local $i i32)
                (block $done (loop $spin
                  (br_if $done (i32.ge_u (local.get $i) (i32.const 50000000)))
                  (local.set $i (i32.add (local.get $i) (i32.const 1))) (br $spin)))))
            """.utf8).write(to: module)
        // In the interpreter, where 50 million iterations take seconds (compiled, they take
        // milliseconds and every activation would end before the kill).
        let create = try await RunCommandTests.tabula(["action", "create", "spin", module.path, "--timeout", "60000", "-a", "engine", "interpreter"], environment: environment)
        #expect(create.status == 0, "\(create.stderr)")
        let auth = "Basic " + Data(try server.auth.utf8).base64EncodedString()

        @Sendable func post(_ host: URL) async throws -> String? {
            var request = URLRequest(url: host.appendingPathComponent("api/v1/namespaces/_/actions/spin"))
            request.httpMethod = "POST"
            request.setValue(auth, forHTTPHeaderField: "Authorization")
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = Data("{}".utf8)
            request.timeoutInterval = 10
            let (data, response) = try await URLSession.shared.data(for: request)
            guard (response as? HTTPURLResponse)?.statusCode == 202 else { return nil }
            return try JSONValue(parsing: data)["activationId"]?.stringValue
        }
        // Four clients, each sending until the server is killed (bounded in count).
        let acknowledged = Acknowledged()
        let host = server.apiHost
        let clients = Task {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        // A post that is not acknowledged (slow under a loaded machine, refused
                        // after the kill) is simply not counted: only acknowledged ids must resolve.
                        for _ in 0..<200 {
                            guard let id = try? await post(host) else { continue }
                            acknowledged.ids.withLock { $0.append(id) }
                        }
                    }
                }
            }
        }
        let deadline = ContinuousClock.now + .seconds(60)
        while acknowledged.ids.withLock({ $0.count }) < 20, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        server.kill()
        await clients.value
        let ids = acknowledged.ids.withLock { $0 }
        #expect(ids.count >= 20)

        let restarted = try await ServerProcess(dataDirectory: server.dataDirectory)
        defer { _ = restarted.terminate() }
        var interrupted = 0
        for id in ids {
            let (status, data) = try await restarted.activation(id, authorization: auth)
            #expect(status == 200, "\(id) does not resolve after the restart")
            let record = try JSONValue(parsing: data)
            #expect(record["activationId"]?.stringValue == id)
            if record["response"]?["result"]?["error"]?.stringValue?.hasPrefix("The server stopped before the activation finished") == true {
                interrupted += 1
            }
        }
        #expect(interrupted > 0, "some activations were still running at the kill")
    }
}

/// The ids answered 202, from several client tasks.
private final class Acknowledged: Sendable {
    let ids = Mutex<[String]>([])
}
