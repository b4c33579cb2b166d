import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import TabulaAttestation
import TabulaClient
import TabulaTestSupport
import TabulaWire
import Testing

/// Three real `tabula serve` nodes on one PostgreSQL server, driven through the real CLI: one
/// set of tenants, actions and activation records, whichever node a request reaches.
@Suite("Cluster on PostgreSQL, live", .loadHeavy, .postgres, .serialized)
struct ClusterTests {
    /// Starts `count` nodes on a fresh database; stops them (and deletes their directories) after.
    private func withNodes(_ count: Int, arguments: [String] = [], _ body: ([ServerProcess], String) async throws -> Void) async throws {
        let server = try #require(PostgresServer.current)
        let store = try await PostgresServer.offThePool { try server.createDatabase() }
        var nodes: [ServerProcess] = []
        do {
            for _ in 0..<count {
                nodes.append(try await ServerProcess(arguments: ["--store", store, "--no-native", "--isolation", "process"] + arguments))
            }
            try await body(nodes, store)
        } catch {
            await Self.stop(nodes)
            throw error
        }
        await Self.stop(nodes)
    }

    /// Stops nodes without holding a thread of Swift's cooperative pool while they drain.
    static func stop(_ nodes: [ServerProcess]) async {
        for node in nodes {
            _ = try? await node.terminate(within: .seconds(30))
            node.removeData()
        }
    }

    /// The CLI pointed at one node, with the guest key the first node made.
    private func cli(_ node: ServerProcess, auth: String, _ arguments: [String]) async throws -> RunCommandTests.Output {
        try await RunCommandTests.tabula(arguments, environment: [
            "TABULA_CONFIG_DIR": node.dataDirectory.path, "TABULA_APIHOST": node.apiHost.absoluteString, "TABULA_AUTH": auth,
        ])
    }

    /// Retries `check` for up to 10 s: a change made through one node reaches the others within
    /// the documented bound (2 s), normally at once.
    private func eventually(within bound: Duration = .seconds(10), _ check: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + bound
        while ContinuousClock.now < deadline {
            if try await check() { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return try await check()
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

    /// A function that spins for about `iterations` loop turns (about a second per million in
    /// the interpreter of a debug build), then answers `{}`.
    private static func spinner(_ iterations: Int) -> String {
        """
        (module
          (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 16) "{}")
          (func (export "main")
            (local $i i32)
            (loop $l
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br_if $l (i32.lt_u (local.get $i) (i32.const \(iterations)))))
            (i32.store (i32.const 0) (i32.const 16))
            (i32.store (i32.const 4) (i32.const 2))
            (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
        """
    }

    private func writeModule(_ text: String) throws -> URL {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("tabula-cluster-\(UUID().uuidString).wat")
        try text.write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    private func annotation(_ record: [String: Any], _ key: String) -> Any? {
        (record["annotations"] as? [[String: Any]])?.first { $0["key"] as? String == key }?["value"]
    }

    /// Non-blocking invocations go to the shared queue: each runs exactly once, on whichever node
    /// has room, so the idle node takes work from the busy one.
    @Test func queuedInvocationsRunOnceOnWhicheverNodeHasRoom() async throws {
        try await withNodes(2, arguments: ["--concurrency", "1"]) { nodes, _ in
            let auth = try nodes[0].auth
            let module = try writeModule(Self.spinner(400_000))
            defer { try? FileManager.default.removeItem(at: module) }
            let create = try await cli(nodes[0], auth: auth, ["action", "create", "spin", module.path])
            #expect(create.status == 0, "\(create.stderr)")
            // All sent to node 0, which runs one at a time.
            var ids: [String] = []
            for _ in 0..<8 {
                let invoke = try await cli(nodes[0], auth: auth, ["action", "invoke", "spin", "--plain", "--json"])
                #expect(invoke.status == 0, "\(invoke.stderr)")
                let id = (try? JSONSerialization.jsonObject(with: Data(invoke.stdout.utf8)) as? [String: Any])?["activationId"] as? String
                ids.append(try #require(id, "\(invoke.stdout)"))
            }
            var records: [String: [String: Any]] = [:]
            #expect(try await eventually(within: .seconds(60)) {
                for id in ids where records[id] == nil {
                    let get = try await cli(nodes[1], auth: auth, ["activation", "get", id, "--json"])
                    if get.status == 0, let record = try? JSONSerialization.jsonObject(with: Data(get.stdout.utf8)) as? [String: Any] {
                        records[id] = record
                    }
                }
                return records.count == ids.count
            }, "\(ids.count - records.count) queued invocations did not finish")
            let ranOn = records.values.compactMap { annotation($0, "node") as? String }
            #expect(ranOn.count == ids.count)
            #expect(records.values.allSatisfy { ($0["response"] as? [String: Any])?["success"] as? Bool == true })
            // The idle node took some of the busy node's work.
            #expect(Set(ranOn).count == 2, "every queued invocation ran on \(Set(ranOn))")
            // Exactly once: one record per id, none left in the queue.
            let list = try await cli(nodes[1], auth: auth, ["activation", "list", "spin", "--limit", "50", "--json"])
            let listed = (try? JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]]) ?? []
            #expect(listed.count == ids.count, "\(list.stdout)")
        }
    }

    /// A node killed while it runs claimed work: its lease expires, another node records that work
    /// as interrupted, and `tabula node list` shows the lease expired.
    @Test func aKilledNodesWorkIsRecordedAsInterrupted() async throws {
        try await withNodes(2, arguments: ["--concurrency", "1"]) { nodes, _ in
            let auth = try nodes[0].auth
            let module = try writeModule(Self.spinner(2_000_000_000))
            defer { try? FileManager.default.removeItem(at: module) }
            let create = try await cli(nodes[0], auth: auth, ["action", "create", "forever", module.path, "--timeout", "300000"])
            #expect(create.status == 0, "\(create.stderr)")
            let listed = try await cli(nodes[1], auth: auth, ["node", "list"])
            #expect(listed.status == 0, "\(listed.stderr)")
            #expect(listed.stdout.split(separator: "\n").filter { $0.contains(" alive ") }.count == 2, "\(listed.stdout)")
            // Busy both nodes, then kill whichever runs the first one.
            var ids: [String] = []
            for _ in 0..<2 {
                let invoke = try await cli(nodes[0], auth: auth, ["action", "invoke", "forever", "--plain", "--json"])
                let id = (try? JSONSerialization.jsonObject(with: Data(invoke.stdout.utf8)) as? [String: Any])?["activationId"] as? String
                ids.append(try #require(id, "\(invoke.stdout) \(invoke.stderr)"))
            }
            // Both claimed (each node has one slot): node list shows one running on each.
            #expect(try await eventually {
                let json = try await cli(nodes[1], auth: auth, ["node", "list", "--json"])
                let all = (try? JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]]) ?? []
                return all.count == 2 && all.allSatisfy { (($0["report"] as? [String: Any])?["running"] as? Int) == 1 }
            })
            nodes[0].kill()
            // Within the lease (5 s) and a sweep, the killed node's activation resolves, as interrupted.
            var interrupted = 0
            #expect(try await eventually(within: .seconds(30)) {
                interrupted = 0
                for id in ids {
                    let get = try await cli(nodes[1], auth: auth, ["activation", "get", id, "--json"])
                    if get.status == 0, get.stdout.contains("The server stopped before the activation finished") { interrupted += 1 }
                }
                return interrupted == 1
            }, "the killed node's work was not recorded as interrupted (\(interrupted))")
            let after = try await cli(nodes[1], auth: auth, ["node", "list"])
            #expect(after.stdout.contains("expired"), "\(after.stdout)")
        }
    }

    /// A client that verified one node's enclave is served through any node: the others pass its
    /// certificate request and its sealed requests on to that node (the sealed body unopened), and
    /// a sealed request is accepted once in the whole cluster.
    @Test func confidentialRequestsAreServedThroughAnyNode() async throws {
        try await withNodes(3) { nodes, _ in
            let auth = try Credentials(parsing: try nodes[0].auth)
            let clients = nodes.map { Client(apiHost: $0.apiHost, auth: auth) }
            // Every node has published its address and keys.
            #expect(try await eventually {
                let listed = try await clients[1].nodes()
                return listed.count == 3 && listed.allSatisfy { $0.alive && !$0.url.isEmpty && $0.report?.keyConfigurations != nil }
            })
            _ = try await clients[0].putAction(name: "echo", module: try example("echo.wat"), isText: true)
            let enclave = try await clients[0].attest(policy: AppraisalPolicy(allowSimulated: true))
            // Certified by node 0's enclave, asked of node 2.
            let function = try await clients[2].verifyFunction(name: "echo", enclave: enclave)
            // Sealed to node 0's enclave, sent to node 1.
            guard case .completed(let reply) = try await clients[1].invokeConfidential(name: "echo", parameters: ["n": 7], enclave: enclave, function: function) else {
                Issue.record("a blocking confidential invocation through another node completes")
                return
            }
            #expect(reply.succeeded && reply.result?.result == ["n": 7])

            // What waits in the store's queue is bounded by what the function may read (1 MiB).
            let oversized = await #expect(throws: ClientError.self) {
                try await clients[1].invoke(name: "echo", parameters: ["big": .string(String(repeating: "x", count: 1 << 20))])
            }
            #expect(oversized?.message.contains("input limit") == true, "\(oversized.map { "\($0)" } ?? "")")

            // The same sealed bytes through node 1, then again through node 2: opened once only.
            let inner = BinaryHTTPRequest(
                method: "POST", scheme: "http", authority: "127.0.0.1", path: Confidential.invokePath(namespace: "guest", name: "echo"),
                headerFields: [
                    BinaryHTTPField("content-type", "application/json"),
                    BinaryHTTPField(Confidential.expectDigestField, "sha-256=\(function.claims.moduleDigest)"),
                ],
                content: JSONValue.object(["once": 1]).encoded)
            let (sealed, _) = try ObliviousHTTP.encapsulateRequest(try inner.encoded(), to: enclave.keyConfigurations[0])
            func post(_ node: ServerProcess) async throws -> Int {
                var request = URLRequest(url: node.apiHost.appendingPathComponent("api/v1/namespaces/_/actions/echo"))
                request.httpMethod = "POST"
                request.setValue(ObliviousHTTP.requestMediaType, forHTTPHeaderField: "Content-Type")
                request.setValue("Basic " + Data(try nodes[0].auth.utf8).base64EncodedString(), forHTTPHeaderField: "Authorization")
                request.url = URL(string: request.url!.absoluteString + "?blocking=true")
                request.httpBody = Data(sealed)
                let (_, response) = try await URLSession.shared.data(for: request)
                return (response as? HTTPURLResponse)?.statusCode ?? 0
            }
            #expect(try await post(nodes[1]) == 200)
            #expect(try await post(nodes[2]) == 400, "a replay through another node was accepted")
            // Pinned to an enclave no node has: 421, with what to do.
            var other = URLRequest(url: URL(string: nodes[1].apiHost.absoluteString + "/api/v1/attestation/namespaces/_/actions/echo?enclave=" + String(repeating: "ab", count: 32))!)
            other.setValue("Basic " + Data(try nodes[0].auth.utf8).base64EncodedString(), forHTTPHeaderField: "Authorization")
            let (body, response) = try await URLSession.shared.data(for: other)
            #expect((response as? HTTPURLResponse)?.statusCode == 421)
            #expect(String(decoding: body, as: UTF8.self).contains("fetch the attestation bundle again"))
        }
    }
}
