import Foundation
package import Logging
import NIOCore
import NIOSSL
import PostgresNIO
import Synchronization
package import TabulaWire

/// The store of a cluster: a PostgreSQL server (or a primary with replicas, under Patroni) that
/// every node reads and writes.
///
/// The server is trusted for availability only: it holds what the platform stores in the clear
/// (action documents and modules, records of plain invocations, hashes of credentials) and the
/// ciphertext of confidential invocations, never their plaintext.
///
/// With several hosts in its location the backend finds the primary (the host that is not in
/// recovery) and works on it; when the primary fails or becomes a replica, the next operation
/// looks for the new one. While there is none, operations fail with
/// ``PlatformError/Code/unavailable`` (503 with `Retry-After`) within ``Configuration/timeout``.
package final class PostgresBackend: StoreBackend, ClusterBackend {
    /// Where the server is and how to talk to it (see ``StoreLocation``).
    package struct Configuration: Sendable, Hashable {
        package struct Endpoint: Sendable, Hashable, CustomStringConvertible {
            package var host: String
            package var port: Int
            package var description: String { "\(host):\(port)" }
        }

        /// How the connection is protected, as libpq's `sslmode` says it.
        package enum TLSMode: String, Sendable, Hashable {
            /// Plain TCP.
            case disable
            /// TLS when the server offers it, without checking its certificate (libpq's default).
            case prefer
            /// TLS always, without checking the certificate.
            case require
            /// TLS always, the certificate checked against the system's roots and the host name.
            case verifyFull = "verify-full"
        }

        package var endpoints: [Endpoint]
        package var username: String
        package var password: String?
        package var database: String
        package var tls: TLSMode = .prefer
        /// How long one operation may take, connecting included, before it fails as unavailable.
        package var timeout: Duration = .seconds(5)
        /// The connections this node keeps to the primary at most.
        package var connections = 20
        /// This node's name: its stand-ins are marked with it, so that a node starting again
        /// publishes its own and no other node's (see ``publishStandIns()``).
        package var node = ""
    }

    private let configuration: Configuration
    let logger: Logger
    private let state = Mutex(State())
    /// Who hears of changes to actions (see ``observeActionChanges(_:)``).
    private let observers = Mutex<[@Sendable (Store.ActionChange) -> Void]>([])
    /// Listens for the notifications of changed actions on the primary.
    private let listener = Mutex<Task<Void, Never>?>(nil)
    /// The channel every node notifies and listens on.
    static let actionChannel = "tabula_actions"

    private struct State: ~Copyable {
        /// The client of the primary, and the task that runs its pool.
        var current: (client: PostgresClient, endpoint: Configuration.Endpoint, runner: Task<Void, Never>)?
        /// A search for the primary in progress, which every operation that needs one awaits.
        var search: Task<PostgresClient, any Error>?
        var closed = false
    }

    private init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Connects to the primary and creates or upgrades the tables.
    package static func connect(_ configuration: Configuration, logger: Logger = Logger(label: "tabula.store")) async throws -> PostgresBackend {
        let backend = PostgresBackend(configuration: configuration, logger: logger)
        do {
            // Creating the tables may wait for another node's migration: more time than a query.
            try await backend.perform("create the tables", within: max(configuration.timeout, .seconds(60))) { client in
                try await client.withTransaction(logger: logger) { connection in
                    try await migrate(connection)
                }
            }
        } catch {
            await backend.close()
            throw error
        }
        backend.listener.withLock { $0 = Task { await backend.listen() } }
        return backend
    }

    package func close() async {
        let listening = listener.withLock { $0 }
        listening?.cancel()
        await listening?.value
        let (current, search) = state.withLock { state in
            state.closed = true
            defer { state.current = nil; state.search = nil }
            return (state.current, state.search)
        }
        search?.cancel()
        current?.runner.cancel()
        await current?.runner.value
    }

    // MARK: Schema

    /// The schema's version: what ``migrate(_:)`` creates.
    static let schemaVersion = 4

    /// Creates the tables, once, under a lock that makes nodes starting together wait for each
    /// other. Refuses a schema newer than this build knows.
    private static func migrate(_ connection: PostgresConnection) async throws {
        let logger = Logger(label: "tabula.store")
        // Any fixed number: every Tabula node takes the same lock.
        try await connection.query("SELECT pg_advisory_xact_lock(7254715)", logger: logger)
        try await connection.query("CREATE TABLE IF NOT EXISTS tabula_schema (version integer NOT NULL)", logger: logger)
        var version = 0
        for try await found in try await connection.query("SELECT version FROM tabula_schema", logger: logger).decode(Int.self) {
            version = found
        }
        guard version <= schemaVersion else {
            throw PlatformError(.internalError, "the store's schema is version \(version), newer than this build of Tabula knows (\(schemaVersion)): upgrade this node")
        }
        guard version < schemaVersion else { return }
        if version < 1 { try await createVersion1(connection, logger: logger) }
        // Version 2: the key broker's sealed state, and the sealed requests opened with keys a
        // broker shares between nodes (replay refusal across the cluster).
        try await connection.query("CREATE TABLE IF NOT EXISTS blob (name text PRIMARY KEY, version bigint NOT NULL, bytes bytea NOT NULL)", logger: logger)
        try await connection.query("CREATE TABLE IF NOT EXISTS sealed_request (fingerprint bytea PRIMARY KEY, expires bigint NOT NULL)", logger: logger)
        // Version 3: the verifiable log's entries (docs/log.md).
        try await connection.query("CREATE TABLE IF NOT EXISTS log_entry (idx bigint PRIMARY KEY, input bytea NOT NULL, hash bytea NOT NULL)", logger: logger)
        try await connection.query("CREATE INDEX IF NOT EXISTS log_entry_by_hash ON log_entry (hash)", logger: logger)
        // Version 4: packages, triggers and rules (OpenWhisk documents besides actions).
        try await connection.query("""
            CREATE TABLE IF NOT EXISTS entity (
                namespace text COLLATE "C" NOT NULL REFERENCES namespace(name) ON DELETE CASCADE,
                kind text NOT NULL,
                name text COLLATE "C" NOT NULL,
                document text NOT NULL,
                publish boolean NOT NULL,
                updated bigint NOT NULL,
                link text COLLATE "C" NOT NULL DEFAULT '',
                PRIMARY KEY (namespace, kind, name)
            )
            """, logger: logger)
        try await connection.query("CREATE INDEX IF NOT EXISTS entity_by_link ON entity (namespace, kind, link)", logger: logger)
        try await connection.query("DELETE FROM tabula_schema", logger: logger)
        try await connection.query("INSERT INTO tabula_schema (version) VALUES (\(schemaVersion))", logger: logger)
    }

    private static func createVersion1(_ connection: PostgresConnection, logger: Logger) async throws {
        // Names compare byte for byte ("C" collation), as SQLite compares them.
        try await connection.query("""
            CREATE TABLE namespace (
                name text COLLATE "C" PRIMARY KEY,
                uuid text NOT NULL UNIQUE,
                key_hash text NOT NULL,
                created bigint NOT NULL
            )
            """, logger: logger)
        try await connection.query("""
            CREATE TABLE action (
                namespace text COLLATE "C" NOT NULL REFERENCES namespace(name) ON DELETE CASCADE,
                name text COLLATE "C" NOT NULL,
                document text NOT NULL,
                code bytea NOT NULL,
                digest text NOT NULL,
                revision text NOT NULL,
                updated bigint NOT NULL,
                PRIMARY KEY (namespace, name)
            )
            """, logger: logger)
        // seq: the order of insertion, which breaks ties between records of the same millisecond.
        try await connection.query("""
            CREATE TABLE activation (
                id text PRIMARY KEY,
                namespace text COLLATE "C" NOT NULL REFERENCES namespace(name) ON DELETE CASCADE,
                name text COLLATE "C" NOT NULL,
                start bigint NOT NULL,
                seq bigserial NOT NULL,
                document text NOT NULL,
                summary text NOT NULL,
                pending boolean NOT NULL DEFAULT false,
                node text NOT NULL DEFAULT ''
            )
            """, logger: logger)
        // The nodes of the cluster and their leases (clock_timestamp(): the store's clock, the
        // one every node's lease is measured by).
        try await connection.query("""
            CREATE TABLE node (
                name text PRIMARY KEY,
                url text NOT NULL,
                started timestamptz NOT NULL,
                heartbeat timestamptz NOT NULL,
                report text NOT NULL
            )
            """, logger: logger)
        // Non-blocking plain invocations waiting for a node, or claimed by one.
        try await connection.query("""
            CREATE TABLE invocation_queue (
                id text PRIMARY KEY,
                namespace text COLLATE "C" NOT NULL REFERENCES namespace(name) ON DELETE CASCADE,
                name text COLLATE "C" NOT NULL,
                subject text NOT NULL,
                parameters text NOT NULL,
                received bigint NOT NULL,
                enqueued timestamptz NOT NULL DEFAULT clock_timestamp(),
                claimed_by text,
                claimed_at timestamptz
            )
            """, logger: logger)
        try await connection.query("CREATE INDEX invocation_queue_waiting ON invocation_queue (enqueued) WHERE claimed_by IS NULL", logger: logger)
        try await connection.query("CREATE INDEX invocation_queue_by_namespace ON invocation_queue (namespace)", logger: logger)
        try await connection.query("CREATE INDEX invocation_queue_claimed ON invocation_queue (claimed_by) WHERE claimed_by IS NOT NULL", logger: logger)
        try await connection.query("CREATE INDEX activation_by_namespace ON activation (namespace, start DESC, seq DESC)", logger: logger)
        try await connection.query("CREATE INDEX activation_pending ON activation (pending) WHERE pending", logger: logger)
    }

    // MARK: The verifiable log

    package func appendLogEntries(_ entries: [(input: [UInt8], tag: [UInt8])]) async throws -> UInt64 {
        try await perform("append to the log") { client in
            try await client.withTransaction(logger: self.logger) { connection in
                try await Self.appendLogEntries(entries, on: connection, logger: self.logger)
            }
        }
    }

    /// Appends log entries in the transaction under way: the first one's index.
    private static func appendLogEntries(_ entries: [(input: [UInt8], tag: [UInt8])], on connection: PostgresConnection, logger: Logger) async throws -> UInt64 {
        // One appender at a time across the cluster: indices have no gaps.
        try await connection.query("SELECT pg_advisory_xact_lock(7254716)", logger: logger)
        let rows = try await connection.query("SELECT coalesce(max(idx) + 1, 0) FROM log_entry", logger: logger).decode(Int64.self)
        guard let first = try await collect(rows).first, let index = UInt64(exactly: first) else {
            throw PlatformError(.internalError, "the store did not say where the log ends")
        }
        for (offset, entry) in entries.enumerated() {
            let inputBuffer = ByteBuffer(bytes: entry.input)
            let tagBuffer = ByteBuffer(bytes: entry.tag)
            try await connection.query("INSERT INTO log_entry (idx, input, hash) VALUES (\(first + Int64(offset)), \(inputBuffer), \(tagBuffer))", logger: logger)
        }
        return index
    }

    package func logRecords(from start: UInt64, to end: UInt64) async throws -> [(input: [UInt8], tag: [UInt8])] {
        try await perform("read the log") { client in
            try await Self.collect(client.query("SELECT input, hash FROM log_entry WHERE idx >= \(Int64(clamping: start)) AND idx < \(Int64(clamping: end)) ORDER BY idx", logger: self.logger).decode((ByteBuffer, ByteBuffer).self))
                .map { (Array($0.0.readableBytesView), Array($0.1.readableBytesView)) }
        }
    }

    package func logEntries(from start: UInt64, to end: UInt64) async throws -> [[UInt8]] {
        try await perform("read the log") { client in
            try await Self.collect(client.query("SELECT input FROM log_entry WHERE idx >= \(Int64(clamping: start)) AND idx < \(Int64(clamping: end)) ORDER BY idx", logger: self.logger).decode(ByteBuffer.self))
                .map { Array($0.readableBytesView) }
        }
    }

    // MARK: Blobs and sealed requests

    package func blob(_ name: String) async throws -> (bytes: [UInt8], version: Int64)? {
        try await perform("read the broker state") { client in
            try await Self.collect(client.query("SELECT bytes, version FROM blob WHERE name = \(name)", logger: self.logger).decode((ByteBuffer, Int64).self))
                .first.map { (Array($0.0.readableBytesView), $0.1) }
        }
    }

    package func blobNames(prefix: String) async throws -> [String] {
        try await perform("list blobs") { client in
            try await Self.collect(client.query("SELECT name FROM blob WHERE left(name, length(\(prefix))) = \(prefix) ORDER BY name", logger: self.logger).decode(String.self))
        }
    }

    package func putBlob(_ name: String, bytes: [UInt8], replacing version: Int64?) async throws -> Int64? {
        let buffer = ByteBuffer(bytes: bytes)
        return try await perform("write the broker state") { client in
            if let version {
                return try await Self.collect(client.query(
                    "UPDATE blob SET bytes = \(buffer), version = version + 1 WHERE name = \(name) AND version = \(version) RETURNING version",
                    logger: self.logger).decode(Int64.self)).first
            }
            return try await Self.collect(client.query(
                "INSERT INTO blob (name, version, bytes) VALUES (\(name), 1, \(buffer)) ON CONFLICT (name) DO NOTHING RETURNING version",
                logger: self.logger).decode(Int64.self)).first
        }
    }

    package func rememberSealed(_ fingerprint: [UInt8], expires: Int64) async throws -> Bool {
        let buffer = ByteBuffer(bytes: fingerprint)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        return try await perform("record a sealed request") { client in
            if Int.random(in: 0..<100) == 0 {
                try await client.query("DELETE FROM sealed_request WHERE expires < \(now)", logger: self.logger)
            }
            return try await Self.collect(client.query(
                "INSERT INTO sealed_request (fingerprint, expires) VALUES (\(buffer), \(expires)) ON CONFLICT DO NOTHING RETURNING 1",
                logger: self.logger).decode(Int.self)).isEmpty == false
        }
    }

    // MARK: Namespaces

    package func insertNamespace(_ name: String, uuid: String, keyHash: String, created: Int64) async throws {
        do {
            try await perform("create a namespace") { client in
                try await client.query("INSERT INTO namespace (name, uuid, key_hash, created) VALUES (\(name), \(uuid), \(keyHash), \(created))", logger: self.logger)
            }
        } catch let error as PSQLError where Self.sqlState(error) == "23505" {
            throw PlatformError(.conflict, "the namespace \(name) already exists")
        }
    }

    package func namespaces() async throws -> [String] {
        try await perform("list namespaces") { client in
            try await Self.collect(client.query("SELECT name FROM namespace ORDER BY name", logger: self.logger).decode(String.self))
        }
    }

    package func deleteNamespace(_ name: String) async throws -> Bool {
        try await perform("delete a namespace") { client in
            try await client.withTransaction(logger: self.logger) { connection in
                try await connection.query("DELETE FROM activation WHERE namespace = \(name)", logger: self.logger)
                try await connection.query("DELETE FROM action WHERE namespace = \(name)", logger: self.logger)
                try await connection.query("DELETE FROM entity WHERE namespace = \(name)", logger: self.logger)
                let deleted = try await connection.query("DELETE FROM namespace WHERE name = \(name) RETURNING name", logger: self.logger).decode(String.self)
                return try await Self.collect(deleted).isEmpty == false
            }
        }
    }

    package func credential(uuid: String) async throws -> (namespace: String, keyHash: String)? {
        try await perform("read credentials") { client in
            try await Self.collect(client.query("SELECT name, key_hash FROM namespace WHERE uuid = \(uuid)", logger: self.logger).decode((String, String).self)).first
                .map { (namespace: $0.0, keyHash: $0.1) }
        }
    }

    package func namespaceOwner(_ name: String) async throws -> String? {
        try await perform("read a namespace") { client in
            try await Self.collect(client.query("SELECT uuid FROM namespace WHERE name = \(name)", logger: self.logger).decode(String.self)).first
        }
    }

    // MARK: Actions

    package func putAction(
        namespace: String, name: String, code: [UInt8], digest: String, revision: String,
        revise: @escaping @Sendable (Action?) throws -> Action
    ) async throws -> Store.StoredAction {
        try await perform("store an action") { client in
            try await client.withTransaction(logger: self.logger) { connection in
                // The namespace row is locked: a concurrent delete of the namespace waits, or wins first.
                let owners = try await connection.query("SELECT uuid FROM namespace WHERE name = \(namespace) FOR SHARE", logger: self.logger).decode(String.self)
                guard let owner = try await Self.collect(owners).first else {
                    throw PlatformError(.notFound, "The namespace \(namespace) does not exist (it was deleted).")
                }
                if let package = Store.package(ofAction: name) {
                    // Locked in this transaction: a package deleted meanwhile cannot be left with an orphan.
                    let links = try await connection.query(
                        "SELECT link FROM entity WHERE namespace = \(namespace) AND kind = \(Store.EntityKind.package.rawValue) AND name = \(package) FOR SHARE",
                        logger: self.logger).decode(String.self)
                    try Store.checkPackage(link: try await Self.collect(links).first)
                }
                let documents = try await connection.query(
                    "SELECT document FROM action WHERE namespace = \(namespace) AND name = \(name) FOR UPDATE", logger: self.logger).decode(String.self)
                let previous = try await Self.collect(documents).first
                let action = try revise(try previous.map { try Store.decode(Action.self, $0) })
                let document = Store.encode(action)
                let bytes = ByteBuffer(bytes: code)
                if previous == nil {
                    // Two creates at once: FOR UPDATE locked no row, so the second finds the first's
                    // on insert, and is told so.
                    let inserted = try await connection.query("""
                        INSERT INTO action (namespace, name, document, code, digest, revision, updated)
                        VALUES (\(namespace), \(name), \(document), \(bytes), \(digest), \(revision), \(action.updated ?? 0))
                        ON CONFLICT (namespace, name) DO NOTHING RETURNING 1
                        """, logger: self.logger).decode(Int.self)
                    guard try await Self.collect(inserted).count == 1 else { throw PlatformError(.conflict, PlatformError.alreadyExists) }
                } else {
                    try await connection.query("""
                        UPDATE action SET document = \(document), code = \(bytes), digest = \(digest), revision = \(revision), updated = \(action.updated ?? 0)
                        WHERE namespace = \(namespace) AND name = \(name)
                        """, logger: self.logger)
                }
                // Delivered to every listening node when the transaction commits.
                try await connection.query("SELECT pg_notify(\(Self.actionChannel), \(Self.payload(namespace, name)))", logger: self.logger)
                return Store.StoredAction(action: action, code: code, digest: digest, owner: owner, revision: revision)
            }
        }
    }

    package func action(namespace: String, name: String) async throws -> Store.StoredAction? {
        try await perform("read an action") { client in
            let rows = try await client.query("""
                SELECT action.document, action.code, action.digest, action.revision, namespace.uuid
                FROM action JOIN namespace ON namespace.name = action.namespace
                WHERE action.namespace = \(namespace) AND action.name = \(name)
                """, logger: self.logger).decode((String, ByteBuffer, String, String, String).self)
            return try await Self.collect(rows).first.map { row in
                Store.StoredAction(action: try Store.decode(Action.self, row.0), code: Array(buffer: row.1), digest: row.2, owner: row.4, revision: row.3)
            }
        }
    }

    package func actionDocuments(namespace: String, package: String?, limit: Int, skip: Int, page: Store.DocumentPage) async throws -> [String] {
        let prefix = package.map { "\($0)/" } ?? ""
        return try await perform("list actions") { client in
            var page = page
            let rows = try await client.query(
                "SELECT document FROM action WHERE namespace = \(namespace) AND left(name, length(\(prefix))) = \(prefix) ORDER BY updated DESC, name LIMIT \(limit) OFFSET \(skip)",
                logger: self.logger).decode(String.self)
            for try await document in rows {
                guard page.add(document) else { break }
            }
            return page.documents
        }
    }

    package func actionCount(namespace: String) async throws -> Int {
        try await perform("count actions") { client in
            try await Self.collect(client.query("SELECT count(*) FROM action WHERE namespace = \(namespace)", logger: self.logger).decode(Int.self)).first ?? 0
        }
    }

    package func deleteAction(namespace: String, name: String) async throws -> Store.StoredAction? {
        try await perform("delete an action") { client in
            try await client.withTransaction(logger: self.logger) { client in
                try await client.query("SELECT pg_notify(\(Self.actionChannel), \(Self.payload(namespace, name)))", logger: self.logger)
                let rows = try await client.query("""
                    WITH deleted AS (DELETE FROM action WHERE namespace = \(namespace) AND name = \(name) RETURNING *)
                    SELECT deleted.document, deleted.code, deleted.digest, deleted.revision, namespace.uuid
                    FROM deleted JOIN namespace ON namespace.name = deleted.namespace
                    """, logger: self.logger).decode((String, ByteBuffer, String, String, String).self)
                return try await Self.collect(rows).first.map { row in
                    Store.StoredAction(action: try Store.decode(Action.self, row.0), code: Array(buffer: row.1), digest: row.2, owner: row.4, revision: row.3)
                }
            }
        }
    }

    // MARK: Changes of actions

    package var notifiesActionChanges: Bool { true }

    /// Calls `handler` for every change of an action committed by any node, this one included
    /// (which only costs it a read), and with ``Store/ActionChange/all`` whenever the listener
    /// (re)connects, as changes made while nobody listened are unknown.
    package func observeActionChanges(_ handler: @escaping @Sendable (Store.ActionChange) -> Void) {
        observers.withLock { $0.append(handler) }
    }

    static func payload(_ namespace: String, _ name: String) -> String {
        // Entity names never contain "/".
        "\(namespace)/\(name)"
    }

    private func publish(_ change: Store.ActionChange) {
        for observer in observers.withLock({ $0 }) { observer(change) }
    }

    /// Listens on the primary until the backend closes, connecting again after a failure (or a
    /// failover: notifications are sent by the primary only).
    private func listen() async {
        while !Task.isCancelled {
            do {
                _ = try await primary()
                guard let endpoint = state.withLock({ $0.current?.endpoint }) else { throw CancellationError() }
                let connection = try await PostgresConnection.connect(configuration: try connectionConfiguration(endpoint), id: 1, logger: logger)
                do {
                    try await connection.listen(on: Self.actionChannel) { notifications in
                        publish(.all)
                        for try await notification in notifications {
                            let parts = notification.payload.split(separator: "/", maxSplits: 1).map(String.init)
                            publish(parts.count == 2 ? .action(namespace: parts[0], name: parts[1]) : .all)
                        }
                    }
                } catch {}
                try? await connection.close()
            } catch {}
            publish(.all)
            try? await Task.sleep(for: .milliseconds(500))
        }
    }

    // MARK: Activations

    /// One statement, one round trip: concurrent inserts share the server's WAL flushes (its own
    /// group commit), so a node needs no batching of its own.
    package func insertActivation(_ record: Store.ActivationRow) async throws {
        try await perform("store an activation record") { client in
            if record.pending {
                try await client.query("""
                    INSERT INTO activation (id, namespace, name, start, document, summary, pending, node)
                    VALUES (\(record.id), \(record.namespace), \(record.name), \(record.start), \(record.document), \(record.summary), true, \(self.configuration.node))
                    ON CONFLICT (id) DO NOTHING
                    """, logger: self.logger)
            } else if record.logEntries.isEmpty {
                try await client.query(Self.recordQuery(record), logger: self.logger)
            } else {
                // With its log entries, in one transaction: an answer is never stored without its
                // receipt in the log.
                try await client.withTransaction(logger: self.logger) { connection in
                    try await connection.query(Self.recordQuery(record), logger: self.logger)
                    _ = try await Self.appendLogEntries(record.logEntries, on: connection, logger: self.logger)
                }
            }
        }
    }

    /// Stores a real record: it replaces its stand-in; a stand-in never replaces a record.
    private static func recordQuery(_ record: Store.ActivationRow) -> PostgresQuery {
        """
        INSERT INTO activation (id, namespace, name, start, document, summary, pending)
        VALUES (\(record.id), \(record.namespace), \(record.name), \(record.start), \(record.document), \(record.summary), false)
        ON CONFLICT (id) DO UPDATE SET start = excluded.start, document = excluded.document, summary = excluded.summary, pending = false
        """
    }

    package func pruneActivations(namespace: String, keep: Int) async throws {
        try await perform("prune activation records") { client in
            try await client.query("""
                DELETE FROM activation WHERE namespace = \(namespace) AND start < (
                    SELECT start FROM activation WHERE namespace = \(namespace) ORDER BY start DESC LIMIT 1 OFFSET \(max(0, keep - 1)))
                """, logger: self.logger)
        }
    }

    /// Publishes this node's stand-ins only (the other nodes' are activations still running), and
    /// of the invocations it claimed from the queue; those it queued that nobody claimed stay
    /// queued, for any node to run.
    package func publishStandIns() async throws -> Int {
        let node = configuration.node
        return try await perform("publish interrupted activations") { client in
            try await Self.collect(client.query("""
                WITH mine AS (DELETE FROM invocation_queue WHERE claimed_by = \(node) RETURNING id)
                UPDATE activation SET pending = false
                WHERE pending AND (id IN (SELECT id FROM mine)
                    OR (node = \(node) AND NOT EXISTS (SELECT 1 FROM invocation_queue q WHERE q.id = activation.id)))
                RETURNING 1
                """, logger: self.logger).decode(Int.self)).count
        }
    }

    package func activation(namespace: String, id: String) async throws -> String? {
        try await perform("read an activation record") { client in
            try await Self.collect(client.query(
                "SELECT document FROM activation WHERE namespace = \(namespace) AND id = \(id) AND NOT pending", logger: self.logger).decode(String.self)).first
        }
    }

    package func activationDocuments(_ query: Store.ActivationQuery, page: Store.DocumentPage) async throws -> [String] {
        var binds = PostgresBindings()
        func bind(_ value: some PostgresNonThrowingEncodable) -> String {
            binds.append(value)
            return "$\(binds.count)"
        }
        var text = "SELECT \(query.summaries ? "summary" : "document") FROM activation WHERE namespace = \(bind(query.namespace)) AND NOT pending"
        if let name = query.name { text += " AND name = \(bind(name))" }
        if let since = query.since { text += " AND start >= \(bind(since))" }
        if let upto = query.upto { text += " AND start <= \(bind(upto))" }
        text += " ORDER BY start DESC, seq DESC LIMIT \(bind(query.limit)) OFFSET \(bind(query.skip))"
        let sql = PostgresQuery(unsafeSQL: text, binds: binds)
        return try await perform("list activation records") { client in
            var page = page
            for try await document in try await client.query(sql, logger: self.logger).decode(String.self) {
                guard page.add(document) else { break }
            }
            return page.documents
        }
    }

    // MARK: Cluster

    package func heartbeat(node: String, url: String, report: String) async throws {
        try await perform("renew this node's lease") { client in
            try await client.query("""
                INSERT INTO node (name, url, started, heartbeat, report) VALUES (\(node), \(url), clock_timestamp(), clock_timestamp(), \(report))
                ON CONFLICT (name) DO UPDATE SET url = excluded.url, heartbeat = excluded.heartbeat, report = excluded.report,
                    started = CASE WHEN node.heartbeat < clock_timestamp() - interval '1 hour' THEN excluded.started ELSE node.started END
                """, logger: self.logger)
        }
    }

    package func nodes(lease: Duration) async throws -> [Store.NodeRow] {
        let leaseMilliseconds = Int64(lease.nanoseconds / 1_000_000)
        return try await perform("list the nodes") { client in
            let rows = try await client.query("""
                SELECT name, url, (extract(epoch FROM started) * 1000)::bigint,
                       (extract(epoch FROM clock_timestamp() - heartbeat) * 1000)::bigint, report
                FROM node ORDER BY name
                """, logger: self.logger).decode((String, String, Int64, Int64, String).self)
            return try await Self.collect(rows).map { row in
                Store.NodeRow(name: row.0, url: row.1, started: row.2, heartbeatAge: row.3, alive: row.3 < leaseMilliseconds, report: row.4)
            }
        }
    }

    package func enqueue(_ invocation: Store.QueuedInvocation, standIn: Store.ActivationRow, limit: Int) async throws {
        let node = configuration.node
        try await perform("queue an invocation") { client in
            try await client.withTransaction(logger: self.logger) { connection in
                let queued = try await connection.query("""
                    INSERT INTO invocation_queue (id, namespace, name, subject, parameters, received)
                    SELECT \(invocation.id), \(invocation.namespace), \(invocation.name), \(invocation.subject), \(invocation.parameters), \(invocation.received)
                    WHERE (SELECT count(*) FROM invocation_queue WHERE namespace = \(invocation.namespace)) < \(limit)
                    RETURNING 1
                    """, logger: self.logger).decode(Int.self)
                guard try await Self.collect(queued).count == 1 else {
                    throw PlatformError(.tooManyRequests, "Too many invocations of the namespace \(invocation.namespace) are waiting in the cluster's queue (\(limit)): retry later, or invoke with blocking=true.")
                }
                try await connection.query("""
                    INSERT INTO activation (id, namespace, name, start, document, summary, pending, node)
                    VALUES (\(standIn.id), \(standIn.namespace), \(standIn.name), \(standIn.start), \(standIn.document), \(standIn.summary), true, \(node))
                    """, logger: self.logger)
            }
        }
    }

    package func releaseOrphans(node: String, keeping: [String]) async throws {
        try await perform("give back unstarted invocations") { client in
            try await client.query("""
                UPDATE invocation_queue SET claimed_by = NULL, claimed_at = NULL
                WHERE claimed_by = \(node) AND NOT (id = ANY(\(keeping)))
                """, logger: self.logger)
        }
    }

    package func claim(node: String) async throws -> Store.QueuedInvocation? {
        try await perform("claim a queued invocation") { client in
            // SKIP LOCKED: nodes claiming at once each take a different row, none waits.
            let rows = try await client.query("""
                UPDATE invocation_queue SET claimed_by = \(node), claimed_at = clock_timestamp()
                WHERE id = (SELECT id FROM invocation_queue WHERE claimed_by IS NULL ORDER BY enqueued FOR UPDATE SKIP LOCKED LIMIT 1)
                RETURNING id, namespace, name, subject, parameters, received
                """, logger: self.logger).decode((String, String, String, String, String, Int64).self)
            return try await Self.collect(rows).first.map {
                Store.QueuedInvocation(id: $0.0, namespace: $0.1, name: $0.2, subject: $0.3, parameters: $0.4, received: $0.5)
            }
        }
    }

    package func release(_ id: String) async throws {
        try await perform("give back a queued invocation") { client in
            try await client.query("UPDATE invocation_queue SET claimed_by = NULL, claimed_at = NULL WHERE id = \(id)", logger: self.logger)
        }
    }

    package func finish(_ id: String) async throws {
        try await perform("remove a finished invocation from the queue") { client in
            try await client.query("DELETE FROM invocation_queue WHERE id = \(id)", logger: self.logger)
        }
    }

    package func sweep(lease: Duration) async throws -> Int {
        let seconds = Double(lease.nanoseconds) / 1e9
        let ended = try await perform("end the work of stopped nodes") { client in
            try await Self.collect(client.query("""
                WITH dead AS (SELECT name FROM node WHERE heartbeat < clock_timestamp() - make_interval(secs => \(seconds))),
                failed AS (DELETE FROM invocation_queue WHERE claimed_by IN (SELECT name FROM dead) RETURNING id)
                UPDATE activation SET pending = false
                WHERE pending AND (id IN (SELECT id FROM failed)
                    OR (node IN (SELECT name FROM dead) AND NOT EXISTS (SELECT 1 FROM invocation_queue q WHERE q.id = activation.id)))
                RETURNING 1
                """, logger: self.logger).decode(Int.self)).count
        }
        // A node silent for a day has had all its work ended long ago: it leaves the list.
        try await perform("forget long-stopped nodes") { client in
            try await client.query("DELETE FROM node WHERE heartbeat < clock_timestamp() - interval '1 day'", logger: self.logger)
        }
        return ended
    }

    // MARK: Connections

    /// Runs `body` on the primary's client within ``Configuration/timeout``. A failure of the
    /// connection, or a primary that turned into a replica, drops the client (the next operation
    /// looks for the primary again) and is reported as unavailable; errors the server reports for
    /// the statement itself are passed on.
    func perform<T: Sendable>(
        _ what: String, within bound: Duration? = nil, _ body: @escaping @Sendable (PostgresClient) async throws -> T
    ) async throws -> T {
        let timeout = bound ?? configuration.timeout
        let client: PostgresClient
        do {
            client = try await primary()
        } catch let error as PlatformError {
            throw error
        } catch {
            throw PlatformError(.unavailable, "The store (PostgreSQL) cannot \(what) now (\(Self.describe(error))); retry shortly.")
        }
        do {
            return try await withThrowingTaskGroup(of: T.self) { group in
                group.addTask { try await body(client) }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    // Late. A statement in flight cannot be cancelled: only closing the pool ends
                    // it. So ask the server on a connection of its own whether it is still the
                    // primary; if not (gone, frozen, demoted), drop the pool, which fails what waits
                    // on it. If it is, it is only busy: nothing is torn down for every tenant.
                    if await !self.stillPrimary(client) { self.drop(client) }
                    throw CancellationError()
                }
                defer { group.cancelAll() }
                return try await group.next()!
            }
        } catch {
            switch Self.unwrap(error) {
            case let error as PlatformError:
                throw error
            case let error as PSQLError where Self.isTransient(error):
                throw PlatformError(.unavailable, "The store (PostgreSQL) refused to \(what) for now (\(Self.describe(error))); retry shortly.")
            case let error as PSQLError where !Self.isConnectionFailure(error):
                throw error
            case is CancellationError:
                throw PlatformError(.unavailable, "The store (PostgreSQL) did not answer within \(timeout.seconds) s to \(what); retry shortly.")
            case let error:
                drop(client)
                throw PlatformError(.unavailable, "The store (PostgreSQL) cannot \(what) now (\(Self.describe(error))); retry shortly.")
            }
        }
    }

    /// The error a transaction's closure (or its begin, commit or rollback) threw.
    private static func unwrap(_ error: any Error) -> any Error {
        guard let failed = error as? PostgresTransactionError else { return error }
        return failed.closureError ?? failed.commitError ?? failed.beginError ?? failed.rollbackError ?? error
    }

    /// Whether an error means the connection, not the statement, failed: the server went away, or
    /// it is no longer the primary (a replica refuses writes with SQLSTATE 25006; a server
    /// shutting down or restarting says 57P01, 57P02, 57P03).
    private static func isConnectionFailure(_ error: PSQLError) -> Bool {
        switch error.code {
        case .server:
            let state = sqlState(error) ?? ""
            return state == "25006" || state.hasPrefix("57P") || state.hasPrefix("08")
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed, .sslUnsupported:
            return true
        default:
            return false
        }
    }

    /// Whether the server refused the statement for now, not for good: worth a retry (503), not a
    /// 500. A deadlock or serialization failure (class 40), the server out of resources (53), a
    /// lock or statement timeout.
    private static func isTransient(_ error: PSQLError) -> Bool {
        guard error.code == .server, let state = sqlState(error) else { return false }
        return state.hasPrefix("40") || state.hasPrefix("53") || state == "55P03" || state == "57014"
    }

    static func sqlState(_ error: PSQLError) -> String? {
        error.serverInfo?[.sqlState]
    }

    private static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] { return message }
            return "\(error.code)"
        }
        return "\(error)"
    }

    /// The client of the primary: the current one, or the result of a search.
    private func primary() async throws -> PostgresClient {
        enum Found { case client(PostgresClient), search(Task<PostgresClient, any Error>) }
        let found = try state.withLock { state -> Found in
            guard !state.closed else { throw PlatformError(.unavailable, "The store is closed.") }
            if let current = state.current { return .client(current.client) }
            if let search = state.search { return .search(search) }
            let search = Task { try await self.findPrimary() }
            state.search = search
            return .search(search)
        }
        switch found {
        case .client(let client): return client
        case .search(let search): return try await search.value
        }
    }

    /// Forgets `client` (when it is still the current one), so that the next operation looks for
    /// the primary again.
    private func drop(_ client: PostgresClient) {
        let dropped = state.withLock { state -> Task<Void, Never>? in
            guard let current = state.current, current.client === client else { return nil }
            state.current = nil
            return current.runner
        }
        guard let dropped else { return }
        logger.warning("lost the store's primary; looking for it again")
        dropped.cancel()
    }

    /// Asks each host in turn whether it is the primary (not in recovery), and starts a client
    /// for the first that is.
    private func findPrimary() async throws -> PostgresClient {
        defer { state.withLock { $0.search = nil } }
        var failures: [String] = []
        for endpoint in configuration.endpoints {
            do {
                if try await isPrimary(endpoint) {
                    // The pool retries connections every few hundred milliseconds and says so at
                    // `info`: only its warnings reach the server's log.
                    var poolLogger = logger
                    poolLogger.logLevel = max(logger.logLevel, .warning)
                    let client = PostgresClient(configuration: try clientConfiguration(endpoint), backgroundLogger: poolLogger)
                    let runner = Task { await client.run() }
                    let closed = state.withLock { state in
                        if !state.closed { state.current = (client, endpoint, runner) }
                        return state.closed
                    }
                    if closed { runner.cancel() }
                    if configuration.endpoints.count > 1 { logger.info("the store's primary is \(endpoint)") }
                    return client
                }
                failures.append("\(endpoint) is a replica")
            } catch {
                failures.append("\(endpoint): \(Self.describe(error))")
            }
        }
        throw PlatformError(.unavailable, "The store has no primary now (\(failures.joined(separator: "; "))); retry shortly.")
    }

    /// Whether `client` is still the current client of a host that is the primary, asked on a
    /// fresh connection within the timeout.
    private func stillPrimary(_ client: PostgresClient) async -> Bool {
        guard let endpoint = state.withLock({ state in state.current.flatMap { $0.client === client ? $0.endpoint : nil } }) else { return false }
        return (try? await isPrimary(endpoint)) == true
    }

    /// Whether the host at `endpoint` is a primary (not in recovery), within the timeout: a host
    /// that accepts the connection and never answers is not.
    private func isPrimary(_ endpoint: Configuration.Endpoint) async throws -> Bool {
        let connection = try await PostgresConnection.connect(configuration: try connectionConfiguration(endpoint), id: 0, logger: logger)
        let timeout = configuration.timeout
        let logger = self.logger
        defer { Task { try? await connection.close() } }
        return try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                let inRecovery = try await Self.collect(connection.query("SELECT pg_is_in_recovery()", logger: logger).decode(Bool.self)).first
                return inRecovery == false
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                // Closing fails the query in flight, so the group can end.
                try? await connection.close()
                throw CancellationError()
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }

    private func clientConfiguration(_ endpoint: Configuration.Endpoint) throws -> PostgresClient.Configuration {
        let tls: PostgresClient.Configuration.TLS
        switch configuration.tls {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(Self.tlsConfiguration(verify: false))
        case .require: tls = .require(Self.tlsConfiguration(verify: false))
        case .verifyFull: tls = .require(Self.tlsConfiguration(verify: true))
        }
        var client = PostgresClient.Configuration(
            host: endpoint.host, port: endpoint.port, username: configuration.username, password: configuration.password,
            database: configuration.database, tls: tls)
        client.options.connectTimeout = configuration.timeout
        client.options.maximumConnections = configuration.connections
        return client
    }

    private func connectionConfiguration(_ endpoint: Configuration.Endpoint) throws -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS
        switch configuration.tls {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(try NIOSSLContext(configuration: Self.tlsConfiguration(verify: false)))
        case .require: tls = .require(try NIOSSLContext(configuration: Self.tlsConfiguration(verify: false)))
        case .verifyFull: tls = .require(try NIOSSLContext(configuration: Self.tlsConfiguration(verify: true)))
        }
        var connection = PostgresConnection.Configuration(
            host: endpoint.host, port: endpoint.port, username: configuration.username, password: configuration.password,
            database: configuration.database, tls: tls)
        connection.options.connectTimeout = TimeAmount.nanoseconds(Int64(configuration.timeout.nanoseconds))
        return connection
    }

    private static func tlsConfiguration(verify: Bool) -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        if !verify { tls.certificateVerification = .none }
        return tls
    }

    static func collect<S: AsyncSequence>(_ sequence: S) async throws -> [S.Element] {
        var elements: [S.Element] = []
        for try await element in sequence { elements.append(element) }
        return elements
    }
}
