import Foundation
import Testing
import TabulaWire
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// SIGTERM stops the real server within its grace period even while functions spin, and every
/// activation it acknowledged resolves after a restart (issue #12, point 3).
@Suite("tabula serve, shutdown", .serialized)
struct ShutdownTests {
    @Test func sigtermEndsRunsAfterTheGracePeriod() async throws {
        let grace = 2
        let server = try await ServerProcess(arguments: ["--grace", "\(grace)"])
        defer { server.removeData() }
        let environment = ["TABULA_CONFIG_DIR": server.dataDirectory.path, "TABULA_APIHOST": server.apiHost.absoluteString]
        let module = server.dataDirectory.appendingPathComponent("forever.wat")
        try Data(#"(module (memory (export "memory") 1) (func (export "_start") (loop $l (br $l))))"#.utf8).write(to: module)
        let create = try await RunCommandTests.tabula(["action", "create", "forever", module.path, "--timeout", "300000"], environment: environment)
        #expect(create.status == 0, "\(create.stderr)")
        let auth = "Basic " + Data(try server.auth.utf8).base64EncodedString()

        @Sendable func post(_ host: URL, blocking: Bool) async throws -> (Int, JSONValue) {
            var components = URLComponents(url: host.appendingPathComponent("api/v1/namespaces/_/actions/forever"), resolvingAgainstBaseURL: false)!
            components.queryItems = blocking ? [URLQueryItem(name: "blocking", value: "true")] : nil
            var request = URLRequest(url: components.url!)
            request.httpMethod = "POST"
            request.setValue(auth, forHTTPHeaderField: "Authorization")
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = Data("{}".utf8)
            request.timeoutInterval = 120
            let (data, response) = try await URLSession.shared.data(for: request)
            return ((response as? HTTPURLResponse)?.statusCode ?? 0, (try? JSONValue(parsing: data)) ?? .null)
        }
        var ids: [String] = []
        for _ in 0..<2 {
            let (status, body) = try await post(server.apiHost, blocking: false)
            #expect(status == 202)
            if let id = body["activationId"]?.stringValue { ids.append(id) }
        }
        #expect(ids.count == 2)
        // A blocking caller too: the server's drain waits for its request, which the grace bounds.
        let host = server.apiHost
        let blocking = Task { try await post(host, blocking: true) }
        try await Task.sleep(for: .milliseconds(500))  // let them start; queued ones end the same way

        let status = try await server.terminate(within: .seconds(grace + 20))
        #expect(status != nil, "tabula serve was still running \(grace + 20) s after SIGTERM with --grace \(grace)")
        #expect(status == 0, "\(server.stderr)")
        _ = await blocking.result  // answered or cut off, it does not hang

        let restarted = try await ServerProcess(dataDirectory: server.dataDirectory)
        defer { _ = restarted.terminate() }
        for id in ids {
            let (status, data) = try await restarted.activation(id, authorization: auth)
            #expect(status == 200, "\(id) does not resolve after the restart")
            let record = try JSONValue(parsing: data)
            #expect(record["activationId"]?.stringValue == id)
            #expect(record["response"]?["result"]?["error"]?.stringValue?.hasPrefix("The server stopped before the activation finished") == true, "\(record.encodedString)")
            // Recorded by the stopping server itself (with the action's limits), not left to the
            // next start's recovery of stand-ins.
            guard case .array(let annotations) = record["annotations"] else {
                Issue.record("no annotations: \(record.encodedString)")
                continue
            }
            #expect(annotations.contains { $0["key"]?.stringValue == "limits" }, "\(record.encodedString)")
        }
        #expect(!restarted.stderr.contains("were still running when the server last stopped"), "\(restarted.stderr)")
    }
}
