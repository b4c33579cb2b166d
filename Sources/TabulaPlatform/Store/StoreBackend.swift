package import TabulaWire

/// What a store keeps its rows in: the embedded SQLite database (``SQLiteBackend``) or a
/// PostgreSQL server shared by the nodes of a cluster (``PostgresBackend``).
///
/// A backend only reads and writes rows. Every rule about them (credentials and their cache,
/// versions, retention, how documents are encoded) has one owner, ``Store``, whatever the backend.
/// Each method is one transaction; whatever it acknowledged is durable when it returns.
package protocol StoreBackend: Sendable {
    /// Adds a namespace; ``PlatformError/Code/conflict`` when the name is taken.
    func insertNamespace(_ name: String, uuid: String, keyHash: String, created: Int64) async throws
    /// All namespace names, sorted.
    func namespaces() async throws -> [String]
    /// Deletes a namespace with its actions and activations; `false` when there was none.
    func deleteNamespace(_ name: String) async throws -> Bool
    /// The namespace and key hash of a credential uuid.
    func credential(uuid: String) async throws -> (namespace: String, keyHash: String)?
    /// The uuid of the credentials that own the namespace `name` now.
    func namespaceOwner(_ name: String) async throws -> String?

    /// Writes an action in one transaction: `revise` gets the stored document (`nil` when there is
    /// none) and returns the one to store, or throws to write nothing. Returns it with its owner.
    func putAction(
        namespace: String, name: String, code: [UInt8], digest: String, revision: String,
        revise: @escaping @Sendable (Action?) throws -> Action
    ) async throws -> Store.StoredAction
    func action(namespace: String, name: String) async throws -> Store.StoredAction?
    /// The documents of a namespace's actions, most recently updated first, as many as fit
    /// `page`; only those in `package` when one is named.
    func actionDocuments(namespace: String, package: String?, limit: Int, skip: Int, page: Store.DocumentPage) async throws -> [String]
    func actionCount(namespace: String) async throws -> Int
    func deleteAction(namespace: String, name: String) async throws -> Store.StoredAction?

    /// Stores an activation record: a stand-in (`pending`) never replaces a record, and a record
    /// replaces its stand-in.
    func insertActivation(_ record: Store.ActivationRow) async throws
    /// Deletes a namespace's oldest records beyond the newest `keep`.
    func pruneActivations(namespace: String, keep: Int) async throws
    /// Publishes the stand-ins of activations that never ended (see
    /// ``Store/recoverInterruptedActivations()``); how many.
    func publishStandIns() async throws -> Int
    /// A record's document, unless it is a stand-in.
    func activation(namespace: String, id: String) async throws -> String?
    /// Documents of a namespace's records, newest first, as many as fit `page` (without response
    /// and logs when `query.summaries`).
    func activationDocuments(_ query: Store.ActivationQuery, page: Store.DocumentPage) async throws -> [String]

    /// Whether other processes (the nodes of a cluster) write actions too, and are heard of
    /// through ``observeActionChanges(_:)``.
    var notifiesActionChanges: Bool { get }
    /// Calls `handler` for each change of an action made through another connection.
    func observeActionChanges(_ handler: @escaping @Sendable (Store.ActionChange) -> Void)

    /// Writes a package, trigger or rule in one transaction: `revise` gets the stored document
    /// (`nil` when there is none) and returns the row to store, or throws to write nothing.
    func putEntity(_ kind: Store.EntityKind, namespace: String, name: String, revise: @escaping @Sendable (String?) throws -> Store.EntityRow) async throws
    /// A package's, trigger's or rule's document.
    func entity(_ kind: Store.EntityKind, namespace: String, name: String) async throws -> String?
    /// Documents of a namespace's entities of one kind, most recently updated first, as many as
    /// fit `page`; only the published ones when `publishedOnly`, only those whose
    /// ``Store/EntityRow/link`` is `link` when one is given.
    func entityDocuments(_ kind: Store.EntityKind, namespace: String, publishedOnly: Bool, link: String?, limit: Int, skip: Int, page: Store.DocumentPage) async throws -> [String]
    func entityCount(_ kind: Store.EntityKind, namespace: String, publishedOnly: Bool, link: String?) async throws -> Int
    /// Deletes an entity in one transaction. A package's actions go with it when `force`; without,
    /// a package that still holds actions is left alone (``Store/EntityDeletion/notEmpty(_:)``).
    func deleteEntity(_ kind: Store.EntityKind, namespace: String, name: String, force: Bool) async throws -> Store.EntityDeletion

    /// Releases connections; the backend is not used afterwards.
    func close() async

    /// A named blob and its version (the key broker's sealed state).
    func blob(_ name: String) async throws -> (bytes: [UInt8], version: Int64)?
    /// Writes a blob if its version is still `version` (`nil`: if there is none); the new
    /// version, or `nil` when another writer came first.
    func putBlob(_ name: String, bytes: [UInt8], replacing version: Int64?) async throws -> Int64?
    /// The names of the blobs that begin with `prefix`, without reading their bytes.
    func blobNames(prefix: String) async throws -> [String]
    /// Records a sealed request's fingerprint until `expires` (milliseconds since 1970); `false`
    /// when it was recorded already (a replay), by this process or another.
    func rememberSealed(_ fingerprint: [UInt8], expires: Int64) async throws -> Bool

    /// Appends entries to the verifiable log in one transaction, at consecutive indices: the
    /// first one's index, the next free one, however many processes append at once (indices
    /// have no gaps). Each entry is its leaf input and the tag that shows a node of this log
    /// appended it (kept in the `hash` column).
    func appendLogEntries(_ entries: [(input: [UInt8], tag: [UInt8])]) async throws -> UInt64
    /// The log's entries (leaf input and tag) from `start` up to, not including, `end`.
    func logRecords(from start: UInt64, to end: UInt64) async throws -> [(input: [UInt8], tag: [UInt8])]
    /// The entries `start..<end` (fewer when the log is shorter).
    func logEntries(from start: UInt64, to end: UInt64) async throws -> [[UInt8]]
}
