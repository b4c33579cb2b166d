import Crypto
import Foundation
import GRDB
import Synchronization
public import TabulaWire

/// The platform's SQLite database: namespaces, actions and activation records.
///
/// Every write is committed, and its write-ahead log synced to disk, before the call returns, so
/// whatever the server acknowledged survives a crash of the process and a power loss (on storage
/// that honours `fsync`). The database is opened in WAL mode so that readers never wait for the
/// writer.
public final class Store: Sendable {
    let database: DatabasePool
    /// The most activation records kept per namespace; older ones of that namespace are deleted
    /// as new ones arrive, so one tenant's traffic never deletes another's records.
    public let activationRetention: Int
    /// Records inserted per namespace since its last pruning (see ``prune(_:in:)``).
    private let pruneCounts = Mutex<[String: Int]>([:])
    /// How long credentials read from the database are trusted from memory.
    public let credentialLifetime: Duration
    /// Activation records waiting for the next group commit (see ``insertActivation(_:)``).
    private let pendingRecords = Mutex(PendingRecords())
    /// Where the group commits run, one at a time.
    private let commitQueue = DispatchQueue(label: "tabula.store.commit")
    /// Copies the write-ahead log into the database beside the commits rather than inside one.
    let checkpointer: Checkpointer
    /// Namespaces by credential uuid, recently read (see ``authenticate(uuid:key:)``).
    private let credentials = Mutex<[String: KnownCredential]>([:])
    /// The identity of each namespace name, recently read (see ``namespaceIdentity(_:)``).
    private let identities = Mutex<[String: KnownIdentity]>([:])

    /// Opens (creating and migrating if needed) the database at `path`.
    public init(path: String, activationRetention: Int = 10_000, credentialLifetime: Duration = .seconds(5)) throws {
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
        self.activationRetention = activationRetention
        self.credentialLifetime = credentialLifetime
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
            // ends; one left over from a crash is published by ``recoverInterruptedActivations()``.
            try db.execute(sql: """
                ALTER TABLE action ADD COLUMN revision TEXT NOT NULL DEFAULT '';
                ALTER TABLE activation ADD COLUMN pending INTEGER NOT NULL DEFAULT 0;
                CREATE INDEX activation_pending ON activation(pending) WHERE pending = 1;
                """)
        }
        return migrator
    }

    // MARK: Namespaces

    /// A namespace's credentials, OpenWhisk style: `UUID:KEY`.
    public struct Credentials: Sendable, Hashable, CustomStringConvertible {
        public var uuid: String
        public var key: String
        public var description: String { "\(uuid):\(key)" }
    }

    /// Creates a namespace with fresh credentials; only the key's hash is stored.
    public func createNamespace(_ name: String) throws -> Credentials {
        try EntityName.checkNewNamespace(name)
        let credentials = Credentials(uuid: UUID().uuidString.lowercased(), key: Self.randomKey())
        do {
            try database.write { db in
                try db.execute(sql: "INSERT INTO namespace (name, uuid, keyHash, created) VALUES (?, ?, ?, ?)",
                               arguments: [name, credentials.uuid, Self.hash(credentials.key), Self.now()])
            }
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
            throw PlatformError(.conflict, "the namespace \(name) already exists")
        }
        return credentials
    }

    /// All namespaces, sorted by name.
    public func namespaces() throws -> [String] {
        try database.read { db in try String.fetchAll(db, sql: "SELECT name FROM namespace ORDER BY name") }
    }

    /// Deletes a namespace with its actions and activations; `false` when there was none.
    @discardableResult
    public func deleteNamespace(_ name: String) throws -> Bool {
        // Forgotten before and after: a request authenticating meanwhile may have read the row again.
        forgetCredentials(of: name)
        defer { forgetCredentials(of: name) }
        pruneCounts.withLock { $0[name] = nil }
        return try database.write { db in
            try db.execute(sql: "DELETE FROM activation WHERE namespace = ?", arguments: [name])
            try db.execute(sql: "DELETE FROM action WHERE namespace = ?", arguments: [name])
            try db.execute(sql: "DELETE FROM namespace WHERE name = ?", arguments: [name])
            return db.changesCount > 0
        }
    }

    /// The namespace these credentials open, or `nil`.
    ///
    /// Every request authenticates, so what a uuid names (its namespace and key hash) is kept in
    /// memory for `credentialLifetime`: a namespace deleted through this store stops
    /// authenticating at once, one deleted by another process (`tabula namespace delete` while
    /// the server runs) within that time.
    public func authenticate(uuid: String, key: String) throws -> String? {
        // Credentials are ASCII: anything else cannot match, and would make the cache's key
        // (compared by canonical equivalence) differ from the database's (compared by bytes).
        guard uuid.utf8.allSatisfy({ $0 < 0x80 }) else { return nil }
        let now = ContinuousClock.now
        let known = credentials.withLock { cache -> KnownCredential? in
            guard let entry = cache[uuid], now < entry.expires else { return nil }
            return entry
        }.flatMap { entry in
            // Once the namespace is known to have another owner (recreated by another process),
            // the old credentials are read again, and fail, rather than wait out their lifetime.
            identities.withLock { $0[entry.namespace] }.map { $0.id == uuid } == false ? nil : entry
        }
        let entry: KnownCredential
        if let known {
            entry = known
        } else {
            let row = try database.read { db in
                try Row.fetchOne(db, sql: "SELECT name, keyHash FROM namespace WHERE uuid = ?", arguments: [uuid])
            }
            guard let row else { return nil }
            entry = KnownCredential(namespace: row["name"], keyHash: row["keyHash"], expires: now + credentialLifetime)
            credentials.withLock { cache in
                if cache.count >= 4096 { cache.removeAll(keepingCapacity: true) }
                cache[uuid] = entry
            }
            // What this read found is the newest word on who owns the name: a namespace deleted
            // and created again by another process is known by its new owner's first request.
            remember(identity: uuid, of: entry.namespace, readAt: now)
        }
        // Compare digests, not keys: equal-length hex strings, and the key itself is never stored.
        return entry.keyHash == Self.hash(key) ? entry.namespace : nil
    }

    private func forgetCredentials(of namespace: String) {
        credentials.withLock { cache in cache = cache.filter { !EntityName.same($0.value.namespace, namespace) } }
        identities.withLock { _ = $0.removeValue(forKey: namespace) }
    }

    /// Who owns the namespace `name` now: an id that changes when the namespace is deleted and
    /// created again (its credentials' uuid), or `nil` when there is no such namespace.
    ///
    /// Kept in memory for `credentialLifetime`, like credentials: a change made by another
    /// process (`tabula namespace delete --data-dir`) is seen within that time, and at once by the
    /// new owner, whose authentication reads the new row. Whatever is cached by namespace name
    /// (actions, warm sandboxes) is checked against this id.
    public func namespaceIdentity(_ name: String) throws -> String? {
        let now = ContinuousClock.now
        if let known = identities.withLock({ $0[name] }), now < known.expires {
            return known.id
        }
        let id = try database.read { db in try String.fetchOne(db, sql: "SELECT uuid FROM namespace WHERE name = ?", arguments: [name]) }
        remember(identity: id, of: name, readAt: now)
        return id
    }

    /// Records what a read at `readAt` found, unless a later read already did: of two reads the
    /// one that started last saw the newest state.
    private func remember(identity id: String?, of name: String, readAt: ContinuousClock.Instant) {
        let entry = KnownIdentity(id: id, expires: readAt + credentialLifetime)
        identities.withLock { cache in
            if let known = cache[name], known.expires > entry.expires { return }
            if cache.count >= 4096 { cache.removeAll(keepingCapacity: true) }
            cache[name] = entry
        }
    }

    struct KnownIdentity {
        var id: String?
        var expires: ContinuousClock.Instant
    }

    struct KnownCredential {
        var namespace: String
        var keyHash: String
        var expires: ContinuousClock.Instant
    }

    private static func randomKey() -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<64).map { _ in alphabet.randomElement(using: &generator)! })
    }

    private static func hash(_ key: String) -> String {
        Array(SHA256.hash(data: Data(key.utf8))).hex
    }

    static func now() -> Int64 {
        Int64(Date().timeIntervalSince1970 * 1000)
    }

    // MARK: Actions

    /// An action with its module bytes.
    public struct StoredAction: Sendable, Hashable {
        /// The document, without `exec.code`.
        public var action: Action
        public var code: [UInt8]
        /// SHA-256 of `code`, hex.
        public var digest: String
        /// The identity of the namespace that stored it (see ``Store/namespaceIdentity(_:)``).
        public var owner: String
        /// A random id of this stored version: a new one on every create and update.
        public var revision: String

        public init(action: Action, code: [UInt8], digest: String, owner: String = "", revision: String = "") {
            self.action = action
            self.code = code
            self.digest = digest
            self.owner = owner
            self.revision = revision
        }
    }

    /// Creates or (with `overwrite`) replaces an action; returns it with its new version.
    public func putAction(_ stored: StoredAction, overwrite: Bool) throws -> StoredAction {
        try database.write { db in
            var stored = stored
            guard let owner = try String.fetchOne(db, sql: "SELECT uuid FROM namespace WHERE name = ?", arguments: [stored.action.namespace]) else {
                throw PlatformError(.notFound, "The namespace \(stored.action.namespace) does not exist (it was deleted).")
            }
            stored.owner = owner
            stored.revision = UUID().uuidString.lowercased()
            let existing = try Row.fetchOne(db, sql: "SELECT document FROM action WHERE namespace = ? AND name = ?", arguments: [stored.action.namespace, stored.action.name])
            if let existing {
                guard overwrite else {
                    throw PlatformError(.conflict, "resource by this name exists")
                }
                let previous = try Self.decode(Action.self, existing["document"] as String)
                stored.action.version = Self.nextVersion(previous.version)
            }
            stored.action.updated = Self.now()
            try db.execute(sql: "INSERT OR REPLACE INTO action (namespace, name, document, code, digest, revision) VALUES (?, ?, ?, ?, ?, ?)",
                           arguments: [stored.action.namespace, stored.action.name, Self.encode(stored.action), Data(stored.code), stored.digest, stored.revision])
            return stored
        }
    }

    public func action(namespace: String, name: String) throws -> StoredAction? {
        try database.read { db in
            try Row.fetchOne(db, sql: Self.selectAction, arguments: [namespace, name]).map(Self.storedAction)
        }
    }

    /// Actions of a namespace, most recently updated first (as OpenWhisk lists them).
    ///
    /// The page is chosen by SQLite: only the documents returned are read and decoded.
    ///
    /// - Parameter byteLimit: stop adding actions once their stored documents would exceed this
    ///   many bytes (the first is always included).
    public func actions(namespace: String, limit: Int, skip: Int, byteLimit: Int = .max) throws -> [Action] {
        try database.read { db in
            let documents = try String.fetchCursor(
                db, sql: "SELECT document FROM action WHERE namespace = ? ORDER BY json_extract(document, '$.updated') DESC, name LIMIT ? OFFSET ?",
                arguments: [namespace, limit, skip])
            return try Self.decodePage(Action.self, documents, byteLimit: byteLimit)
        }
    }

    /// Decodes documents until their bytes would exceed `byteLimit`; at least one.
    private static func decodePage<T: Decodable, Documents: Cursor<String>>(_ type: T.Type, _ documents: Documents, byteLimit: Int) throws -> [T] {
        var page: [T] = []
        var size = 0
        while let document = try documents.next() {
            size += document.utf8.count
            if size > byteLimit && !page.isEmpty { break }
            page.append(try decode(type, document))
        }
        return page
    }

    public func actionCount(namespace: String) throws -> Int {
        try database.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM action WHERE namespace = ?", arguments: [namespace]) ?? 0 }
    }

    /// Deletes an action; returns it, or `nil` when there was none.
    public func deleteAction(namespace: String, name: String) throws -> StoredAction? {
        try database.write { db in
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

    private static func storedAction(_ row: Row) throws -> StoredAction {
        let code: Data = row["code"]
        return StoredAction(action: try decode(Action.self, row["document"]), code: Array(code), digest: row["digest"], owner: row["owner"], revision: row["revision"])
    }

    /// OpenWhisk bumps the patch version on every update.
    private static func nextVersion(_ version: String) -> String {
        var parts = version.split(separator: ".").map { Int($0) ?? 0 }
        while parts.count < 3 { parts.append(0) }
        parts[2] += 1
        return parts.map(String.init).joined(separator: ".")
    }

    // MARK: Activations

    /// Stores an activation record, and deletes the oldest records beyond the retention bound.
    ///
    /// Returns once the record is committed. Records that arrive while a commit is under way are
    /// committed together in the next transaction (group commit): SQLite's single writer then
    /// writes each shared page (the table's and its indexes' last pages) once per batch rather
    /// than once per record, which is what bounded confidential invocations per second. It waits
    /// without holding a thread.
    ///
    /// The commits run on a queue of their own and write synchronously: a commit never waits for
    /// a thread of the task pool, which the HTTP handlers and invocations keep busy, and a batch
    /// costs one thread wake-up rather than a task and two hops.
    ///
    /// - Parameter pending: store a stand-in, written before a 202 is answered: hidden from reads
    ///   until the real record replaces it, or until ``recoverInterruptedActivations()`` publishes
    ///   it after a crash. Ignored when the real record is already there.
    public func insertActivation(_ activation: Activation, pending: Bool = false) async throws {
        let record = PendingRecord(
            id: activation.activationId, namespace: activation.namespace, name: activation.name, start: activation.start,
            document: Self.encode(activation), pending: pending)
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

    /// One activation record waiting for its commit.
    struct PendingRecord: Sendable {
        var id: String
        var namespace: String
        var name: String
        var start: Int64
        var document: String
        var pending: Bool
    }

    struct PendingRecords: ~Copyable {
        var records: [(PendingRecord, CheckedContinuation<Void, any Error>)] = []
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
                    var inserted: [String: Int] = [:]
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
                            // A stand-in is replaced by its real record later: the real one counts.
                            if !record.pending { inserted[record.namespace, default: 0] += 1 }
                        } catch {
                            failures[index] = error
                            if record.pending { insertPending = nil } else { insert = nil }
                        }
                    }
                    for (namespace, count) in inserted { try prune(namespace, inserted: count, in: db) }
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

    /// Deletes a namespace's oldest records beyond ``activationRetention``, once every eighth of
    /// it inserted (and at its first insert in this process): the search for the cut-off walks
    /// `activationRetention` index entries, so it is not done on every commit. A namespace holds
    /// at most an eighth more records than the retention between prunings.
    private func prune(_ namespace: String, inserted: Int, in db: Database) throws {
        let step = max(1, activationRetention / 8)
        let due = pruneCounts.withLock { counts -> Bool in
            let count = counts[namespace].map { $0 + inserted } ?? step
            if count >= step {
                counts[namespace] = 0
                return true
            }
            counts[namespace] = count
            return false
        }
        guard due else { return }
        // By start time, over the (namespace, start) index; records of the same millisecond as
        // the cut-off stay.
        try db.execute(sql: """
            DELETE FROM activation WHERE namespace = ? AND start < (
                SELECT start FROM activation WHERE namespace = ? ORDER BY start DESC LIMIT 1 OFFSET ?)
            """, arguments: [namespace, namespace, max(0, activationRetention - 1)])
    }

    /// Publishes the stand-ins of activations that never ended: the process that accepted them
    /// stopped (was killed) before storing their records. Call once when the server starts,
    /// before it accepts requests, and only from the process that serves this store.
    ///
    /// - Returns: how many there were.
    @discardableResult
    public func recoverInterruptedActivations() throws -> Int {
        try database.write { db in
            try db.execute(sql: "UPDATE activation SET pending = 0 WHERE pending = 1")
            return db.changesCount
        }
    }

    public func activation(namespace: String, id: String) throws -> Activation? {
        try database.read { db in
            try String.fetchOne(db, sql: "SELECT document FROM activation WHERE namespace = ? AND id = ? AND pending = 0", arguments: [namespace, id])
                .map { try Self.decode(Activation.self, $0) }
        }
    }

    /// Activations of a namespace, newest first, filtered as OpenWhisk's list is.
    ///
    /// - Parameters:
    ///   - summaries: leave out each record's response and logs (SQLite removes them, so that
    ///     they are neither read nor decoded here).
    ///   - byteLimit: stop adding records once their documents would exceed this many bytes (the
    ///     first is always included).
    public func activations(
        namespace: String, name: String?, limit: Int, skip: Int, since: Int64?, upto: Int64?, summaries: Bool = false, byteLimit: Int = .max
    ) throws -> [Activation] {
        try database.read { db in
            let column = summaries ? "json_remove(document, '$.response', '$.logs')" : "document"
            var sql = "SELECT \(column) FROM activation WHERE namespace = ? AND pending = 0"
            var arguments: StatementArguments = [namespace]
            if let name { sql += " AND name = ?"; arguments += [name] }
            if let since { sql += " AND start >= ?"; arguments += [since] }
            if let upto { sql += " AND start <= ?"; arguments += [upto] }
            sql += " ORDER BY start DESC, rowid DESC LIMIT ? OFFSET ?"
            arguments += [limit, skip]
            return try Self.decodePage(Activation.self, String.fetchCursor(db, sql: sql, arguments: arguments), byteLimit: byteLimit)
        }
    }

    // MARK: Documents

    private static func encode(_ value: some Encodable) -> String {
        String(decoding: JSONValue.encode(value), as: UTF8.self)
    }

    private static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        try JSONValue.decode(type, from: Array(text.utf8))
    }
}
