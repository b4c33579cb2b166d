import Crypto
public import Foundation
public import TabulaEnclave
public import TabulaLog

/// The platform's verifiable log (RFC 9162): every identity certificate its enclave presents and
/// every function certificate it issues, appended to the store and covered by tree heads the
/// enclave signs.
///
/// The store keeps the entries but cannot forge the log: the enclave keeps the tree's right edge
/// (``MerkleLog``) and signs only roots it computed itself; entries appended by other nodes of a
/// cluster are read from the store and appended in order. A leaf is `kind ‖ 0x00 ‖ data`.
public actor TransparencyLog {
    let store: Store
    let monitor: Monitor
    private var tree = MerkleLog()
    /// The identity certificate (DER) logged last by this process.
    private var loggedIdentity: [UInt8]?
    /// The function versions whose certificate this process logged, by revision and key epoch.
    private var loggedFunctions: Set<String> = []

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

    /// The kind and data of a leaf input.
    public static func parse(_ input: [UInt8]) -> (kind: String, data: [UInt8])? {
        guard let zero = input.firstIndex(of: 0) else { return nil }
        return (String(decoding: input[..<zero], as: UTF8.self), Array(input[(zero + 1)...]))
    }

    /// Appends an entry; its index.
    @discardableResult
    func append(_ kind: Kind, _ data: [UInt8]) async throws -> UInt64 {
        let input = Self.leafInput(kind: kind, data: data)
        let index = try await store.backend.appendLogEntry(input, hash: MerkleTree.leafHash(input))
        try await catchUp()
        return index
    }

    /// Logs a function certificate, once per function version and key epoch in this process.
    func logFunctionCertificate(_ pem: String, version: String) async throws {
        guard loggedFunctions.insert(version).inserted else { return }
        try await append(.functionCertificate, Array(pem.utf8))
    }

    /// Reads the entries other processes appended since, in order.
    private func catchUp() async throws {
        while true {
            let hashes = try await store.backend.logHashes(from: tree.size, to: tree.size + 4096)
            for hash in hashes {
                guard hash.count == 32 else {
                    throw PlatformError(.internalError, "the store holds a log entry whose hash is not 32 bytes; the log cannot be extended")
                }
                tree.append(hash)
            }
            if hashes.count < 4096 { return }
        }
    }

    /// Logs the enclave's current identity certificate if this process has not yet.
    private func logIdentity() async throws {
        let identity = monitor.identity.der
        guard identity != loggedIdentity else { return }
        try await append(.identityCertificate, identity)
        loggedIdentity = identity
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
        guard let index = try await store.backend.logIndex(ofHash: leafHash), index < treeSize else {
            throw PlatformError(.notFound, "No entry with that leaf hash is in the first \(treeSize) entries of the log.")
        }
        let hashes = try await hashes(upTo: treeSize)
        return (index, try MerkleTree.inclusionProof(index: Int(index), leaves: hashes[...]))
    }

    /// The consistency proof between the trees of `first` and `second` entries.
    public func consistencyProof(first: UInt64, second: UInt64) async throws -> [[UInt8]] {
        try await catchUp()
        guard first <= second, second <= tree.size else {
            throw PlatformError(.badRequest, "The log has \(tree.size) entries; first and second must satisfy first ≤ second ≤ that.")
        }
        return try MerkleTree.consistencyProof(oldSize: Int(first), leaves: try await hashes(upTo: second)[...])
    }

    /// Entries `start..<end` (at most 1,000), each a leaf input.
    public func entries(start: UInt64, end: UInt64) async throws -> [[UInt8]] {
        guard start < end else { throw PlatformError(.badRequest, "start must be below end.") }
        return try await store.backend.logEntries(from: start, to: min(end, start + 1000))
    }

    /// The leaf hashes of the first `size` entries, checked against the tree this enclave signs:
    /// a store that changed an entry is caught here rather than handing out a wrong proof.
    private func hashes(upTo size: UInt64) async throws -> [[UInt8]] {
        let hashes = try await store.backend.logHashes(from: 0, to: tree.size)
        var check = MerkleLog()
        for hash in hashes { check.append(hash) }
        guard check == tree else {
            throw PlatformError(.internalError, "The store's log entries no longer match the tree this enclave signed: the store was altered.")
        }
        return Array(hashes.prefix(Int(size)))
    }
}
