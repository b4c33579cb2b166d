import Crypto
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import TabulaAttestation
import TabulaClient
import TabulaKBS
import TabulaTestSupport
import TabulaWire
import Synchronization
import Testing

/// The key broker with real processes: `tabula broker`, nodes started with `tabula serve --broker`,
/// the CLI and the SDK; the broker's refusals seen by real nodes and by a hostile attester.
@Suite("Key broker, live", .loadHeavy, .serialized)
struct BrokerLiveTests {
    static let developmentManifest = RunCommandTests.repository.appendingPathComponent("deploy/broker/manifest-development.json").path
    static let simulated = AppraisalPolicy(allowSimulated: true)

    static func directory() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("tabula-broker-\(UUID().uuidString)")
    }

    /// The processes a test started, stopped when it ends (also when it fails).
    final class Running: Sendable {
        private let list = Mutex<[ServerProcess]>([])

        @discardableResult
        func add(_ process: ServerProcess) -> ServerProcess {
            list.withLock { $0.append(process) }
            return process
        }

        var all: [ServerProcess] { list.withLock { $0 } }
    }

    static func withRunning(_ body: (Running) async throws -> Void) async throws {
        let running = Running()
        do {
            try await body(running)
        } catch {
            await stop(running.all)
            throw error
        }
        await stop(running.all)
    }

    /// Stops processes without holding the cooperative pool while they drain.
    static func stop(_ processes: [ServerProcess]) async {
        for process in processes {
            _ = try? await process.terminate(within: .seconds(30))
            process.removeData()
        }
    }

    /// Retries `check` for up to `bound`.
    static func eventually(within bound: Duration = .seconds(15), _ check: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + bound
        while ContinuousClock.now < deadline {
            if try await check() { return true }
            try await Task.sleep(for: .milliseconds(250))
        }
        return try await check()
    }

    static func get(_ url: URL) async throws -> (status: Int, body: Data) {
        let (data, response) = try await URLSession.shared.data(from: url)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, data)
    }

    /// A node started with `--broker`.
    static func node(broker: ServerProcess, store: String? = nil, dataDirectory: URL? = nil, extra: [String] = []) async throws -> ServerProcess {
        try await ServerProcess(dataDirectory: dataDirectory, arguments: (store.map { ["--store", $0] } ?? []) + [
            "--no-native", "--isolation", "process", "--tee", "simulated", "--broker", broker.apiHost.absoluteString, "--broker-allow-simulated",
        ] + extra)
    }

    /// A greeting function's confidential answer through `client`, sealed to the cluster's keys.
    static func greeting(_ client: Client, _ name: String, cluster: AttestedEnclave) async throws -> JSONValue? {
        let function = try await client.verifyFunction(name: name, enclave: cluster)
        guard case .completed(let reply) = try await client.invokeConfidential(name: name, enclave: cluster, function: function) else {
            Issue.record("a blocking confidential invocation completes")
            return nil
        }
        #expect(reply.succeeded, "\(reply)")
        return reply.result?.result
    }

    /// Every node serves the key configuration the broker signed; the client verified the broker only.
    static func oneKeyConfiguration(broker: ServerProcess, nodes: [ServerProcess]) async throws -> AttestedEnclave {
        var lists: [Data] = []
        for node in nodes {
            let (status, body) = try await get(node.apiHost.appendingPathComponent(".well-known/ohttp-gateway"))
            #expect(status == 200)
            lists.append(body)
        }
        #expect(Set(lists).count == 1, "the nodes serve different key configurations")
        let cluster = try await BrokerClient(url: broker.apiHost).attest(policy: simulated)
        #expect(KeyConfiguration.encodeList(cluster.keyConfigurations) == Array(lists[0]))
        let auth = try Credentials(parsing: try nodes[0].auth)
        let empty: JSONValue = ["greeting": .null, "secrets": 0]
        _ = try await Client(apiHost: nodes[0].apiHost, auth: auth).putAction(name: "greet", module: try example("c/secret.wasm"), isText: false)
        _ = try await Client(apiHost: nodes[0].apiHost, auth: auth).putAction(name: "other", module: try example("c/secret.wasm"), isText: false)
        for node in nodes {
            let answer = try await greeting(Client(apiHost: node.apiHost, auth: auth), "greet", cluster: cluster)
            #expect(answer == empty)
        }
        return cluster
    }

    /// A secret set with the CLI reaches the function it names, and no other, not another tenant's.
    static func secretsReachOnlyTheirReaders(broker: ServerProcess, nodes: [ServerProcess], cluster: AttestedEnclave, store: String) async throws {
        let auth = try Credentials(parsing: try nodes[0].auth)
        let environment = ["TABULA_CONFIG_DIR": nodes[0].dataDirectory.path, "TABULA_APIHOST": nodes[0].apiHost.absoluteString, "TABULA_AUTH": try nodes[0].auth]
        let brokerURL = broker.apiHost.absoluteString
        let set = try await RunCommandTests.tabula(["secret", "set", "GREETING", "--for", "greet", "--broker", brokerURL, "--allow-simulated", "--value", "s3cr3t-live"], environment: environment)
        #expect(set.status == 0, "\(set.stderr)")
        // Without --allow-simulated the CLI refuses to send it to a simulated broker.
        let refused = try await RunCommandTests.tabula(["secret", "set", "OTHER", "--for", "greet", "--broker", brokerURL, "--value", "x"], environment: environment)
        #expect(refused.status != 0 && refused.stderr.contains("simulated"))
        let expected: JSONValue = ["greeting": "s3cr3t-live", "secrets": 1]
        let empty: JSONValue = ["greeting": .null, "secrets": 0]
        let reader = Client(apiHost: nodes[1].apiHost, auth: auth)
        let seen = try await eventually {
            let answer = try await greeting(reader, "greet", cluster: cluster)
            return answer == expected
        }
        #expect(seen, "the reader never saw its secret")
        let other = try await greeting(Client(apiHost: nodes[2].apiHost, auth: auth), "other", cluster: cluster)
        #expect(other == empty)

        // Another tenant can neither set nor read guest's secrets.
        let created = try await RunCommandTests.tabula(["namespace", "create", "mallory", "--store", store])
        #expect(created.status == 0, "\(created.stderr)")
        let words = created.stdout.split(whereSeparator: { $0.isWhitespace }).map(String.init)
        let malloryKey = try #require(words.first(where: { $0.contains(":") && $0.count > 60 })).trimmingCharacters(in: CharacterSet(charactersIn: "'"))
        var put = URLRequest(url: broker.apiHost.appendingPathComponent("kbs/v0/tabula/secrets/guest/GREETING"))
        put.httpMethod = "PUT"
        put.setValue("Basic " + Data(malloryKey.utf8).base64EncodedString(), forHTTPHeaderField: "Authorization")
        put.httpBody = Data(#"{"value": {"protected": "", "encrypted_key": "", "iv": "", "ciphertext": "", "tag": ""}, "readers": [{"action": "greet"}]}"#.utf8)
        let (_, putResponse) = try await URLSession.shared.data(for: put)
        #expect((putResponse as? HTTPURLResponse)?.statusCode == 403)
        let mallory = Client(apiHost: nodes[2].apiHost, auth: try Credentials(parsing: malloryKey))
        _ = try await mallory.putAction(name: "greet", module: try example("c/secret.wasm"), isText: false)
        let stolen = try await greeting(mallory, "greet", cluster: cluster)
        #expect(stolen == empty)
    }

    /// The same sealed bytes through another node (or the same) are a replay.
    static func aSealedRequestOpensOnce(nodes: [ServerProcess], cluster: AttestedEnclave) async throws {
        let auth = try Credentials(parsing: try nodes[0].auth)
        let function = try await Client(apiHost: nodes[0].apiHost, auth: auth).verifyFunction(name: "other", enclave: cluster)
        let fields = [BinaryHTTPField("content-type", "application/json"), BinaryHTTPField(Confidential.expectDigestField, "sha-256=\(function.claims.moduleDigest)")]
        let inner = BinaryHTTPRequest(
            method: "POST", scheme: "http", authority: "127.0.0.1", path: Confidential.invokePath(namespace: "guest", name: "other"),
            headerFields: fields, content: JSONValue.object(["once": 1]).encoded)
        let (sealed, _) = try ObliviousHTTP.encapsulateRequest(try inner.encoded(), to: cluster.keyConfigurations[0])
        func post(_ node: ServerProcess) async throws -> Int {
            var request = URLRequest(url: URL(string: node.apiHost.absoluteString + "/api/v1/namespaces/_/actions/other?blocking=true")!)
            request.httpMethod = "POST"
            request.setValue(ObliviousHTTP.requestMediaType, forHTTPHeaderField: "Content-Type")
            request.setValue(auth.authorizationHeader, forHTTPHeaderField: "Authorization")
            request.httpBody = Data(sealed)
            let (_, response) = try await URLSession.shared.data(for: request)
            return (response as? HTTPURLResponse)?.statusCode ?? 0
        }
        #expect(try await post(nodes[1]) == 200)
        #expect(try await post(nodes[2]) == 400, "a replay through another node was accepted")
        #expect(try await post(nodes[1]) == 400, "a replay through the same node was accepted")
    }

    /// Not in any process's output, not in the store's records or blobs.
    static func theSecretIsNowhereOutside(_ processes: [ServerProcess], server: PostgresServer, store: String) async throws {
        for process in processes {
            #expect(!process.stdout.contains("s3cr3t") && !process.stderr.contains("s3cr3t"))
        }
        let database = String(store.split(separator: "/").last!.split(separator: "?").first!)
        let leaked = try await PostgresServer.offThePool {
            try server.psql(database, """
                SELECT (SELECT count(*) FROM activation WHERE document LIKE '%s3cr3t%')
                     + (SELECT count(*) FROM blob WHERE position('s3cr3t'::bytea IN bytes) > 0
                            OR position(convert_to(encode('s3cr3t-live'::bytea, 'base64'), 'UTF8') IN bytes) > 0)
                """)
        }
        #expect(leaked.status == 0 && leaked.output.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "\(leaked.output)")
    }

    /// Writes a manifest to a temporary file.
    static func manifestFile(_ manifest: Manifest, in directory: URL) throws -> String {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let file = directory.appendingPathComponent("manifest.json")
        try JSONEncoder().encode(manifest).write(to: file)
        return file.path
    }

    /// `tabula serve --broker` that must be refused: its exit status and stderr.
    static func refusedNode(_ broker: ServerProcess, _ extra: [String]) async throws -> RunCommandTests.Output {
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        return try await RunCommandTests.tabula([
            "serve", "--port", "0", "--data-dir", directory.path, "--no-native", "--isolation", "process", "--tee", "simulated",
            "--broker", broker.apiHost.absoluteString, "--broker-allow-simulated",
        ] + extra)
    }

    @Test func refusalsSayWhichReferenceValueFailed() async throws {
        let work = Self.directory()
        defer { try? FileManager.default.removeItem(at: work) }
        let measurement = Array(SHA384.hash(data: Array("tabula simulated TEE v1".utf8))).hex
        let strict = AppraisalPolicy(tees: ["simulated"], measurements: [measurement], allowSimulated: true, minimumSimulatedTCB: 2)
        let manifest = Manifest(classes: [.init(name: "nodes", policy: strict, resources: [Manifest.gatewayKeys])])
        try await Self.withRunning { running in
        let broker = running.add(try await ServerProcess(command: "broker", arguments: ["--tee", "simulated", "--manifest", try Self.manifestFile(manifest, in: work)]))

        let stale = try await Self.refusedNode(broker, ["--simulated-tcb", "1"])
        #expect(stale.status != 0 && stale.stderr.contains("the simulated TCB level 1 is below the minimum 2"), "\(stale.stderr)")
        let debug = try await Self.refusedNode(broker, ["--simulated-tcb", "2", "--simulated-debug"])
        #expect(debug.status != 0 && debug.stderr.contains("debug mode"), "\(debug.stderr)")
        // The node that meets every reference value is served.
        let good = try await Self.node(broker: broker, extra: ["--simulated-tcb", "2"])
        await Self.stop([good])

        // A hostile attester: evidence that binds another key, and a replayed attestation.
        let tee = { var tee = SimulatedTEE.ephemeral(); tee.tcb = 2; return tee }()
        func auth() async throws -> (cookie: String, nonce: String) {
            var request = URLRequest(url: broker.apiHost.appendingPathComponent("kbs/v0/auth"))
            request.httpMethod = "POST"
            request.httpBody = try JSONEncoder().encode(KBSMessages.Request(tee: "sample"))
            let (data, response) = try await URLSession.shared.data(for: request)
            let cookie = try #require((response as? HTTPURLResponse)?.value(forHTTPHeaderField: "Set-Cookie")?.split(separator: ";").first.map(String.init))
            return (cookie, try JSONDecoder().decode(KBSMessages.Challenge.self, from: data).nonce)
        }
        func attest(_ cookie: String, _ body: KBSMessages.Attestation) async throws -> (Int, KBSMessages.ErrorBody?) {
            var request = URLRequest(url: broker.apiHost.appendingPathComponent("kbs/v0/attest"))
            request.httpMethod = "POST"
            request.setValue(cookie, forHTTPHeaderField: "Cookie")
            request.httpBody = try JSONEncoder().encode(body)
            let (data, response) = try await URLSession.shared.data(for: request)
            return ((response as? HTTPURLResponse)?.statusCode ?? 0, try? JSONDecoder().decode(KBSMessages.ErrorBody.self, from: data))
        }
        func body(_ nonce: String, key: P256.KeyAgreement.PrivateKey, bind: P256.KeyAgreement.PrivateKey) async throws -> KBSMessages.Attestation {
            let evidence = try await tee.evidence(reportData: KBSMessages.RuntimeData(nonce: nonce, teePubkey: JWK(bind.publicKey)).reportData)
            return KBSMessages.Attestation(
                runtimeData: .init(nonce: nonce, teePubkey: JWK(key.publicKey)), teeEvidence: .init(.init(quote: Data(evidence).base64EncodedString())))
        }
        let key = P256.KeyAgreement.PrivateKey()
        let first = try await auth()
        let (unboundStatus, unbound) = try await attest(first.cookie, try await body(first.nonce, key: key, bind: P256.KeyAgreement.PrivateKey()))
        #expect(unboundStatus == 401 && unbound?.type.hasSuffix("/AttestationError") == true && unbound?.detail.contains("report data does not bind") == true)
        let second = try await auth()
        let good2 = try await body(second.nonce, key: key, bind: key)
        #expect(try await attest(second.cookie, good2).0 == 200)
        let third = try await auth()
        let (replayStatus, replay) = try await attest(third.cookie, good2)
        #expect(replayStatus == 401 && replay?.detail.contains("nonce") == true)
        // Resources without attestation, and one that does not exist.
        let (noSession, _) = try await Self.get(broker.apiHost.appendingPathComponent("kbs/v0/resource/tabula/gateway/keys"))
        #expect(noSession == 401)

        // Another measurement, and simulated evidence the manifest does not allow.
        let other = Manifest(classes: [
            .init(name: "nodes", policy: AppraisalPolicy(measurements: [String(repeating: "ab", count: 48)], allowSimulated: true), resources: [Manifest.gatewayKeys]),
            .init(name: "hardware", policy: AppraisalPolicy(), resources: [Manifest.gatewayKeys]),
        ])
        let otherBroker = running.add(try await ServerProcess(command: "broker", arguments: ["--tee", "simulated", "--manifest", try Self.manifestFile(other, in: work.appendingPathComponent("other"))]))
        let refused = try await Self.refusedNode(otherBroker, [])
        #expect(refused.status != 0 && refused.stderr.contains("is not one of the reference measurements") && refused.stderr.contains("hardware: the evidence is simulated"), "\(refused.stderr)")

        // The broker's log says which reference value failed, and never what it released.
        let log = broker.stderr
        for reason in ["below the minimum 2", "debug mode", "report data does not bind", "nonce is not this session's challenge"] {
            #expect(log.contains("refused the attestation of a sample TEE: ") && log.contains(reason), "the log lacks \(reason)")
        }
        #expect(otherBroker.stderr.contains("reference measurements"))
        }
    }

    @Test func aKilledBrokerIsRecoveredByItsHoldersAndSharedWithAnAttestedPeer() async throws {
        let work = Self.directory()
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        // Two recovery holders, and an updater, with keys made by the CLI.
        var holders: [Manifest.RecoveryHolder] = []
        var updaterPEM = ""
        for name in ["alice", "bob"] {
            let made = try await RunCommandTests.tabula(["broker", "keygen", "--out", work.appendingPathComponent("\(name).pem").path])
            #expect(made.status == 0, "\(made.stderr)")
            let line = try #require(made.lines.first { $0.hasPrefix("recovery key") })
            let json = String(line[try #require(line.firstIndex(of: "{"))...])
            holders.append(.init(name: name, key: try JSONDecoder().decode(JWK.self, from: Data(json.utf8))))
            if name == "alice" {
                updaterPEM = made.stdout.components(separatedBy: "-----BEGIN PUBLIC KEY-----")[1].components(separatedBy: "-----END PUBLIC KEY-----")[0]
                updaterPEM = "-----BEGIN PUBLIC KEY-----" + updaterPEM + "-----END PUBLIC KEY-----"
            }
        }
        let policy = AppraisalPolicy(tees: ["simulated"], allowSimulated: true)
        // Broker instances are told apart from nodes by a reference value: here the simulated TCB level.
        let brokers = AppraisalPolicy(tees: ["simulated"], allowSimulated: true, minimumSimulatedTCB: 2)
        var manifest = Manifest(classes: [
            .init(name: "nodes", policy: policy, resources: [Manifest.gatewayKeys, "tabula/secrets/*"]),
            .init(name: "brokers", policy: brokers, resources: [Manifest.stateKey]),
        ], updaters: [.init(name: "alice", key: updaterPEM)], threshold: 1, recovery: holders)
        let store = "sqlite:" + work.appendingPathComponent("shared.db").path
        try await Self.withRunning { running in
        let first = try await ServerProcess(command: "broker", arguments: ["--store", store, "--tee", "simulated", "--simulated-tcb", "2", "--manifest", try Self.manifestFile(manifest, in: work)])
        let node = running.add(try await Self.node(broker: first, store: store))
        let environment = ["TABULA_CONFIG_DIR": node.dataDirectory.path, "TABULA_APIHOST": node.apiHost.absoluteString, "TABULA_AUTH": try node.auth]
        #expect(try await RunCommandTests.tabula(["action", "create", "greet", RunCommandTests.repository.appendingPathComponent("examples/c/secret.wasm").path], environment: environment).status == 0)
        let set = try await RunCommandTests.tabula(["secret", "set", "GREETING", "--for", "greet", "--broker", first.apiHost.absoluteString, "--allow-simulated", "--value", "kept"], environment: environment)
        #expect(set.status == 0, "\(set.stderr)")
        let (_, keysBefore) = try await Self.get(node.apiHost.appendingPathComponent(".well-known/ohttp-gateway"))

        // Every broker instance is lost.
        first.kill()
        first.removeData()
        // A new instance on another TEE (another sealing key) cannot open the state: it waits.
        let second = running.add(try await ServerProcess(command: "broker", arguments: ["--store", store, "--tee", "simulated", "--simulated-tcb", "2"]))
        #expect(second.stdout.contains("waiting for recovery"))
        var auth = URLRequest(url: second.apiHost.appendingPathComponent("kbs/v0/auth"))
        auth.httpMethod = "POST"
        auth.httpBody = try JSONEncoder().encode(KBSMessages.Request(tee: "sample"))
        let (_, waiting) = try await URLSession.shared.data(for: auth)
        #expect((waiting as? HTTPURLResponse)?.statusCode == 503)
        // Each holder sends its share with the CLI.
        let recoverAlice = try await RunCommandTests.tabula([
            "broker", "recover", "--broker", second.apiHost.absoluteString, "--holder", "alice", "--key", work.appendingPathComponent("alice.pem").path, "--allow-simulated"])
        #expect(recoverAlice.status == 0 && recoverAlice.stdout.contains("waiting for bob"), "\(recoverAlice.stdout) \(recoverAlice.stderr)")
        let wrongKey = try await RunCommandTests.tabula([
            "broker", "recover", "--broker", second.apiHost.absoluteString, "--holder", "bob", "--key", work.appendingPathComponent("alice.pem").path, "--allow-simulated"])
        #expect(wrongKey.status != 0 && wrongKey.stderr.contains("not bob's key"), "\(wrongKey.stderr)")
        let recoverBob = try await RunCommandTests.tabula([
            "broker", "recover", "--broker", second.apiHost.absoluteString, "--holder", "bob", "--key", work.appendingPathComponent("bob.pem").path, "--allow-simulated"])
        #expect(recoverBob.status == 0 && recoverBob.stdout.contains("recovered"), "\(recoverBob.stdout) \(recoverBob.stderr)")

        // The recovered broker serves the same cluster: a new node gets the same keys, and the secret.
        let later = running.add(try await Self.node(broker: second, store: store))
        let (_, keysAfter) = try await Self.get(later.apiHost.appendingPathComponent(".well-known/ohttp-gateway"))
        #expect(keysAfter == keysBefore)
        let invoke = try await RunCommandTests.tabula(
            ["action", "invoke", "greet", "-r", "--broker", second.apiHost.absoluteString, "--allow-simulated", "--apihost", later.apiHost.absoluteString], environment: environment)
        #expect(invoke.status == 0 && invoke.stdout.contains("\"kept\""), "\(invoke.stdout) \(invoke.stderr)")

        // A third instance on yet another TEE gets the state key from the second, after attesting to it.
        let third = running.add(try await ServerProcess(command: "broker", arguments: ["--store", store, "--tee", "simulated", "--simulated-tcb", "2", "--peer", second.apiHost.absoluteString]))
        // A node (TCB level 1) is not a broker: it may not have the state key.
        let nodeKey = await #expect(throws: BrokerError.self) {
            try await KBSClient(broker: second.apiHost, provider: SimulatedTEE.ephemeral()).resource(Manifest.stateKey)
        }
        #expect(nodeKey?.code == .forbidden)
        #expect(third.stdout.contains("serving"), "\(third.stdout) \(third.stderr)")

        // A manifest update signed by the updater, through the third instance.
        manifest.version = 2
        manifest.keys.graceSeconds = 120
        let next = try Self.manifestFile(manifest, in: work.appendingPathComponent("v2"))
        let signed = try await RunCommandTests.tabula(["broker", "sign", "--key", work.appendingPathComponent("alice.pem").path, "--broker", third.apiHost.absoluteString, "--allow-simulated", next])
        #expect(signed.status == 0, "\(signed.stderr)")
        let update = try await RunCommandTests.tabula(["broker", "update", "--broker", third.apiHost.absoluteString, "--signature", signed.stdout.trimmingCharacters(in: .whitespacesAndNewlines), next])
        #expect(update.status == 0, "\(update.stderr)")
        let unsigned = try await RunCommandTests.tabula(["broker", "update", "--broker", third.apiHost.absoluteString, next])
        #expect(unsigned.status != 0)
        // The second instance reads the shared state again and publishes version 2.
        let cluster = try await BrokerClient(url: second.apiHost).attest(policy: Self.simulated)
        #expect(try await Self.eventually {
            try await BrokerClient(url: second.apiHost).statement(verifiedBy: cluster).manifest.version == 2
        })
        }
    }
}

/// The broker with three nodes on one PostgreSQL store.
@Suite("Key broker with a cluster, live", .loadHeavy, .postgres, .serialized)
struct BrokerClusterLiveTests {
    @Test func threeNodesServeOneKeyConfigurationAndTheSecretsTheManifestAllows() async throws {
        let server = try #require(PostgresServer.current)
        let store = try await PostgresServer.offThePool { try server.createDatabase() }
        try await BrokerLiveTests.withRunning { running in
            let broker = running.add(try await ServerProcess(command: "broker", arguments: ["--store", store, "--tee", "simulated", "--manifest", BrokerLiveTests.developmentManifest]))
            var nodes: [ServerProcess] = []
            for _ in 0..<3 { nodes.append(running.add(try await BrokerLiveTests.node(broker: broker, store: store))) }
            let cluster = try await BrokerLiveTests.oneKeyConfiguration(broker: broker, nodes: nodes)
            try await BrokerLiveTests.secretsReachOnlyTheirReaders(broker: broker, nodes: nodes, cluster: cluster, store: store)
            try await BrokerLiveTests.aSealedRequestOpensOnce(nodes: nodes, cluster: cluster)
            try await BrokerLiveTests.theSecretIsNowhereOutside(running.all, server: server, store: store)
        }
    }

}
