import Crypto
public import Foundation
public import TabulaEnclave
public import TabulaLog

/// The platform's verifiable log (RFC 9162): every identity certificate its enclave presents and
/// the function certificate it hands out for each function version, appended to the store and
/// covered by tree heads the enclave signs.
///
/// The store keeps the entries; this actor keeps, in memory, the leaf hashes it has read back in
/// order (32 bytes each) and the tree's right edge (``MerkleLog``), and the enclave signs only
/// roots computed from them. Entries appended by other nodes of a cluster are read from the store
/// in order; an entry this process appended must come back at its index with its hash, or the log
/// stops. A leaf is `kind ‖ 0x00 ‖ data`.
public actor TransparencyLog {
    let store: Store
    let monitor: Monitor
    private var tree = MerkleLog()
    private var leaves: [[UInt8]] = []
    /// The identity certificate (DER) logged by this process, or being logged.
    private var loggedIdentity: [UInt8]?
    /// The function certificate handed out for each function version (name, revision, key epoch
    /// and signing key): the one in the log.
    private var certificates: [String: String] = [:]
    /// The catch-up in progress: one at a time, so that no hash is appended twice.
    private var catching: Task<Void, any Error>?

    /// What an entry is.
    public enum Kind: String, Sendable {
        case identityCertificate = "identity-certificate"
        case functionCertificate = "function-certificate"
    }

    init(store: Store, monitor: Monitor) {
        self.store = store
        self.monitor = monitor
    }

    /// The leaf input of an entry: `kind ‖ 0x00 ‖ data`.
    public static func leafInput(kind: Kind, data: [UInt8]) -> [UInt8] {
        Array(kind.rawValue.utf8) + [0] + data
    }

    /// Appends an entry and reads the log up to it; its index, checked to hold this entry.
    @discardableResult
    func append(_ kind: Kind, _ data: [UInt8]) async throws -> UInt64 {
        let input = Self.leafInput(kind: kind, data: data)
        let hash = MerkleTree.leafHash(input)
        let index = try await store.backend.appendLogEntry(input, hash: hash)
        try await catchUp()
        guard index < UInt64(leaves.count), leaves[Int(index)] == hash else {
            throw PlatformError(.internalError, "The store did not keep the log entry this server appended at the index it gave; the log is not extended.")
        }
        return index
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

    private func readNewEntries() async throws {
        for _ in 0..<100_000 {
            let start = UInt64(leaves.count)
            let hashes = try await store.backend.logHashes(from: start, to: start + 4096)
            guard UInt64(leaves.count) == start else { continue }  // another reader moved on meanwhile
            guard hashes.count <= 4096 else {
                throw PlatformError(.internalError, "the store returned more log entries than asked for; the log cannot be extended")
            }
            for hash in hashes {
                guard hash.count == 32 else {
                    throw PlatformError(.internalError, "the store holds a log entry whose hash is not 32 bytes; the log cannot be extended")
                }
                tree.append(hash)
                leaves.append(hash)
            }
            if hashes.count < 4096 { return }
        }
    }

    /// Logs the enclave's current identity certificate if this process has not yet.
    private func logIdentity() async throws {
        let identity = monitor.identity.der
        guard identity != loggedIdentity else { return }
        let previous = loggedIdentity
        loggedIdentity = identity
        do {
            try await append(.identityCertificate, identity)
        } catch {
            loggedIdentity = previous
            throw error
        }
    }

    /// The log's current tree head, signed by the enclave.
    public func treeHead() async throws -> SignedTreeHead {
        try await logIdentity()
        try await catchUp()
        return try monitor.signTreeHead(size: tree.size, timestamp: UInt64(Date().timeIntervalSince1970 * 1000), root: tree.root)
    }

    /// The inclusion proof of the entry with `leafHash` in the tree of `treeSize` entries.
    public func inclusionProof(leafHash: [UInt8], treeSize: UInt64) async throws -> (index: UInt64, path: [[UInt8]]) {
        try await catchUp()
        guard treeSize >= 1, treeSize <= tree.size else {
            throw PlatformError(.badRequest, "The log has \(tree.size) entries; tree_size must be between 1 and that.")
        }
        let prefix = leaves.prefix(Int(treeSize))
        guard let index = prefix.firstIndex(of: leafHash) else {
            throw PlatformError(.notFound, "No entry with that leaf hash is in the first \(treeSize) entries of the log.")
        }
        return (UInt64(index), try MerkleTree.inclusionProof(index: index, leaves: prefix))
    }

    /// The consistency proof between the trees of `first` and `second` entries.
    public func consistencyProof(first: UInt64, second: UInt64) async throws -> [[UInt8]] {
        try await catchUp()
        guard first <= second, second <= tree.size else {
            throw PlatformError(.badRequest, "The log has \(tree.size) entries; first and second must satisfy first ≤ second ≤ that.")
        }
        return try MerkleTree.consistencyProof(oldSize: Int(first), leaves: leaves.prefix(Int(second)))
    }

    /// Entries `start` to `end` inclusive (at most 1,000), each a leaf input.
    public func entries(start: UInt64, end: UInt64) async throws -> [[UInt8]] {
        guard start <= end else { throw PlatformError(.badRequest, "start must not exceed end.") }
        try await catchUp()
        guard start < tree.size else { return [] }
        let last = min(end, tree.size - 1, start + 999)
        return try await store.backend.logEntries(from: start, to: last + 1)
    }
}
