import Crypto
public import Foundation
import Synchronization
public import TabulaEnclave
public import TabulaLog
import TabulaWire

/// The platform's verifiable log (RFC 9162): every identity certificate its enclave presents, the
/// function certificate it hands out for each function version, a commitment to every
/// confidential invocation's receipt and every multi-party job's record, appended to the store
/// and covered by tree heads the enclave signs.
///
/// The store keeps the entries; this actor keeps, in memory, the leaf hashes it has read back in
/// order (32 bytes each) and the tree's right edge (``MerkleLog``), and the enclave signs only
/// roots computed from them. Entries appended by other nodes of a cluster are read from the store
/// in order; an entry this process appended must come back at its index with its hash, or the
/// append fails. Leaf inputs are ``LogEntry/leafInput(_:_:)``.
///
/// Appends are committed in groups: whatever arrives while the store writes one group goes into
/// the next, at most ``batchLimit`` entries per transaction, and no append waits for a timer.
/// Receipts go another way: into the transaction that stores their activation record
/// (``entry(_:_:)``). Tree heads are signed when asked for and the log has grown since the last
/// one: one signature covers every receipt appended in between.
public actor TransparencyLog {
    let store: Store
    let monitor: Monitor
    private var tree = MerkleLog()
    private var leaves = LeafHashes()
    /// The identity certificate (DER) logged by this process, or being logged.
    private var loggedIdentity: [UInt8]?
    /// The function certificate handed out for each function version (name, revision, key epoch
    /// and signing key): the one in the log.
    private var certificates: [String: String] = [:]
    /// The catch-up in progress: one at a time, so that no hash is appended twice.
    private var catching: Task<Void, any Error>?
    /// Entries waiting for the next group commit, each with who waits for its index.
    private var pending: [(input: [UInt8], hash: [UInt8], waiter: CheckedContinuation<UInt64, any Error>)] = []
    private var committing = false
    /// The last tree head signed, handed out again while the log has not grown.
    private var lastHead: SignedTreeHead?
    /// The index of the first run record of each job (by digest) the log holds: a job runs once.
    private var firstRuns: [String: UInt64] = [:]
    /// Runs this process started and has not yet logged.
    private var claimedRuns: Set<String> = []
    /// Inputs accepted by this process (job id and fingerprint), and replays of them recorded.
    private var acceptedInputs: Set<String> = []
    private var replays: Set<String> = []

    /// Whether the log stopped at an entry no node of it appended: until the operator removes it,
    /// no confidential answer is released, since its receipt could never be proven.
    nonisolated var isStopped: Bool { stopped.withLock { $0 } }
    private nonisolated let stopped = Mutex(false)

    /// The most entries one transaction appends.
    static let batchLimit = 1000

    /// How many entries the log had when this server first read it: the history it takes as it
    /// is (clients check it through consistency with the heads they kept). Every entry after
    /// those must carry a tag of this log's key (``Monitor/logTagKey``).
    private var inheritedSize: Int?

    /// Reads the log's history before the server serves: call it at start, and do not serve if it
    /// throws, so that only the entries the store holds then are taken as history.
    public func start() async throws {
        try await catchUp()
    }

    init(store: Store, monitor: Monitor) {
        self.store = store
        self.monitor = monitor
        // Read the history at once, so that only entries the store holds now are taken untagged.
        Task { try? await self.catchUp() }
    }

    /// The tag of an entry: HMAC-SHA256 of its leaf hash under the log's key.
    static func tag(_ hash: [UInt8], key: SymmetricKey) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: hash, using: key))
    }

    /// Appends an entry, committed with whatever else is waiting, and reads the log up to it; its
    /// index, checked to hold this entry.
    @discardableResult
    func append(_ kind: LogEntry.Kind, _ data: [UInt8]) async throws -> UInt64 {
        let input = LogEntry.leafInput(kind, data)
        let hash = MerkleTree.leafHash(input)
        return try await withCheckedThrowingContinuation { waiter in
            pending.append((input, hash, waiter))
            if !committing {
                committing = true
                Task { await self.commitPending() }
            }
        }
    }

    /// Commits the waiting entries, a group at a time, until none waits.
    private func commitPending() async {
        while !pending.isEmpty {
            let group = Array(pending.prefix(Self.batchLimit))
            pending.removeFirst(group.count)
            do {
                let key = monitor.logTagKey
                let first = try await store.backend.appendLogEntries(group.map { ($0.input, Self.tag($0.hash, key: key)) })
                try await catchUp()
                for (offset, entry) in group.enumerated() {
                    let index = first + UInt64(offset)
                    if index < UInt64(leaves.count), leaves[Int(index)].elementsEqual(entry.hash) {
                        entry.waiter.resume(returning: index)
                    } else {
                        entry.waiter.resume(throwing: PlatformError(.internalError, "The store did not keep the log entry this server appended at the index it gave; the log is not extended."))
                    }
                }
            } catch {
                for entry in group { entry.waiter.resume(throwing: error) }
            }
        }
        committing = false
    }

    /// The key epochs this process logged (or is logging).
    private nonisolated let loggedEpochs = Mutex<Set<UInt64>>([])

    /// The current key epoch's statement (``Monitor/epochStatement``), if this process has not
    /// logged it yet (then it counts as logged: ``forgetEpoch(_:)`` if its write fails).
    nonisolated func newEpoch() -> (number: UInt64, json: [UInt8])? {
        // Called for every confidential answer: the statement is built only for a new epoch.
        let current = monitor.epoch
        guard !loggedEpochs.withLock({ $0.contains(current) }) else { return nil }
        let statement = monitor.epochStatement
        guard loggedEpochs.withLock({ $0.insert(statement.number).inserted }) else { return nil }
        return statement
    }

    /// Forgets that an epoch was logged, after the write that carried it failed.
    nonisolated func forgetEpoch(_ epoch: UInt64) {
        _ = loggedEpochs.withLock { $0.remove(epoch) }
    }

    /// An entry, with its tag, for the store to append in a transaction of its own choosing: a
    /// confidential invocation's receipt goes into the transaction that stores its activation
    /// record (``Store/insertActivation(_:pending:logEntries:)``), and is read back like any other.
    nonisolated func entry(_ kind: LogEntry.Kind, _ data: [UInt8]) -> (input: [UInt8], tag: [UInt8]) {
        let input = LogEntry.leafInput(kind, data)
        return (input, Self.tag(MerkleTree.leafHash(input), key: monitor.logTagKey))
    }

    /// The certificate to hand out for a function version: the first one offered, which is the
    /// one logged; `pem` is a newly issued one, used when there is none yet.
    func functionCertificate(version: String, offered pem: String) async throws -> String {
        if let known = certificates[version] { return known }
        // Bounded: a version forgotten gets a new certificate, which is logged like the first.
        if certificates.count >= 4096 { certificates.removeAll() }
        // Claimed before the append's await, so that a concurrent request gets this one.
        certificates[version] = pem
        do {
            try await append(.functionCertificate, Array(pem.utf8))
        } catch {
            certificates[version] = nil
            throw error
        }
        return pem
    }

    /// The certificate already handed out for a version, if any.
    func knownCertificate(version: String) -> String? { certificates[version] }

    /// Reads, in order, the entries appended since (by any process); one reader at a time.
    private func catchUp() async throws {
        if let catching {
            try await catching.value
        }
        let task = Task { try await self.readNewEntries() }
        catching = task
        defer { if catching == task { catching = nil } }
        try await task.value
    }

    /// Reads the entries appended since and hashes them here, checking each one's tag: the
    /// store can neither change an entry nor add one. Job records that ran are remembered
    /// (``claimRun(jobDigest:)``).
    private func readNewEntries() async throws {
        let key = monitor.logTagKey
        // Nodes of a cluster without a key broker share no key, so none can check another's
        // tags (docs/log.md says so); with a broker, every node checks every entry.
        let checkTags = inheritedSize != nil && (store.cluster == nil || monitor.servesClusterKeys)
        for _ in 0..<100_000 {
            let start = UInt64(leaves.count)
            let records = try await store.backend.logRecords(from: start, to: start + 1024)
            guard UInt64(leaves.count) == start else { continue }  // another reader moved on meanwhile
            guard records.count <= 1024 else {
                throw PlatformError(.internalError, "the store returned more log entries than asked for; the log cannot be extended")
            }
            for (offset, record) in records.enumerated() {
                let input = record.input
                let hash = MerkleTree.leafHash(input)
                if checkTags, !HMAC<SHA256>.isValidAuthenticationCode(record.tag, authenticating: hash, using: key) {
                    stopped.withLock { $0 = true }
                    throw PlatformError(
                        .internalError,
                        "The store holds a log entry at \(start + UInt64(offset)) that no node of this log appended (its tag does not verify); the log is not extended.")
                }
                tree.append(hash)
                leaves.append(hash)
                if let entry = LogEntry.parse(input), entry.kind == .job,
                   let record = try? JSONValue.decode(JobRecord.self, from: Array(entry.data)), record.outcome == "ran", firstRuns[record.jobDigest] == nil {
                    firstRuns[record.jobDigest] = UInt64(leaves.count - 1)
                }
            }
            if records.count < 1024 {
                if inheritedSize == nil { inheritedSize = leaves.count }
                // Read to the end with every tag valid: an entry that stopped the log was removed.
                stopped.withLock { $0 = false }
                return
            }
        }
    }

    /// Claims the one run of a job: `false` when the log records a run of it, or this process
    /// claimed it already. One actor step, so two runs in this process cannot both pass.
    func claimRun(jobDigest: String) async throws -> Bool {
        try await catchUp()
        guard firstRuns[jobDigest] == nil else { return false }
        return claimedRuns.insert(jobDigest).inserted
    }

    /// Gives a claim back after the run's record could not be appended.
    func releaseRun(jobDigest: String) {
        claimedRuns.remove(jobDigest)
    }

    /// The index of the first record of a run of the job in the log, read up to now.
    func firstRun(jobDigest: String) async throws -> UInt64? {
        try await catchUp()
        return firstRuns[jobDigest]
    }

    /// Remembers an input accepted for a job (the SHA-256 of its sealed bytes), bounded.
    func accepted(job: String, fingerprint: [UInt8]) {
        if acceptedInputs.count >= 100_000 { acceptedInputs.removeAll() }
        acceptedInputs.insert(job + Data(fingerprint).base64EncodedString())
    }

    /// Whether a replay is of an input accepted for this job and seen for the first time: only
    /// then is it recorded, once.
    func firstReplay(job: String, fingerprint: [UInt8]) -> Bool {
        let key = job + Data(fingerprint).base64EncodedString()
        guard acceptedInputs.contains(key) else { return false }
        return replays.insert(key).inserted
    }

    /// Logs the enclave's current identity certificate and key epoch if this process has not yet.
    private func logIdentity() async throws {
        let identity = monitor.identity.der
        if identity != loggedIdentity {
            let previous = loggedIdentity
            loggedIdentity = identity
            do {
                try await append(.identityCertificate, identity)
            } catch {
                loggedIdentity = previous
                throw error
            }
        }
        if let epoch = newEpoch() {
            do {
                try await append(.keyConfigurations, epoch.json)
            } catch {
                forgetEpoch(epoch.number)
                throw error
            }
        }
    }

    /// The log's current tree head, signed by the enclave: the last one signed while the log
    /// has not grown and it is under a second old, else a new one.
    public func treeHead() async throws -> SignedTreeHead {
        try await logIdentity()
        try await catchUp()
        let now = UInt64(Date().timeIntervalSince1970 * 1000)
        if let lastHead, lastHead.size == tree.size, now >= lastHead.timestamp, now - lastHead.timestamp < 1000 {
            return lastHead
        }
        let head = try monitor.signTreeHead(size: tree.size, timestamp: max(now, lastHead?.timestamp ?? 0), root: tree.root)
        lastHead = head
        return head
    }

    /// The inclusion proof of the entry with `leafHash` in the tree of `treeSize` entries.
    public func inclusionProof(leafHash: [UInt8], treeSize: UInt64) async throws -> (index: UInt64, path: [[UInt8]]) {
        try await catchUp()
        guard treeSize >= 1, treeSize <= tree.size else {
            throw PlatformError(.badRequest, "The log has \(tree.size) entries; tree_size must be between 1 and that.")
        }
        let prefix = leaves.hashes(upTo: Int(treeSize))
        guard let index = prefix.firstIndex(of: leafHash) else {
            throw PlatformError(.notFound, "No entry with that leaf hash is in the first \(treeSize) entries of the log.")
        }
        return (UInt64(index), try MerkleTree.inclusionProof(index: index, leaves: prefix[...]))
    }

    /// The consistency proof between the trees of `first` and `second` entries.
    public func consistencyProof(first: UInt64, second: UInt64) async throws -> [[UInt8]] {
        try await catchUp()
        guard first <= second, second <= tree.size else {
            throw PlatformError(.badRequest, "The log has \(tree.size) entries; first and second must satisfy first ≤ second ≤ that.")
        }
        return try MerkleTree.consistencyProof(oldSize: Int(first), leaves: leaves.hashes(upTo: Int(second))[...])
    }

    /// Entries `start` to `end` inclusive (at most 1,000), each a leaf input.
    public func entries(start: UInt64, end: UInt64) async throws -> [[UInt8]] {
        guard start <= end else { throw PlatformError(.badRequest, "start must not exceed end.") }
        try await catchUp()
        guard start < tree.size else { return [] }
        let last = min(end, tree.size - 1, start + 999)
        let entries = try await store.backend.logEntries(from: start, to: last + 1)
        guard entries.count <= Int(last - start + 1) else {
            throw PlatformError(.internalError, "The store returned more log entries than asked for; the log cannot be served.")
        }
        // What is served must be what was read and signed: a store that changed an entry since
        // gets no answer rather than a wrong one.
        for (offset, input) in entries.enumerated() where !MerkleTree.leafHash(input).elementsEqual(leaves[Int(start) + offset]) {
            throw PlatformError(.internalError, "The store's log entry \(start + UInt64(offset)) is not the one this server read and signed; the log cannot be served.")
        }
        return entries
    }
}

/// The leaf hashes read so far, 32 bytes each in one buffer: a receipt per confidential
/// invocation makes this the log's largest part of memory.
struct LeafHashes {
    private var bytes: [UInt8] = []

    var count: Int { bytes.count / 32 }

    subscript(index: Int) -> ArraySlice<UInt8> { bytes[(index * 32)..<(index * 32 + 32)] }

    mutating func append(_ hash: [UInt8]) {
        precondition(hash.count == 32, "a leaf hash has 32 bytes")
        bytes.append(contentsOf: hash)
    }

    /// The first `count` hashes, as the proof functions take them.
    func hashes(upTo count: Int) -> [[UInt8]] {
        (0..<min(count, self.count)).map { Array(self[$0]) }
    }
}
