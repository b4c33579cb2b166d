import Foundation
import GRDB
import Testing
@testable import TabulaPlatform
import TabulaWire

/// The SQLite backend of a store opened with a path.
func sqlite(_ store: Store) -> SQLiteBackend {
    store.backend as! SQLiteBackend
}

@Suite("Store")
struct StoreTests {
    private func withStore(retention: Int = 10_000, _ body: (Store, String) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tabula-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("tabula.db").path
        try await body(try Store(path: path, activationRetention: retention), path)
    }

    private func activation(_ id: Int, namespace: String = "guest", name: String = "a", start: Int64) -> Activation {
        Activation(namespace: namespace, name: name, version: "0.0.1", subject: namespace,
                   activationId: String(format: "%032x", id), start: start, end: start + 5,
                   response: Activation.Response(ActivationResponse(status: .success, result: [:])), logs: [], annotations: [])
    }

    /// Acknowledged means stored, also on power loss: the writer syncs the write-ahead log at every
    /// commit (GRDB's own default for a pool in WAL mode, NORMAL, syncs only at checkpoints).
    @Test func commitsAreSyncedToDisk() async throws {
        try await withStore { store, _ in
            let mode = try sqlite(store).database.writeWithoutTransaction { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") }
            let synchronous = try sqlite(store).database.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
            #expect(mode == "wal")
            #expect(synchronous == 2, "PRAGMA synchronous is \(synchronous.map(String.init) ?? "unknown"), not FULL (2)")
        }
    }

    @Test func namespacesAndCredentials() async throws {
        try await withStore { store, path async throws in
            let guest = try await store.createNamespace("guest")
            #expect(guest.key.count == 64 && guest.key.allSatisfy { $0.isLetter || $0.isNumber })
            #expect(UUID(uuidString: guest.uuid) != nil)
            #expect(try await store.authenticate(uuid: guest.uuid, key: guest.key) == "guest")
            let wrong = (guest.key.first == "x" ? "y" : "x") + guest.key.dropFirst()
            #expect(try await store.authenticate(uuid: guest.uuid, key: wrong) == nil)
            await #expect(throws: PlatformError.self) { try await store.createNamespace("guest") }
            await #expect(throws: PlatformError.self) { try await store.createNamespace("bad/name") }
            // The key itself is never stored.
            let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
            for file in try FileManager.default.contentsOfDirectory(atPath: directory.path) {
                let bytes = try Data(contentsOf: directory.appendingPathComponent(file))
                #expect(bytes.range(of: Data(guest.key.utf8)) == nil, "\(file) holds the key")
                #expect(bytes.range(of: Data(guest.uuid.utf8)) != nil || file != "tabula.db-wal", "the check reads the WAL")
            }
            // Reopening runs no migration twice and keeps the data.
            #expect(try await Store(path: path).namespaces() == ["guest"])
        }
    }

    /// Credentials are remembered for a while: a namespace deleted through the same store stops
    /// authenticating at once, one deleted by another process once the remembered entry expires.
    @Test func rememberedCredentialsFollowDeletions() async throws {
        try await withStore { store, path async throws in
            let remembering = try Store(path: path, credentialLifetime: .milliseconds(300))
            let guest = try await remembering.createNamespace("guest")
            let other = try await remembering.createNamespace("other")
            #expect(try await remembering.authenticate(uuid: guest.uuid, key: guest.key) == "guest")
            #expect(try await remembering.authenticate(uuid: other.uuid, key: other.key) == "other")
            #expect(try await remembering.authenticate(uuid: guest.uuid, key: other.key) == nil)
            #expect(try await remembering.deleteNamespace("guest"))
            #expect(try await remembering.authenticate(uuid: guest.uuid, key: guest.key) == nil)
            // Deleted by another connection (as by `tabula namespace delete` while serving).
            #expect(try await store.deleteNamespace("other"))
            try await Task.sleep(for: .milliseconds(400))
            #expect(try await remembering.authenticate(uuid: other.uuid, key: other.key) == nil)
        }
    }

    @Test func actionsAreVersionedAndDeletedWithTheirNamespace() async throws {
        try await withStore { store, _ async throws in
            _ = try await store.createNamespace("guest")
            let action = Store.StoredAction(action: Action(namespace: "guest", name: "a", exec: Action.Exec(binary: false)), code: Array("(module)".utf8), digest: "00")
            #expect(try await store.putAction(action, overwrite: false).action.version == "0.0.1")
            await #expect(throws: PlatformError(.conflict, "resource already exists")) { try await store.putAction(action, overwrite: false) }
            #expect(try await store.putAction(action, overwrite: true).action.version == "0.0.2")
            #expect(try await store.action(namespace: "guest", name: "a")?.code == Array("(module)".utf8))
            try await store.insertActivation(activation(1, start: 1))
            #expect(try await store.deleteNamespace("guest"))
            #expect(try await store.action(namespace: "guest", name: "a") == nil)
            #expect(try await store.activation(namespace: "guest", id: String(format: "%032x", 1)) == nil)
            #expect(try await !store.deleteNamespace("guest"))
        }
    }

    @Test func retentionKeepsTheNewestActivations() async throws {
        try await withStore(retention: 3) { store, _ async throws in
            _ = try await store.createNamespace("guest")
            for index in 1...5 { try await store.insertActivation(activation(index, start: Int64(index))) }
            let kept = try await store.activations(namespace: "guest", name: nil, limit: 10, skip: 0, since: nil, upto: nil)
            #expect(kept.map(\.start) == [5, 4, 3])
        }
    }

    /// Retention counts per namespace: one tenant's flood of records never deletes another's.
    @Test func retentionIsPerNamespace() async throws {
        try await withStore(retention: 4) { store, _ async throws in
            _ = try await store.createNamespace("quiet")
            _ = try await store.createNamespace("loud")
            for index in 1...2 { try await store.insertActivation(activation(index, namespace: "quiet", start: Int64(index))) }
            for index in 3...40 { try await store.insertActivation(activation(index, namespace: "loud", start: Int64(index))) }
            #expect(try await store.activations(namespace: "quiet", name: nil, limit: 100, skip: 0, since: nil, upto: nil).map(\.start) == [2, 1])
            #expect(try await store.activations(namespace: "loud", name: nil, limit: 100, skip: 0, since: nil, upto: nil).map(\.start) == [40, 39, 38, 37])
        }
    }

    /// A stand-in stored before a 202 is hidden until the real record replaces it; one left by a
    /// crash is published at the next start; a stand-in never replaces a real record.
    @Test func standInsAreHiddenReplacedAndRecovered() async throws {
        try await withStore { store, path async throws in
            _ = try await store.createNamespace("guest")
            var standIn = activation(1, start: 1)
            standIn.response = Activation.Response(ActivationResponse(status: .internalError, result: ["error": "stopped"]))
            try await store.insertActivation(standIn, pending: true)
            #expect(try await store.activation(namespace: "guest", id: standIn.activationId) == nil)
            #expect(try await store.activations(namespace: "guest", name: nil, limit: 10, skip: 0, since: nil, upto: nil).isEmpty)
            // The real record replaces it; a late stand-in changes nothing.
            let real = activation(1, start: 2)
            try await store.insertActivation(real)
            try await store.insertActivation(standIn, pending: true)
            #expect(try await store.activation(namespace: "guest", id: real.activationId) == real)
            // A stand-in whose activation never ended: published by the next start.
            let orphan = activation(2, start: 3)
            try await store.insertActivation(orphan, pending: true)
            let restarted = try Store(path: path)
            #expect(try await restarted.recoverInterruptedActivations() == 1)
            #expect(try await restarted.activation(namespace: "guest", id: orphan.activationId) == orphan)
            #expect(try await restarted.activations(namespace: "guest", name: nil, limit: 10, skip: 0, since: nil, upto: nil).count == 2)
            #expect(try await restarted.recoverInterruptedActivations() == 0)
        }
    }

    /// Concurrent inserts are committed in batches: every caller returns only once its own record is
    /// stored, retention still holds, and a record that cannot be stored (its namespace does not
    /// exist) fails alone without undoing the records committed with it.
    @Test func concurrentInsertsAreCommittedTogetherAndFailAlone() async throws {
        try await withStore { store, path async throws in
            _ = try await store.createNamespace("guest")
            let other = try Store(path: path)
            @Sendable func insert(_ store: Store, _ indexes: ClosedRange<Int>) async -> [Int: Bool] {
                await withTaskGroup(of: (Int, Bool).self) { group in
                    for index in indexes {
                        group.addTask {
                            let record = activation(index, namespace: index % 50 == 0 ? "nobody" : "guest", start: Int64(index))
                            do {
                                try await store.insertActivation(record)
                                // Committed: another connection to the same file sees it at once.
                                return (index, try await other.activation(namespace: "guest", id: String(format: "%032x", index)) != nil)
                            } catch {
                                return (index, false)
                            }
                        }
                    }
                    var outcomes: [Int: Bool] = [:]
                    for await (index, stored) in group { outcomes[index] = stored }
                    return outcomes
                }
            }
            let outcomes = await insert(store, 1...200)
            #expect(outcomes.filter { !$0.value }.keys.sorted() == [50, 100, 150, 200])
            let all = try await store.activations(namespace: "guest", name: nil, limit: 1000, skip: 0, since: nil, upto: nil)
            #expect(all.count == 196)

            let pruning = try Store(path: path, activationRetention: 150)
            _ = await insert(pruning, 201...260)
            let kept = try await store.activations(namespace: "guest", name: nil, limit: 1000, skip: 0, since: nil, upto: nil)
            // Pruned every eighth of the retention: at most that many more between prunings.
            #expect((150...150 + 150 / 8).contains(kept.count))
            #expect(kept.allSatisfy { $0.start % 50 != 0 })
            #expect(Set(kept.map(\.start)).isSuperset(of: (201...260).filter { $0 % 50 != 0 }.map(Int64.init)))
        }
    }
    /// The log is copied into the database beside the commits: a background checkpoint runs after
    /// enough commits, and one on the checkpointer's own connection copies every frame while the
    /// store's connections stay open, without losing or changing a record.
    @Test func theLogIsCheckpointedBesideTheCommits() async throws {
        try await withStore { store, path async throws in
            _ = try await store.createNamespace("guest")
            let count = SQLiteBackend.Checkpointer.commitsPerCheckpoint + 1
            // One at a time: each record is a commit of its own.
            for index in 1...count {
                try await store.insertActivation(activation(index, start: Int64(index)))
            }
            let deadline = ContinuousClock.now + .seconds(30)
            while sqlite(store).checkpointer.completed == 0, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(sqlite(store).checkpointer.completed >= 1)

            let (frames, copied) = try sqlite(store).checkpointer.checkpoint()
            #expect(frames > 0)
            #expect(copied == frames)
            let reopened = try Store(path: path)
            let stored = try await reopened.activations(namespace: "guest", name: nil, limit: 1000, skip: 0, since: nil, upto: nil)
            #expect(stored.count == count)
            #expect(try await reopened.activation(namespace: "guest", id: String(format: "%032x", count))?.start == Int64(count))
        }
    }
}
