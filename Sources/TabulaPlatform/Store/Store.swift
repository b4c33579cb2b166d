import Crypto
public import Foundation
import Synchronization
public import TabulaWire

/// The platform's records: namespaces, actions and activation records, in an embedded SQLite
/// database (one node) or on a PostgreSQL server that the nodes of a cluster share.
///
/// Whatever a method acknowledges is committed and durable when it returns: what the server
/// acknowledged survives a crash of the process (and, with SQLite, a power loss on storage that
/// honours `fsync`; with PostgreSQL, what its synchronous replication promises).
///
/// The rules live here, the rows in the ``StoreBackend``: credentials (only a key's hash is
/// stored) and how long they are trusted from memory, action versions, retention of records.
public final class Store: Sendable {
    package let backend: any StoreBackend
    /// The store's cluster side, when the nodes of a cluster share it (found once: every
    /// invocation asks).
    package let cluster: (any ClusterBackend)?
    /// How long a node may serve an action it read before it reads it again: `nil` when this
    /// process is the only writer of actions (SQLite), a few seconds when the nodes of a cluster
    /// share the store. Changes normally arrive much sooner, by notification
    /// (``observeActionChanges(_:)``); this bounds how stale an action can be when one is missed
    /// (a notification that overtakes a read in progress, a listener reconnecting).
    package let actionRecheck: Duration?
    /// The most activation records kept per namespace; older ones of that namespace are deleted
    /// as new ones arrive, so one tenant's traffic never deletes another's records.
    public let activationRetention: Int
    /// How long credentials and namespace owners read from the backend are trusted from memory.
    public let credentialLifetime: Duration
    /// Records inserted per namespace since its last pruning (see ``prune(_:inserted:)``).
    private let pruneCounts = Mutex<[String: Int]>([:])
    /// Namespaces by credential uuid, recently read (see ``authenticate(uuid:key:)``).
    private let credentials = Mutex<[String: KnownCredential]>([:])
    /// The identity of each namespace name, recently read (see ``namespaceIdentity(_:)``).
    private let identities = Mutex<[String: KnownIdentity]>([:])

    package init(backend: any StoreBackend, activationRetention: Int = 10_000, credentialLifetime: Duration = .seconds(5)) {
        self.backend = backend
        self.cluster = backend as? any ClusterBackend
        self.actionRecheck = backend.notifiesActionChanges ? .seconds(2) : nil
        self.activationRetention = activationRetention
        self.credentialLifetime = credentialLifetime
    }

    /// Opens (creating and migrating if needed) the SQLite database at `path`.
    public convenience init(path: String, activationRetention: Int = 10_000, credentialLifetime: Duration = .seconds(5)) throws {
        self.init(backend: try SQLiteBackend(path: path), activationRetention: activationRetention, credentialLifetime: credentialLifetime)
    }

    /// Opens the store at `location`, creating its tables if needed.
    package static func open(_ location: StoreLocation, activationRetention: Int = 10_000, credentialLifetime: Duration = .seconds(5)) async throws -> Store {
        let backend: any StoreBackend
        switch location {
        case .sqlite(let path): backend = try SQLiteBackend(path: path)
        case .postgres(let configuration): backend = try await PostgresBackend.connect(configuration)
        }
        return Store(backend: backend, activationRetention: activationRetention, credentialLifetime: credentialLifetime)
    }

    /// What changed: one action, or possibly any (the notifications were interrupted).
    package enum ActionChange: Sendable, Equatable {
        case action(namespace: String, name: String)
        case all
    }

    /// Calls `handler` when a node of the cluster changes an action (its own changes included),
    /// or with ``ActionChange/all`` when changes may have been missed. Only shared stores call it.
    package func observeActionChanges(_ handler: @escaping @Sendable (ActionChange) -> Void) {
        backend.observeActionChanges(handler)
    }

    /// Closes the backend's connections.
    public func close() async {
        await backend.close()
    }

    // MARK: The key broker's state and sealed requests

    /// The name of the key broker's sealed state among the store's blobs.
    static let brokerStateBlob = "tabula-broker-state"

    /// The key broker's sealed state and its version (the store cannot read it: it is encrypted
    /// under a key sealed to the broker's TEE).
    public func loadBrokerState() async throws -> (bytes: [UInt8], version: Int64)? {
        try await backend.blob(Self.brokerStateBlob)
    }

    /// Saves the broker's sealed state if the stored one is still `version`; the new version, or
    /// `nil` when another broker instance saved first.
    public func saveBrokerState(_ bytes: [UInt8], replacing version: Int64?) async throws -> Int64? {
        try await backend.putBlob(Self.brokerStateBlob, bytes: bytes, replacing: version)
    }

    /// Records a sealed request (by the first 16 bytes of SHA-256 of its bytes) until `expires`;
    /// `false` for one recorded before, by any node sharing this store: a replay.
    public func rememberSealed(_ sealed: [UInt8], until expires: Date) async throws -> Bool {
        let fingerprint = Array(SHA256.hash(data: sealed).prefix(16))
        return try await backend.rememberSealed(fingerprint, expires: Int64(expires.timeIntervalSince1970 * 1000))
    }

    // MARK: Namespaces

    /// A namespace's credentials, OpenWhisk style: `UUID:KEY`.
    public struct Credentials: Sendable, Hashable, CustomStringConvertible {
        public var uuid: String
        public var key: String
        public var description: String { "\(uuid):\(key)" }
    }

    /// Creates a namespace with fresh credentials; only the key's hash is stored.
    public func createNamespace(_ name: String) async throws -> Credentials {
        try EntityName.checkNewNamespace(name)
        let credentials = Credentials(uuid: UUID().uuidString.lowercased(), key: Self.randomKey())
        try await backend.insertNamespace(name, uuid: credentials.uuid, keyHash: Self.hash(credentials.key), created: Self.now())
        return credentials
    }

    /// All namespaces, sorted by name.
    public func namespaces() async throws -> [String] {
        try await backend.namespaces()
    }

    /// Deletes a namespace with its actions and activations; `false` when there was none.
    @discardableResult
    public func deleteNamespace(_ name: String) async throws -> Bool {
        // Forgotten before and after: a request authenticating meanwhile may have read the row again.
        forgetCredentials(of: name)
        defer { forgetCredentials(of: name) }
        pruneCounts.withLock { $0[name] = nil }
        return try await backend.deleteNamespace(name)
    }

    /// The namespace these credentials open, or `nil`.
    ///
    /// Every request authenticates, so what a uuid names (its namespace and key hash) is kept in
    /// memory for `credentialLifetime`: a namespace deleted through this store stops
    /// authenticating at once, one deleted by another process (`tabula namespace delete` while
    /// the server runs, another node of a cluster) within that time.
    public func authenticate(uuid: String, key: String) async throws -> String? {
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
            guard let row = try await backend.credential(uuid: uuid) else { return nil }
            entry = KnownCredential(namespace: row.namespace, keyHash: row.keyHash, expires: now + credentialLifetime)
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
    /// process is seen within that time, and at once by the new owner, whose authentication reads
    /// the new row. Whatever is cached by namespace name (actions, warm sandboxes) is checked
    /// against this id.
    public func namespaceIdentity(_ name: String) async throws -> String? {
        let now = ContinuousClock.now
        if let known = identities.withLock({ $0[name] }), now < known.expires {
            return known.id
        }
        let id = try await backend.namespaceOwner(name)
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
    public func putAction(_ stored: StoredAction, overwrite: Bool) async throws -> StoredAction {
        let action = stored.action
        return try await backend.putAction(
            namespace: action.namespace, name: action.name, code: stored.code, digest: stored.digest, revision: UUID().uuidString.lowercased()
        ) { previous in
            var action = action
            if let previous {
                guard overwrite else { throw PlatformError(.conflict, PlatformError.alreadyExists) }
                action.version = Self.nextVersion(previous.version)
            }
            action.updated = Self.now()
            return action
        }
    }

    public func action(namespace: String, name: String) async throws -> StoredAction? {
        try await backend.action(namespace: namespace, name: name)
    }

    /// Actions of a namespace, most recently updated first (as OpenWhisk lists them).
    ///
    /// - Parameter byteLimit: stop adding actions once their stored documents would exceed this
    ///   many bytes (the first is always included).
    /// - Parameter package: only the actions in this package.
    public func actions(namespace: String, package: String? = nil, limit: Int, skip: Int, byteLimit: Int = .max) async throws -> [Action] {
        try await backend.actionDocuments(namespace: namespace, package: package, limit: limit, skip: skip, page: DocumentPage(byteLimit: byteLimit))
            .map { try Self.decode(Action.self, $0) }
    }

    public func actionCount(namespace: String) async throws -> Int {
        try await backend.actionCount(namespace: namespace)
    }

    /// Deletes an action; returns it, or `nil` when there was none.
    public func deleteAction(namespace: String, name: String) async throws -> StoredAction? {
        try await backend.deleteAction(namespace: namespace, name: name)
    }

    /// OpenWhisk bumps the patch version on every update.
    static func nextVersion(_ version: String) -> String {
        var parts = version.split(separator: ".").map { Int($0) ?? 0 }
        while parts.count < 3 { parts.append(0) }
        parts[2] += 1
        return parts.map(String.init).joined(separator: ".")
    }

    // MARK: Activations

    /// An activation record as a backend stores it.
    package struct ActivationRow: Sendable {
        package var activation: Activation
        package var document: String
        /// A stand-in, written before a 202 is answered (see ``Store/insertActivation(_:pending:logEntries:)``).
        package var pending: Bool
        /// Entries of the verifiable log written in the same transaction (a confidential
        /// invocation's receipt), so that a record with a sealed answer never exists without them.
        package var logEntries: [(input: [UInt8], tag: [UInt8])] = []

        package var id: String { activation.activationId }
        package var namespace: String { activation.namespace }
        /// What a listing filters by: the action's name within the namespace, `PACKAGE/NAME` for
        /// a packaged one (from the record's `path`, as OpenWhisk filters), else the record's name.
        package var name: String {
            if case .string(let path)? = activation.annotations.first(where: { $0.key == "path" })?.value,
               path.hasPrefix(activation.namespace + "/") {
                return String(path.dropFirst(activation.namespace.count + 1))
            }
            return activation.name
        }
        package var start: Int64 { activation.start }

        /// The document without response and logs, for a backend that stores summaries apart.
        package var summary: String {
            var summary = activation
            summary.response = nil
            summary.logs = nil
            return Store.encode(summary)
        }
    }

    /// What a listing of activation records asks for.
    package struct ActivationQuery: Sendable {
        package var namespace: String
        package var name: String?
        package var limit: Int
        package var skip: Int
        package var since: Int64?
        package var upto: Int64?
        package var summaries: Bool
    }

    /// Stores an activation record, and deletes the oldest records beyond the retention bound.
    ///
    /// Returns once the record is committed (SQLite commits the records that arrive together in
    /// one transaction; PostgreSQL does the same with concurrent commits).
    ///
    /// - Parameter pending: store a stand-in, written before a 202 is answered: hidden from reads
    ///   until the real record replaces it, or until ``recoverInterruptedActivations()`` publishes
    ///   it after a crash. Ignored when the real record is already there.
    public func insertActivation(_ activation: Activation, pending: Bool = false, logEntries: [(input: [UInt8], tag: [UInt8])] = []) async throws {
        var row = ActivationRow(activation: activation, document: Self.encode(activation), pending: pending)
        row.logEntries = logEntries
        // The record of a run that happened is worth waiting for: a store failing over (503 for a
        // few seconds) must not lose it. A stand-in is not: its caller is still waiting for a 202
        // and is better told at once to retry.
        let deadline = ContinuousClock.now + Self.recordPatience
        while true {
            do {
                try await backend.insertActivation(row)
                break
            } catch let error as PlatformError where error.code == .unavailable && !pending && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(250))
            }
        }
        // A stand-in is replaced by its real record later: the real one counts. The record is
        // stored whatever the pruning does: a failed pruning is done at the next one.
        if !pending { try? await prune(activation.namespace, inserted: 1) }
    }

    /// How long a record of a run that ended keeps being offered to a store that is unavailable
    /// (longer than a failover takes).
    static let recordPatience: Duration = .seconds(30)

    /// Deletes a namespace's oldest records beyond ``activationRetention``, once every eighth of
    /// it inserted (and at its first insert in this process): the search for the cut-off walks
    /// `activationRetention` index entries, so it is not done on every insert. A namespace holds
    /// at most an eighth more records than the retention between prunings (per node).
    private func prune(_ namespace: String, inserted: Int) async throws {
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
        try await backend.pruneActivations(namespace: namespace, keep: activationRetention)
    }

    /// Publishes the stand-ins of activations that never ended: the process that accepted them
    /// stopped (was killed) before storing their records. Call once when the server starts,
    /// before it accepts requests, and only from the process that serves this store.
    ///
    /// - Returns: how many there were.
    @discardableResult
    public func recoverInterruptedActivations() async throws -> Int {
        try await backend.publishStandIns()
    }

    public func activation(namespace: String, id: String) async throws -> Activation? {
        try await backend.activation(namespace: namespace, id: id).map { try Self.decode(Activation.self, $0) }
    }

    /// Activations of a namespace, newest first, filtered as OpenWhisk's list is.
    ///
    /// - Parameters:
    ///   - summaries: leave out each record's response and logs (they are neither read nor
    ///     decoded here).
    ///   - byteLimit: stop adding records once their documents would exceed this many bytes (the
    ///     first is always included).
    public func activations(
        namespace: String, name: String?, limit: Int, skip: Int, since: Int64?, upto: Int64?, summaries: Bool = false, byteLimit: Int = .max
    ) async throws -> [Activation] {
        let query = ActivationQuery(namespace: namespace, name: name, limit: limit, skip: skip, since: since, upto: upto, summaries: summaries)
        return try await backend.activationDocuments(query, page: DocumentPage(byteLimit: byteLimit)).map { try Self.decode(Activation.self, $0) }
    }

    // MARK: Documents

    /// A page of documents read until their bytes would exceed a limit, so that a listing never
    /// reads (or answers with) more than that; it holds at least one.
    package struct DocumentPage: Sendable {
        package var byteLimit: Int
        package private(set) var documents: [String] = []
        private var size = 0

        package init(byteLimit: Int) {
            self.byteLimit = byteLimit
        }

        /// Adds a document unless it would overflow the page; `false` once the page is full.
        package mutating func add(_ document: String) -> Bool {
            size += document.utf8.count
            if size > byteLimit && !documents.isEmpty { return false }
            documents.append(document)
            return true
        }
    }

    static func encode(_ value: some Encodable) -> String {
        String(decoding: JSONValue.encode(value), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        try JSONValue.decode(type, from: Array(text.utf8))
    }
}
