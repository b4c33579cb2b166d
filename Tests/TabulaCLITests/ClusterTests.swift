import Foundation
import TabulaTestSupport
import Testing

/// Three real `tabula serve` nodes on one PostgreSQL server, driven through the real CLI: one
/// set of tenants, actions and activation records, whichever node a request reaches.
@Suite("Cluster on PostgreSQL, live", .postgres, .serialized)
struct ClusterTests {
    /// Starts `count` nodes on a fresh database; stops them (and deletes their directories) after.
    private func withNodes(_ count: Int, _ body: ([ServerProcess], String) async throws -> Void) async throws {
        let server = try #require(PostgresServer.current)
        let store = try await PostgresServer.offThePool { try server.createDatabase() }
        var nodes: [ServerProcess] = []
        do {
            for _ in 0..<count {
                nodes.append(try await ServerProcess(arguments: ["--store", store, "--no-native", "--isolation", "process"]))
            }
            try await body(nodes, store)
        } catch {
            for node in nodes { _ = node.terminate(); node.removeData() }
            throw error
        }
        for node in nodes { _ = node.terminate(); node.removeData() }
    }

    /// The CLI pointed at one node, with the guest key the first node made.
    private func cli(_ node: ServerProcess, auth: String, _ arguments: [String]) async throws -> RunCommandTests.Output {
        try await RunCommandTests.tabula(arguments, environment: [
            "TABULA_CONFIG_DIR": node.dataDirectory.path, "TABULA_APIHOST": node.apiHost.absoluteString, "TABULA_AUTH": auth,
        ])
    }

    /// Retries `check` for up to 10 s: a change made through one node reaches the others within
    /// the documented bound (2 s), normally at once.
    private func eventually(_ check: () async throws -> Bool) async throws -> Bool {
        for _ in 0..<100 {
            if try await check() { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    @Test func threeNodesServeOneSetOfTenants() async throws {
        try await withNodes(3) { nodes, store in
            // Only the first node made the guest namespace; the others found it in the store.
            #expect(nodes[0].stdout.contains("Created the namespace 'guest'"))
            #expect(!nodes[1].stdout.contains("Created the namespace"))
            #expect(nodes[1].stdout.contains("store: postgres://tabula@127.0.0.1"))
            let auth = try nodes[0].auth

            let create = try await cli(nodes[0], auth: auth, ["action", "create", "f", "examples/echo.wat"])
            #expect(create.status == 0, "\(create.stderr)")
            // Deployed through node 0, invoked through the others.
            for node in nodes[1...] {
                let invoke = try await cli(node, auth: auth, ["action", "invoke", "f", "-p", "from", "\(node.port)", "--result", "--plain"])
                #expect(invoke.status == 0, "\(invoke.stderr)")
                #expect(invoke.stdout.contains("\"from\""))
            }
            // A confidential invocation through the third node: its own enclave, attested on its own.
            let sealed = try await cli(nodes[2], auth: auth, ["action", "invoke", "f", "-p", "secret", "s3", "--result", "--allow-simulated"])
            #expect(sealed.status == 0, "\(sealed.stderr)")
            #expect(sealed.stdout.contains("s3"))

            // Updated through node 1: node 2 runs the new version (after it ran the old one).
            let update = try await cli(nodes[1], auth: auth, ["action", "update", "f", "examples/hello.wat"])
            #expect(update.status == 0, "\(update.stderr)")
            #expect(try await eventually {
                let invoke = try await cli(nodes[2], auth: auth, ["action", "invoke", "f", "--result", "--plain"])
                return invoke.status == 0 && !invoke.stdout.contains("\"from\"") && !invoke.stdout.contains("{}")
            }, "node 2 kept running the old version")

            // Every node lists every node's activations.
            let list = try await cli(nodes[0], auth: auth, ["activation", "list", "--limit", "50", "--json"])
            #expect(list.status == 0, "\(list.stderr)")
            let listed = try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]] ?? []
            #expect(listed.count >= 4, "\(list.stdout)")

            // A namespace made on the store with the CLI opens on every node.
            let made = try await RunCommandTests.tabula(["namespace", "create", "team", "--store", store])
            #expect(made.status == 0, "\(made.stderr)")
            let teamAuth = made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            for node in nodes {
                let empty = try await cli(node, auth: teamAuth, ["action", "list"])
                #expect(empty.status == 0, "\(empty.stderr)")
                #expect(!empty.stdout.contains("/f"))
            }

            // Deleted through node 2: gone on node 0 too.
            let delete = try await cli(nodes[2], auth: auth, ["action", "delete", "f"])
            #expect(delete.status == 0, "\(delete.stderr)")
            #expect(try await eventually {
                let invoke = try await cli(nodes[0], auth: auth, ["action", "invoke", "f", "--result", "--plain"])
                return invoke.status != 0 && invoke.stderr.contains("does not exist")
            }, "node 0 still invoked a deleted action")
        }
    }
}
