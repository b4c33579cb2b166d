import Foundation
import Synchronization
import TabulaTestSupport
import Testing
@testable import TabulaPlatform
import TabulaWire

/// What every store backend must do alike: the embedded SQLite store and PostgreSQL (a real
/// server, started for this suite).
@Suite("Store contract", .postgres)
struct StoreContractTests {
    enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case sqlite, postgres
        var testDescription: String { rawValue }
    }

    /// Runs `body` with an empty store of `backend`.
    private func withStore(_ backend: Backend, retention: Int = 10_000, node: String = "node-a", _ body: (Store) async throws -> Void) async throws {
        switch backend {
        case .sqlite:
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tabula-contract-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            try await body(try Store(path: directory.appendingPathComponent("tabula.db").path, activationRetention: retention))
        case .postgres:
            let server = try #require(PostgresServer.current)
            let url = try await PostgresServer.offThePool { try server.createDatabase() }
            let store = try await Self.open(url, retention: retention, node: node)
            do {
                try await body(store)
                await store.close()
            } catch {
                await store.close()
                throw error
            }
        }
    }

    static func open(_ url: String, retention: Int = 10_000, node: String = "node-a") async throws -> Store {
        guard case .postgres(var configuration) = try StoreLocation(parsing: url) else { throw PostgresServer.Failure("not a postgres URL") }
        configuration.node = node
        return try await Store.open(.postgres(configuration), activationRetention: retention)
    }

    private func activation(_ id: Int, namespace: String = "guest", name: String = "a", start: Int64, result: JSONValue = [:], logs: [String] = []) -> Activation {
        Activation(namespace: namespace, name: name, version: "0.0.1", subject: namespace,
                   activationId: String(format: "%032x", id), start: start, end: start + 5,
                   response: Activation.Response(ActivationResponse(status: .success, result: result)), logs: logs, annotations: [])
    }

    private func stored(_ name: String, namespace: String = "guest", code: [UInt8] = Array("(module)".utf8)) -> Store.StoredAction {
        Store.StoredAction(action: Action(namespace: namespace, name: name, exec: Action.Exec(kind: "wasm")), code: code, digest: "00")
    }

    @Test(arguments: Backend.allCases)
    func namespacesAndCredentials(backend: Backend) async throws {
        try await withStore(backend) { store in
            let guest = try await store.createNamespace("guest")
            _ = try await store.createNamespace("Zed")
            _ = try await store.createNamespace("alpha")
            // Byte order, whatever the server's locale.
            #expect(try await store.namespaces() == ["Zed", "alpha", "guest"])
            let taken = await #expect(throws: PlatformError.self) { try await store.createNamespace("guest") }
            #expect(taken?.code == .conflict)
            #expect(try await store.authenticate(uuid: guest.uuid, key: guest.key) == "guest")
            #expect(try await store.authenticate(uuid: guest.uuid, key: String(guest.key.reversed())) == nil)
            #expect(try await store.authenticate(uuid: "no-such-uuid", key: guest.key) == nil)
            #expect(try await store.namespaceIdentity("guest") == guest.uuid)
            #expect(try await store.namespaceIdentity("nobody") == nil)
            #expect(try await store.deleteNamespace("guest"))
            #expect(try await !store.deleteNamespace("guest"))
            #expect(try await store.authenticate(uuid: guest.uuid, key: guest.key) == nil)
            #expect(try await store.namespaces() == ["Zed", "alpha"])
        }
    }

    @Test(arguments: Backend.allCases)
    func actionsKeepVersionsOwnersAndBytes(backend: Backend) async throws {
        try await withStore(backend) { store in
            let guest = try await store.createNamespace("guest")
            // Every byte value survives, NUL included.
            let code = (0...255).map(UInt8.init) + [0, 0, 255]
            let first = try await store.putAction(stored("a", code: code), overwrite: false)
            #expect(first.action.version == "0.0.1")
            #expect(first.owner == guest.uuid)
            #expect(!first.revision.isEmpty)
            let again = await #expect(throws: PlatformError.self) { try await store.putAction(stored("a"), overwrite: false) }
            #expect(again?.code == .conflict)
            let second = try await store.putAction(stored("a", code: [1, 2, 3]), overwrite: true)
            #expect(second.action.version == "0.0.2")
            #expect(second.revision != first.revision)
            let read = try #require(try await store.action(namespace: "guest", name: "a"))
            #expect(read.code == [1, 2, 3])
            #expect(read.revision == second.revision && read.owner == guest.uuid && read.action.version == "0.0.2")

            let orphan = await #expect(throws: PlatformError.self) { try await store.putAction(stored("a", namespace: "nobody"), overwrite: true) }
            #expect(orphan?.code == .notFound)

            try await Task.sleep(for: .milliseconds(5))
            _ = try await store.putAction(stored("b", code: code), overwrite: false)
            #expect(try await store.actionCount(namespace: "guest") == 2)
            // Most recently updated first; pages and byte limits as asked.
            #expect(try await store.actions(namespace: "guest", limit: 30, skip: 0).map(\.name) == ["b", "a"])
            #expect(try await store.actions(namespace: "guest", limit: 1, skip: 1).map(\.name) == ["a"])
            #expect(try await store.actions(namespace: "guest", limit: 30, skip: 0, byteLimit: 1).map(\.name) == ["b"])

            let deleted = try #require(try await store.deleteAction(namespace: "guest", name: "b"))
            #expect(deleted.code == code && deleted.owner == guest.uuid)
            #expect(try await store.deleteAction(namespace: "guest", name: "b") == nil)
            #expect(try await store.action(namespace: "guest", name: "b") == nil)
        }
    }

    /// Packages, triggers and rules: versions, conflicts, published-only listings, a package's
    /// force delete taking exactly its own actions (not another package's with a longer name, nor
    /// another namespace's), and namespace deletion.
    @Test(arguments: Backend.allCases)
    func entitiesAndPackageContents(backend: Backend) async throws {
        try await withStore(backend) { store in
            _ = try await store.createNamespace("guest")
            _ = try await store.createNamespace("other")
            let created = try await store.put(Package.self, namespace: "guest", name: "p", overwrite: false) { _ in Package(namespace: "guest", name: "p") }
            #expect(created.version == "0.0.1")
            await #expect(throws: PlatformError(.conflict, PlatformError.alreadyExists)) {
                try await store.put(Package.self, namespace: "guest", name: "p", overwrite: false) { _ in Package(namespace: "guest", name: "p") }
            }
            let shared = try await store.put(Package.self, namespace: "guest", name: "p", overwrite: true) { old in
                var package = try #require(old)
                package.publish = true
                return package
            }
            #expect(shared.version == "0.0.2")
            _ = try await store.put(Package.self, namespace: "guest", name: "p_", overwrite: false) { _ in Package(namespace: "guest", name: "p_") }
            #expect(try await store.entities(Package.self, namespace: "guest", publishedOnly: true, limit: 10, skip: 0).map(\.name) == ["p"])
            #expect(try await store.entityCount(Package.self, namespace: "guest", publishedOnly: false) == 2)
            #expect(try await store.entity(Trigger.self, namespace: "guest", name: "p") == nil, "kinds do not mix")

            let code: [UInt8] = Array("(module)".utf8)
            for name in ["p/a", "p/b", "p_/c", "pa"] {
                _ = try await store.putAction(Store.StoredAction(action: Action(namespace: "guest", name: name, exec: Action.Exec()), code: code, digest: "d"), overwrite: false)
            }
            _ = try await store.put(Package.self, namespace: "other", name: "p", overwrite: false) { _ in Package(namespace: "other", name: "p") }
            _ = try await store.putAction(Store.StoredAction(action: Action(namespace: "other", name: "p/a", exec: Action.Exec()), code: code, digest: "d"), overwrite: false)
            #expect(try await store.actions(namespace: "guest", package: "p", limit: 10, skip: 0).count == 2)
            // The store checks the package in the transaction that writes the action.
            await #expect(throws: PlatformError(.notFound, PlatformError.doesNotExist)) {
                _ = try await store.putAction(Store.StoredAction(action: Action(namespace: "guest", name: "nothere/a", exec: Action.Exec()), code: code, digest: "d"), overwrite: false)
            }
            _ = try await store.put(Package.self, namespace: "guest", name: "bound", overwrite: false) { _ in
                Package(namespace: "guest", name: "bound", binding: Package.Binding(namespace: "guest", name: "p"))
            }
            await #expect(throws: PlatformError(.badRequest, "Operation not permitted on package binding.")) {
                _ = try await store.putAction(Store.StoredAction(action: Action(namespace: "guest", name: "bound/a", exec: Action.Exec()), code: code, digest: "d"), overwrite: false)
            }
            _ = try await store.delete(Package.self, namespace: "guest", name: "bound")
            #expect(try await store.actions(namespace: "guest", package: "p_", limit: 10, skip: 0).map(\.name) == ["p_/c"], "_ is no wildcard")
            await #expect(throws: PlatformError(.conflict, "Package not empty (contains 2 entities). Set force param or delete package contents.")) {
                _ = try await store.delete(Package.self, namespace: "guest", name: "p")
            }
            let deleted = try #require(try await store.delete(Package.self, namespace: "guest", name: "p", force: true))
            #expect(Set(deleted.actions) == ["p/a", "p/b"])
            #expect(try await store.action(namespace: "guest", name: "p_/c") != nil)
            #expect(try await store.action(namespace: "guest", name: "pa") != nil)
            #expect(try await store.action(namespace: "other", name: "p/a") != nil)
            #expect(try await store.delete(Package.self, namespace: "guest", name: "p") == nil)

            _ = try await store.put(Trigger.self, namespace: "guest", name: "t", overwrite: false) { _ in Trigger(namespace: "guest", name: "t") }
            #expect(try await store.deleteNamespace("guest"))
            _ = try await store.createNamespace("guest")
            #expect(try await store.entity(Trigger.self, namespace: "guest", name: "t") == nil, "a namespace's entities go with it")
            #expect(try await store.entity(Package.self, namespace: "guest", name: "p_") == nil)
        }
    }

    @Test(arguments: Backend.allCases)
    func standInsAreHiddenUntilReplacedOrPublished(backend: Backend) async throws {
        try await withStore(backend) { store in
            _ = try await store.createNamespace("guest")
            var standIn = activation(1, start: 1000, result: ["error": "interrupted"])
            standIn.response = Activation.Response(ActivationResponse(status: .internalError, result: ["error": "interrupted"]))
            try await store.insertActivation(standIn, pending: true)
            #expect(try await store.activation(namespace: "guest", id: standIn.activationId) == nil)
            #expect(try await store.activations(namespace: "guest", name: nil, limit: 10, skip: 0, since: nil, upto: nil).isEmpty)
            // The real record replaces its stand-in; a late stand-in never replaces a record.
            let real = activation(1, start: 1001, result: ["ok": true])
            try await store.insertActivation(real)
            try await store.insertActivation(standIn, pending: true)
            #expect(try await store.activation(namespace: "guest", id: real.activationId) == real)
            #expect(try await store.recoverInterruptedActivations() == 0)

            let orphan = activation(2, start: 1002)
            try await store.insertActivation(orphan, pending: true)
            #expect(try await store.recoverInterruptedActivations() == 1)
            #expect(try await store.activation(namespace: "guest", id: orphan.activationId) == orphan)
        }
    }

    @Test(arguments: Backend.allCases)
    func activationListingsFilterPageAndSummarise(backend: Backend) async throws {
        try await withStore(backend) { store in
            _ = try await store.createNamespace("guest")
            _ = try await store.createNamespace("other")
            // Hostile content comes back exactly: NUL, quotes, non-ASCII, a long string.
            let hostile: JSONValue = ["text": .string("a\u{0}b\"c\\d é 😀 \u{1F}"), "long": .string(String(repeating: "x", count: 200_000))]
            let records = [
                activation(1, name: "a", start: 100, result: hostile, logs: ["line \u{0} one"]),
                activation(2, name: "b", start: 200),
                activation(3, name: "a", start: 200),
                activation(4, name: "a", start: 300),
            ]
            for record in records { try await store.insertActivation(record) }
            try await store.insertActivation(activation(5, namespace: "other", start: 400))
            let all = try await store.activations(namespace: "guest", name: nil, limit: 10, skip: 0, since: nil, upto: nil)
            // Newest first; of two records of the same millisecond, the later insert first.
            #expect(all.map(\.activationId) == [records[3], records[2], records[1], records[0]].map(\.activationId))
            #expect(all.last == records[0])
            #expect(try await store.activations(namespace: "guest", name: "a", limit: 10, skip: 0, since: 150, upto: 250).map(\.activationId) == [records[2].activationId])
            #expect(try await store.activations(namespace: "guest", name: nil, limit: 2, skip: 1, since: nil, upto: nil).map(\.activationId) == [records[2], records[1]].map(\.activationId))
            let summaries = try await store.activations(namespace: "guest", name: nil, limit: 10, skip: 0, since: nil, upto: nil, summaries: true)
            #expect(summaries.count == 4)
            #expect(summaries.allSatisfy { $0.response == nil && $0.logs == nil })
            #expect(summaries.last?.activationId == records[0].activationId)
            // The byte limit stops before the big record, but never returns nothing.
            #expect(try await store.activations(namespace: "guest", name: "a", limit: 10, skip: 2, since: nil, upto: nil, byteLimit: 10).count == 1)
            #expect(try await store.activations(namespace: "guest", name: nil, limit: 10, skip: 0, since: nil, upto: nil, byteLimit: 100_000).count == 3)
            #expect(try await store.activation(namespace: "other", id: records[0].activationId) == nil)
        }
    }

    @Test(arguments: Backend.allCases)
    func retentionAndNamespaceDeletion(backend: Backend) async throws {
        try await withStore(backend, retention: 3) { store in
            _ = try await store.createNamespace("guest")
            _ = try await store.createNamespace("other")
            for index in 0..<10 { try await store.insertActivation(activation(index, start: Int64(1000 + index))) }
            try await store.insertActivation(activation(100, namespace: "other", start: 5))
            let kept = try await store.activations(namespace: "guest", name: nil, limit: 50, skip: 0, since: nil, upto: nil)
            #expect(kept.map(\.start) == [1009, 1008, 1007])
            // One tenant's traffic never deletes another's records.
            #expect(try await store.activations(namespace: "other", name: nil, limit: 50, skip: 0, since: nil, upto: nil).count == 1)

            _ = try await store.putAction(stored("a"), overwrite: false)
            #expect(try await store.deleteNamespace("guest"))
            _ = try await store.createNamespace("guest")
            #expect(try await store.action(namespace: "guest", name: "a") == nil)
            #expect(try await store.activations(namespace: "guest", name: nil, limit: 50, skip: 0, since: nil, upto: nil).isEmpty)
            // A record of a namespace that no longer exists is refused, not stored.
            await #expect(throws: (any Error).self) { try await store.insertActivation(activation(200, namespace: "gone", start: 1)) }
        }
    }

    /// Nodes of a cluster share the store: each publishes only its own stand-ins when it starts
    /// again (the others' are activations still running there).
    @Test func nodesPublishOnlyTheirOwnStandIns() async throws {
        let server = try #require(PostgresServer.current)
        let url = try await PostgresServer.offThePool { try server.createDatabase() }
        let a = try await Self.open(url, node: "node-a")
        let b = try await Self.open(url, node: "node-b")
        _ = try await a.createNamespace("guest")
        try await a.insertActivation(activation(1, start: 1), pending: true)
        try await b.insertActivation(activation(2, start: 2), pending: true)
        #expect(try await b.recoverInterruptedActivations() == 1)
        #expect(try await a.activation(namespace: "guest", id: activation(1, start: 1).activationId) == nil)
        #expect(try await a.activation(namespace: "guest", id: activation(2, start: 2).activationId) != nil)
        #expect(try await a.recoverInterruptedActivations() == 1)
        // What one node wrote, another reads at once.
        _ = try await a.putAction(stored("shared"), overwrite: false)
        #expect(try await b.action(namespace: "guest", name: "shared")?.action.version == "0.0.1")
        await a.close()
        await b.close()
    }

    /// A change of an action made through one node reaches the others by notification; the
    /// listener tells them to forget everything when it (re)connects.
    @Test func actionChangesAreNotifiedToEveryNode() async throws {
        let server = try #require(PostgresServer.current)
        let url = try await PostgresServer.offThePool { try server.createDatabase() }
        let a = try await Self.open(url, node: "node-a")
        let b = try await Self.open(url, node: "node-b")
        #expect(b.actionRecheck != nil)
        let heard = Mutex<[Store.ActionChange]>([])
        b.observeActionChanges { change in heard.withLock { $0.append(change) } }
        func waitFor(_ change: Store.ActionChange) async throws -> Bool {
            for _ in 0..<200 {
                if heard.withLock({ $0.contains(change) }) { return true }
                try await Task.sleep(for: .milliseconds(50))
            }
            return false
        }
        #expect(try await waitFor(.all), "the listener never connected")
        _ = try await a.createNamespace("guest")
        _ = try await a.putAction(stored("f"), overwrite: false)
        #expect(try await waitFor(.action(namespace: "guest", name: "f")))
        heard.withLock { $0.removeAll() }
        _ = try await a.deleteAction(namespace: "guest", name: "f")
        #expect(try await waitFor(.action(namespace: "guest", name: "f")))
        await a.close()
        await b.close()
    }

    /// The cluster's queue: bounded per namespace, each invocation claimed by one node, claims a
    /// node does not run given back, and a stopped node's claims recorded as interrupted.
    @Test func theQueueIsClaimedOnceAndAStoppedNodesClaimsAreEnded() async throws {
        let server = try #require(PostgresServer.current)
        let url = try await PostgresServer.offThePool { try server.createDatabase() }
        let a = try await Self.open(url, node: "node-a")
        let b = try await Self.open(url, node: "node-b")
        let queueA = try #require(a.cluster)
        let queueB = try #require(b.cluster)
        _ = try await a.createNamespace("guest")
        func queued(_ id: Int) -> (Store.QueuedInvocation, Store.ActivationRow) {
            let standIn = activation(id, start: Int64(id))
            return (Store.QueuedInvocation(id: standIn.activationId, namespace: "guest", name: "a", subject: "guest", parameters: "{}", received: Int64(id)),
                    Store.ActivationRow(activation: standIn, document: Store.encode(standIn), pending: true))
        }
        for id in 1...2 {
            let (invocation, standIn) = queued(id)
            try await queueA.enqueue(invocation, standIn: standIn, limit: 2)
        }
        let (third, thirdStandIn) = queued(3)
        let full = await #expect(throws: PlatformError.self) { try await queueA.enqueue(third, standIn: thirdStandIn, limit: 2) }
        #expect(full?.code == .tooManyRequests)
        // Refused whole: no stand-in either.
        #expect(try await a.recoverInterruptedActivations() == 0)

        let first = try #require(try await queueB.claim(node: "node-b"))
        let second = try #require(try await queueA.claim(node: "node-a"))
        #expect(first.id != second.id)
        #expect(try await queueA.claim(node: "node-a") == nil)
        // node-b runs nothing it claimed: its claim goes back, and node-a takes it.
        try await queueB.releaseOrphans(node: "node-b", keeping: [])
        let again = try #require(try await queueA.claim(node: "node-a"))
        #expect(again.id == first.id)
        try await queueA.releaseOrphans(node: "node-a", keeping: [first.id, second.id])
        #expect(try await queueB.claim(node: "node-b") == nil)

        // node-a stops renewing its lease; node-b's sweep records node-a's claims as interrupted.
        try await queueA.heartbeat(node: "node-a", url: "http://a", report: "{}")
        try await Task.sleep(for: .milliseconds(1200))
        try await queueB.heartbeat(node: "node-b", url: "http://b", report: "{}")
        let nodes = try await queueB.nodes(lease: .seconds(1))
        #expect(nodes.map(\.name) == ["node-a", "node-b"])
        #expect(nodes.map(\.alive) == [false, true])
        #expect(try await queueB.sweep(lease: .seconds(1)) == 2)
        for id in [first.id, second.id] {
            #expect(try await b.activation(namespace: "guest", id: id) != nil, "the stand-in of \(id) was not published")
        }
        #expect(try await queueB.claim(node: "node-b") == nil)
        await a.close()
        await b.close()
    }

    /// Two nodes creating the same action at once: one creates it, the other is told it exists.
    /// The log's entries get dense indices however many append at once, and read back as written;
    /// the broker's state is replaced only by whoever read its version; a sealed request is
    /// remembered once.
    @Test(arguments: Backend.allCases)
    func logBlobsAndSealedRequests(backend: Backend) async throws {
        try await withStore(backend) { store in
            // Four batches of three at once: each batch lands at consecutive indices.
            let firsts = try await withThrowingTaskGroup(of: (batch: Int, first: UInt64).self) { group in
                for batch in 0..<4 {
                    group.addTask {
                        let entries = (0..<3).map { item in ([UInt8(batch * 3 + item)], [UInt8](repeating: UInt8(batch * 3 + item), count: 32)) }
                        return (batch, try await store.backend.appendLogEntries(entries))
                    }
                }
                return try await group.reduce(into: [(batch: Int, first: UInt64)]()) { $0.append($1) }
            }
            #expect(firsts.map(\.first).sorted() == [0, 3, 6, 9])
            let entries = try await store.backend.logEntries(from: 0, to: 100)
            let hashes = try await store.backend.logRecords(from: 0, to: 100).map(\.tag)
            #expect(entries.count == 12 && hashes.count == 12)
            for (entry, hash) in zip(entries, hashes) {
                #expect(hash == [UInt8](repeating: entry[0], count: 32))
            }
            for (batch, first) in firsts {
                #expect(entries[Int(first)..<Int(first) + 3].map { $0[0] } == (0..<3).map { UInt8(batch * 3 + $0) })
            }
            #expect(try await store.backend.logRecords(from: 10, to: 11).count == 1)
            #expect(try await store.backend.logRecords(from: 0, to: 100).map(\.input) == entries)

            #expect(try await store.loadBrokerState() == nil)
            let first = try #require(try await store.saveBrokerState([1], replacing: nil))
            #expect(try await store.saveBrokerState([2], replacing: nil) == nil, "a second creator must lose")
            let second = try #require(try await store.saveBrokerState([3], replacing: first))
            #expect(try await store.saveBrokerState([4], replacing: first) == nil, "a stale writer must lose")
            #expect(try await store.loadBrokerState().map { $0.bytes } == [3])
            #expect(try await store.loadBrokerState().map { $0.version } == second)
            // Names by prefix, without the bytes; a prefix's % and _ are not wildcards.
            #expect(try await store.backend.putBlob("job/a/1/input/x", bytes: [1], replacing: nil) != nil)
            #expect(try await store.backend.putBlob("job/a/1/input/y", bytes: [2], replacing: nil) != nil)
            #expect(try await store.backend.putBlob("job/a/10/input/z", bytes: [3], replacing: nil) != nil)
            #expect(try await store.backend.putBlob("job/a_1/input/w", bytes: [4], replacing: nil) != nil)
            #expect(try await store.backend.blobNames(prefix: "job/a/1/input/") == ["job/a/1/input/x", "job/a/1/input/y"])
            #expect(try await store.backend.blobNames(prefix: "job/a_") == ["job/a_1/input/w"])
            #expect(try await store.backend.blobNames(prefix: "nothing/") == [])

            let until = Date().addingTimeInterval(3600)
            #expect(try await store.rememberSealed([1, 2, 3], until: until))
            #expect(try await !store.rememberSealed([1, 2, 3], until: until))
            #expect(try await store.rememberSealed([1, 2, 4], until: until))
        }
    }

    @Test(arguments: Backend.allCases)
    func concurrentCreatesConflict(backend: Backend) async throws {
        try await withStore(backend) { store in
            _ = try await store.createNamespace("guest")
            let results = await withTaskGroup(of: Bool.self) { group in
                for index in 0..<8 {
                    group.addTask { (try? await store.putAction(self.stored("same", code: [UInt8(index)]), overwrite: false)) != nil }
                }
                return await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(results.filter { $0 }.count == 1)
            #expect(try await store.action(namespace: "guest", name: "same")?.action.version == "0.0.1")
        }
    }

    /// A server that is gone makes the store unavailable (503, retry), within its timeout, and a
    /// store opened on no server at all says so.
    @Test func aLostServerIsReportedAsUnavailable() async throws {
        try await PostgresServer.withServer { server in
            let url = try await PostgresServer.offThePool { try server.createDatabase() }
            let store = try await Self.open(url + "&timeout=2")
            _ = try await store.createNamespace("guest")
            server.kill9()
            let started = ContinuousClock.now
            let lost = await #expect(throws: PlatformError.self) { try await store.namespaces() }
            #expect(lost?.code == .unavailable)
            #expect(ContinuousClock.now - started < .seconds(30))
            await store.close()
            let none = await #expect(throws: PlatformError.self) { try await Self.open(url + "&timeout=2") }
            #expect(none?.code == .unavailable)
        }
    }

    @Test func locationsAreParsedStrictly() throws {
        guard case .postgres(let configuration) = try StoreLocation(parsing: "postgres://u:p%40ss@h1,h2:6543,[::1]:7000/db?sslmode=verify-full&timeout=1.5", environment: [:]) else {
            Issue.record("not postgres")
            return
        }
        #expect(configuration.username == "u" && configuration.password == "p@ss" && configuration.database == "db")
        #expect(configuration.endpoints.map(\.description) == ["h1:5432", "h2:6543", "::1:7000"])
        #expect(configuration.tls == .verifyFull && configuration.timeout == .milliseconds(1500))
        #expect(try StoreLocation(parsing: "postgres://u@h/db", environment: ["PGPASSWORD": "pw"]) == .postgres(.init(endpoints: [.init(host: "h", port: 5432)], username: "u", password: "pw", database: "db")))
        // The password never shows in what is printed.
        #expect(try StoreLocation(parsing: "postgres://u:secret@h/db").description == "postgres://u@h:5432/db")
        #expect(try StoreLocation(parsing: "sqlite:/tmp/x.db") == .sqlite(path: "/tmp/x.db"))
        for bad in ["mysql://u@h/db", "postgres://h/db", "postgres://u@h", "postgres://u@h:99999/db", "postgres://u@h/db?sslmode=maybe", "postgres://u@h/db?color=red", "sqlite:"] {
            #expect(throws: PlatformError.self, "\(bad)") { try StoreLocation(parsing: bad, environment: [:]) }
        }
    }
}
