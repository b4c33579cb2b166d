import Foundation
import GRDB
import Synchronization
package import TabulaWire

/// The embedded store of one node: a SQLite database in WAL mode, so that readers never wait for
/// the writer.
///
/// Every write is committed, and its write-ahead log synced to disk, before the call returns, so
/// whatever the server acknowledged survives a crash of the process and a power loss (on storage
/// that honours `fsync`).
package final class SQLiteBackend: StoreBackend {
    let database: DatabasePool
    /// Activation records waiting for the next group commit (see ``insertActivation(_:)``).
    private let pendingRecords = Mutex(PendingRecords())
    /// Where the group commits run, one at a time.
    private let commitQueue = DispatchQueue(label: "tabula.store.commit")
    /// Copies the write-ahead log into the database beside the commits rather than inside one.
    let checkpointer: Checkpointer

    /// Opens (creating and migrating if needed) the database at `path`.
    package init(path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA wal_autocheckpoint = \(Checkpointer.backstopFrames)")
        }
        checkpointer = Checkpointer(path: path)
        do {
            database = try DatabasePool(path: path, configuration: configuration)
            // GRDB opens a pool's writer with `synchronous = NORMAL`, which in WAL mode syncs only at
            // checkpoints: a commit could then be lost on power loss after its caller was answered.
            // FULL syncs the write-ahead log at every commit (one sync per group commit), so whatever
            // was acknowledged survives a power loss as well as a crash.
            try database.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
            try Self.migrator.migrate(database)
        } catch {
            throw PlatformError(.internalError, "cannot open the database at \(path): \(error)")
        }
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE namespace (
                    name TEXT PRIMARY KEY NOT NULL,
                    uuid TEXT NOT NULL UNIQUE,
                    keyHash TEXT NOT NULL,
                    created INTEGER NOT NULL
                );
                CREATE TABLE action (
                    namespace TEXT NOT NULL REFERENCES namespace(name) ON DELETE CASCADE,
                    name TEXT NOT NULL,
                    document TEXT NOT NULL,
                    code BLOB NOT NULL,
                    digest TEXT NOT NULL,
                    PRIMARY KEY (namespace, name)
                );
                CREATE TABLE activation (
                    id TEXT PRIMARY KEY NOT NULL,
                    namespace TEXT NOT NULL REFERENCES namespace(name) ON DELETE CASCADE,
                    name TEXT NOT NULL,
                    start INTEGER NOT NULL,
                    document TEXT NOT NULL
                );
                CREATE INDEX activation_by_namespace ON activation(namespace, start);
                """)
        }
        migrator.registerMigration("v2") { db in
            // revision: a fresh random id per stored version, what warm sandboxes are checked
            // against. pending: a record written before a 202 left, replaced when the activation
            // ends; one left over from a crash is published by ``publishStandIns()``.
            try db.execute(sql: """
                ALTER TABLE action ADD COLUMN revision TEXT NOT NULL DEFAULT '';
                ALTER TABLE activation ADD COLUMN pending INTEGER NOT NULL DEFAULT 0;
                CREATE INDEX activation_pending ON activation(pending) WHERE pending = 1;
                """)
        }
        migrator.registerMigration("v3") { db in
            // blob: the key broker's sealed state. sealed_request: fingerprints of sealed requests
            // opened with keys a broker shares between processes, for replay refusal.
            try db.execute(sql: """
                CREATE TABLE blob (name TEXT PRIMARY KEY NOT NULL, version INTEGER NOT NULL, bytes BLOB NOT NULL);
                CREATE TABLE sealed_request (fingerprint BLOB PRIMARY KEY NOT NULL, expires INTEGER NOT NULL);
                """)
        }
        migrator.registerMigration("v4") { db in
            // The verifiable log's entries (docs/log.md): the store keeps them; the enclave signs.
            try db.execute(sql: """
                CREATE TABLE log_entry (idx INTEGER PRIMARY KEY NOT NULL, input BLOB NOT NULL, hash BLOB NOT NULL);
                CREATE INDEX log_entry_by_hash ON log_entry(hash);
                """)
        }
        migrator.registerMigration("v5") { db in
            // Packages, triggers and rules: OpenWhisk documents, besides actions.
            try db.execute(sql: """
                CREATE TABLE entity (
                    namespace TEXT NOT NULL REFERENCES namespace(name) ON DELETE CASCADE,
                    kind TEXT NOT NULL,
                    name TEXT NOT NULL,
                    document TEXT NOT NULL,
                    publish INTEGER NOT NULL,
                    updated INTEGER NOT NULL,
                    link TEXT NOT NULL DEFAULT '',
                    PRIMARY KEY (namespace, kind, name)
                );
                CREATE INDEX entity_by_link ON entity(namespace, kind, link);
                """)
        }
        return migrator
    }

    // MARK: The verifiable log

    package func appendLogEntries(_ entries: [(input: [UInt8], tag: [UInt8])]) async throws -> UInt64 {
        try await database.write { db in try Self.appendLogEntries(entries, in: db) }
    }

    /// Appends log entries in the transaction under way: the first one's index.
    private static func appendLogEntries(_ entries: [(input: [UInt8], tag: [UInt8])], in db: Database) throws -> UInt64 {
        let first = try Int64.fetchOne(db, sql: "SELECT coalesce(max(idx) + 1, 0) FROM log_entry") ?? 0
        let statement = try db.cachedStatement(sql: "INSERT INTO log_entry (idx, input, hash) VALUES (?, ?, ?)")
        for (offset, entry) in entries.enumerated() {
            try statement.execute(arguments: [first + Int64(offset), Data(entry.input), Data(entry.tag)])
        }
        guard let index = UInt64(exactly: first) else { throw PlatformError(.internalError, "the store's log has a negative index") }
        return index
    }

    package func logRecords(from start: UInt64, to end: UInt64) async throws -> [(input: [UInt8], tag: [UInt8])] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT input, hash FROM log_entry WHERE idx >= ? AND idx < ? ORDER BY idx", arguments: [Int64(clamping: start), Int64(clamping: end)])
                .map { (Array($0["input"] as Data), Array($0["hash"] as Data)) }
        }
    }

    package func logEntries(from start: UInt64, to end: UInt64) async throws -> [[UInt8]] {
        try await database.read { db in
            try Data.fetchAll(db, sql: "SELECT input FROM log_entry WHERE idx >= ? AND idx < ? ORDER BY idx", arguments: [Int64(clamping: start), Int64(clamping: end)]).map { Array($0) }
        }
    }

    // MARK: Blobs and sealed requests

    package func blob(_ name: String) async throws -> (bytes: [UInt8], version: Int64)? {
        try await database.read { db in
            try Row.fetchOne(db, sql: "SELECT bytes, version FROM blob WHERE name = ?", arguments: [name]).map { row in
                (Array(row["bytes"] as Data), row["version"] as Int64)
            }
        }
    }

    package func blobNames(prefix: String) async throws -> [String] {
        // substr, not LIKE: a prefix may hold % or _, which LIKE would read as wildcards.
        try await database.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM blob WHERE substr(name, 1, length(?)) = ? ORDER BY name", arguments: [prefix, prefix])
        }
    }

    package func putBlob(_ name: String, bytes: [UInt8], replacing version: Int64?) async throws -> Int64? {
        try await database.write { db in
            if let version {
                try db.execute(sql: "UPDATE blob SET bytes = ?, version = version + 1 WHERE name = ? AND version = ?", arguments: [Data(bytes), name, version])
                return db.changesCount > 0 ? version + 1 : nil
            }
            try db.execute(sql: "INSERT OR IGNORE INTO blob (name, version, bytes) VALUES (?, 1, ?)", arguments: [name, Data(bytes)])
            return db.changesCount > 0 ? 1 : nil
        }
    }

    package func rememberSealed(_ fingerprint: [UInt8], expires: Int64) async throws -> Bool {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        return try await database.write { db in
            // Expired fingerprints go now and then, not on every sealed invocation (a scan).
            if Int.random(in: 0..<100) == 0 {
                try db.execute(sql: "DELETE FROM sealed_request WHERE expires < ?", arguments: [now])
            }
            try db.execute(sql: "INSERT OR IGNORE INTO sealed_request (fingerprint, expires) VALUES (?, ?)", arguments: [Data(fingerprint), expires])
            return db.changesCount > 0
        }
    }

    package func close() async {}

    /// The server that opened the database is its only writer of actions.
    package var notifiesActionChanges: Bool { false }

    package func observeActionChanges(_ handler: @escaping @Sendable (Store.ActionChange) -> Void) {}

    // MARK: Namespaces

    package func insertNamespace(_ name: String, uuid: String, keyHash: String, created: Int64) async throws {
        do {
            try await database.write { db in
                try db.execute(sql: "INSERT INTO namespace (name, uuid, keyHash, created) VALUES (?, ?, ?, ?)", arguments: [name, uuid, keyHash, created])
            }
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
            throw PlatformError(.conflict, "the namespace \(name) already exists")
        }
    }

    package func namespaces() async throws -> [String] {
        try await database.read { db in try String.fetchAll(db, sql: "SELECT name FROM namespace ORDER BY name") }
    }

    package func deleteNamespace(_ name: String) async throws -> Bool {
        try await database.write { db in
            try db.execute(sql: "DELETE FROM activation WHERE namespace = ?", arguments: [name])
            try db.execute(sql: "DELETE FROM action WHERE namespace = ?", arguments: [name])
            try db.execute(sql: "DELETE FROM entity WHERE namespace = ?", arguments: [name])
            try db.execute(sql: "DELETE FROM namespace WHERE name = ?", arguments: [name])
            return db.changesCount > 0
        }
    }

    package func credential(uuid: String) async throws -> (namespace: String, keyHash: String)? {
        try await database.read { db in
            try Row.fetchOne(db, sql: "SELECT name, keyHash FROM namespace WHERE uuid = ?", arguments: [uuid]).map { ($0["name"], $0["keyHash"]) }
        }
    }

    package func namespaceOwner(_ name: String) async throws -> String? {
        try await database.read { db in try String.fetchOne(db, sql: "SELECT uuid FROM namespace WHERE name = ?", arguments: [name]) }
    }

    // MARK: Actions

    package func putAction(
        namespace: String, name: String, code: [UInt8], digest: String, revision: String,
        revise: @escaping @Sendable (Action?) throws -> Action
    ) async throws -> Store.StoredAction {
        try await database.write { db in
            guard let owner = try String.fetchOne(db, sql: "SELECT uuid FROM namespace WHERE name = ?", arguments: [namespace]) else {
                throw PlatformError(.notFound, "The namespace \(namespace) does not exist (it was deleted).")
            }
            if let package = Store.package(ofAction: name) {
                // In this transaction: a package deleted meanwhile cannot be left with an orphan.
                let link = try String.fetchOne(
                    db, sql: "SELECT link FROM entity WHERE namespace = ? AND kind = ? AND name = ?", arguments: [namespace, Store.EntityKind.package.rawValue, package])
                try Store.checkPackage(link: link)
            }
            let previous = try String.fetchOne(db, sql: "SELECT document FROM action WHERE namespace = ? AND name = ?", arguments: [namespace, name])
            let action = try revise(try previous.map { try Store.decode(Action.self, $0) })
            try db.execute(sql: "INSERT OR REPLACE INTO action (namespace, name, document, code, digest, revision) VALUES (?, ?, ?, ?, ?, ?)",
                           arguments: [namespace, name, Store.encode(action), Data(code), digest, revision])
            return Store.StoredAction(action: action, code: code, digest: digest, owner: owner, revision: revision)
        }
    }

    package func action(namespace: String, name: String) async throws -> Store.StoredAction? {
        try await database.read { db in
            try Row.fetchOne(db, sql: Self.selectAction, arguments: [namespace, name]).map(Self.storedAction)
        }
    }

    package func actionDocuments(namespace: String, package: String?, limit: Int, skip: Int, page: Store.DocumentPage) async throws -> [String] {
        try await database.read { db in
            var page = page
            // substr, not LIKE: a name may hold _, which LIKE would read as a wildcard.
            let prefix = package.map { "\($0)/" } ?? ""
            let documents = try String.fetchCursor(
                db, sql: "SELECT document FROM action WHERE namespace = ? AND substr(name, 1, length(?)) = ? ORDER BY json_extract(document, '$.updated') DESC, name LIMIT ? OFFSET ?",
                arguments: [namespace, prefix, prefix, limit, skip])
            while let document = try documents.next(), page.add(document) {}
            return page.documents
        }
    }

    package func actionCount(namespace: String) async throws -> Int {
        try await database.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM action WHERE namespace = ?", arguments: [namespace]) ?? 0 }
    }

    package func deleteAction(namespace: String, name: String) async throws -> Store.StoredAction? {
        try await database.write { db in
            guard let row = try Row.fetchOne(db, sql: Self.selectAction, arguments: [namespace, name]) else { return nil }
            try db.execute(sql: "DELETE FROM action WHERE namespace = ? AND name = ?", arguments: [namespace, name])
            return try Self.storedAction(row)
        }
    }

    /// An action with its owner's identity, read in one statement so that the two agree.
    private static let selectAction = """
        SELECT action.document, action.code, action.digest, action.revision, namespace.uuid AS owner
        FROM action JOIN namespace ON namespace.name = action.namespace WHERE action.namespace = ? AND action.name = ?
        """

    private static func storedAction(_ row: Row) throws -> Store.StoredAction {
        let code: Data = row["code"]
        return Store.StoredAction(action: try Store.decode(Action.self, row["document"]), code: Array(code), digest: row["digest"], owner: row["owner"], revision: row["revision"])
    }

    // MARK: Activations

    /// Stores an activation record; returns once it is committed.
    ///
    /// Records that arrive while a commit is under way are committed together in the next
    /// transaction (group commit): SQLite's single writer then writes each shared page (the
    /// table's and its indexes' last pages) once per batch rather than once per record, which is
    /// what bounded confidential invocations per second. It waits without holding a thread.
    ///
    /// The commits run on a queue of their own and write synchronously: a commit never waits for
    /// a thread of the task pool, which the HTTP handlers and invocations keep busy, and a batch
    /// costs one thread wake-up rather than a task and two hops.
    package func insertActivation(_ record: Store.ActivationRow) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let leads = pendingRecords.withLock { pending in
                pending.records.append((record, continuation))
                if pending.committing { return false }
                pending.committing = true
                return true
            }
            if leads { commitQueue.async { self.commitPendingRecords() } }
        }
    }

    struct PendingRecords: ~Copyable {
        var records: [(Store.ActivationRow, CheckedContinuation<Void, any Error>)] = []
        var committing = false
    }

    /// Commits the waiting records in batches until none are left. Each record succeeds or fails
    /// on its own: a failed insert (its namespace was deleted meanwhile) is reported to its caller
    /// only, and does not undo the others.
    private func commitPendingRecords() {
        while true {
            let batch = pendingRecords.withLock { pending in
                if pending.records.isEmpty { pending.committing = false }
                defer { pending.records.removeAll(keepingCapacity: true) }
                return pending.records
            }
            if batch.isEmpty { return }
            do {
                let failures = try database.write { db -> [Int: any Error] in
                    var failures: [Int: any Error] = [:]
                    // The real record replaces its stand-in; a stand-in never replaces a record.
                    let sql = """
                        INSERT INTO activation (id, namespace, name, start, document, pending) VALUES (?, ?, ?, ?, ?, 0)
                        ON CONFLICT(id) DO UPDATE SET start = excluded.start, document = excluded.document, pending = 0
                        """
                    let pendingSQL = "INSERT INTO activation (id, namespace, name, start, document, pending) VALUES (?, ?, ?, ?, ?, 1) ON CONFLICT(id) DO NOTHING"
                    // Prepared once per batch. A statement whose step failed is not reused: SQLite
                    // would report the failure again for the next record.
                    var insert: Statement?
                    var insertPending: Statement?
                    for (index, (record, _)) in batch.enumerated() {
                        do {
                            let arguments: StatementArguments = [record.id, record.namespace, record.name, record.start, record.document]
                            if record.pending {
                                if insertPending == nil { insertPending = try db.makeStatement(sql: pendingSQL) }
                                try insertPending!.execute(arguments: arguments)
                            } else {
                                if insert == nil { insert = try db.makeStatement(sql: sql) }
                                try insert!.execute(arguments: arguments)
                            }
                        } catch {
                            // A failure that ended the transaction (a full disk, say) ends the
                            // batch: later statements must not run outside it.
                            guard db.isInsideTransaction else { throw error }
                            failures[index] = error
                            if record.pending { insertPending = nil } else { insert = nil }
                        }
                    }
                    // The log entries of the records stored, in the same transaction: an answer
                    // is never stored without its receipt in the log.
                    let entries = batch.indices.filter { failures[$0] == nil }.flatMap { batch[$0].0.logEntries }
                    if !entries.isEmpty { _ = try Self.appendLogEntries(entries, in: db) }
                    return failures
                }
                for (index, (_, continuation)) in batch.enumerated() {
                    if let failure = failures[index] { continuation.resume(throwing: failure) } else { continuation.resume() }
                }
                checkpointer.committed()
            } catch {
                for (_, continuation) in batch { continuation.resume(throwing: error) }
            }
        }
    }

    package func pruneActivations(namespace: String, keep: Int) async throws {
        // By start time, over the (namespace, start) index; records of the same millisecond as
        // the cut-off stay.
        try await database.write { db in
            try db.execute(sql: """
                DELETE FROM activation WHERE namespace = ? AND start < (
                    SELECT start FROM activation WHERE namespace = ? ORDER BY start DESC LIMIT 1 OFFSET ?)
                """, arguments: [namespace, namespace, max(0, keep - 1)])
        }
    }

    package func publishStandIns() async throws -> Int {
        try await database.write { db in
            try db.execute(sql: "UPDATE activation SET pending = 0 WHERE pending = 1")
            return db.changesCount
        }
    }

    package func activation(namespace: String, id: String) async throws -> String? {
        try await database.read { db in
            try String.fetchOne(db, sql: "SELECT document FROM activation WHERE namespace = ? AND id = ? AND pending = 0", arguments: [namespace, id])
        }
    }

    package func activationDocuments(_ query: Store.ActivationQuery, page: Store.DocumentPage) async throws -> [String] {
        try await database.read { db in
            var page = page
            // Summaries: SQLite removes response and logs, so that they are neither read nor decoded.
            let column = query.summaries ? "json_remove(document, '$.response', '$.logs')" : "document"
            var sql = "SELECT \(column) FROM activation WHERE namespace = ? AND pending = 0"
            var arguments: StatementArguments = [query.namespace]
            if let name = query.name { sql += " AND name = ?"; arguments += [name] }
            if let since = query.since { sql += " AND start >= ?"; arguments += [since] }
            if let upto = query.upto { sql += " AND start <= ?"; arguments += [upto] }
            sql += " ORDER BY start DESC, rowid DESC LIMIT ? OFFSET ?"
            arguments += [query.limit, query.skip]
            let documents = try String.fetchCursor(db, sql: sql, arguments: arguments)
            while let document = try documents.next(), page.add(document) {}
            return page.documents
        }
    }
}
