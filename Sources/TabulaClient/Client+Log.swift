public import Foundation
public import TabulaLog
import TabulaWire

extension Client {
    /// The log's current tree head, its signature checked with the identity key of the attested
    /// enclave (or of the cluster, when verified through its broker).
    ///
    /// `GET /api/v1/log/sth`.
    /// - Throws: ``ClientError`` with ``ClientError/Code/verificationFailed`` when the signature
    ///   is not the enclave's.
    public func treeHead(verifiedBy enclave: AttestedEnclave) async throws -> SignedTreeHead {
        let reply = try await send("GET", ["log", "sth"])
        guard reply.succeeded else { throw reply.error }
        let json = try reply.decode(JSONValue.self, what: "tree head").objectValue ?? [:]
        guard case .integer(let size) = json["tree_size"], case .integer(let timestamp) = json["timestamp"], size >= 0, timestamp >= 0,
              let root = json["sha256_root_hash"]?.stringValue.flatMap({ Data(base64Encoded: $0) }),
              let signature = json["tree_head_signature"]?.stringValue.flatMap({ Data(base64Encoded: $0) })
        else {
            throw ClientError(.invalidResponse, "The tree head is not the JSON docs/log.md describes.")
        }
        let head = SignedTreeHead(size: UInt64(size), timestamp: UInt64(timestamp), root: Array(root), signature: Array(signature))
        do {
            try head.verify(enclave.identityKey)
        } catch {
            throw ClientError(.verificationFailed, "The log's tree head is not signed by the attested enclave: \(error.message)")
        }
        return head
    }

    /// Proves that `newer` extends `older` (RFC 9162 consistency), or throws.
    ///
    /// `GET /api/v1/log/consistency?first=&second=`.
    public func verifyConsistency(from older: SignedTreeHead, to newer: SignedTreeHead) async throws {
        guard older.size <= newer.size else {
            throw ClientError(.verificationFailed, "The log shrank from \(older.size) to \(newer.size) entries: it is not the log seen before.")
        }
        guard older.timestamp <= newer.timestamp else {
            throw ClientError(.verificationFailed, "The log's tree head is older than the one seen before: the server shows an old state.")
        }
        let reply = try await send("GET", ["log", "consistency"], query: [("first", String(older.size)), ("second", String(newer.size))])
        guard reply.succeeded else { throw reply.error }
        let proof = try Self.hashes(try reply.decode(JSONValue.self, what: "consistency proof").objectValue?["consistency"])
        do {
            try MerkleTree.verifyConsistency(oldSize: Int(older.size), newSize: Int(newer.size), oldRoot: older.root, newRoot: newer.root, proof: proof)
        } catch {
            throw ClientError(.verificationFailed, "The log of \(newer.size) entries does not extend the one of \(older.size) seen before: \(error.message)")
        }
    }

    /// Proves that the entry `leafInput` is in the tree of `head`; its index.
    ///
    /// `GET /api/v1/log/proof?hash=&tree_size=`.
    public func verifyInclusion(of leafInput: [UInt8], in head: SignedTreeHead) async throws -> UInt64 {
        let hash = MerkleTree.leafHash(leafInput)
        let reply = try await send("GET", ["log", "proof"], query: [("hash", Data(hash).base64EncodedString()), ("tree_size", String(head.size))])
        guard reply.succeeded else { throw reply.error }
        let json = try reply.decode(JSONValue.self, what: "inclusion proof").objectValue ?? [:]
        guard case .integer(let index) = json["leaf_index"], index >= 0 else {
            throw ClientError(.invalidResponse, "The inclusion proof has no leaf_index.")
        }
        guard let size = Int(exactly: head.size) else { throw ClientError(.invalidArgument, "The tree head's size is out of range.") }
        do {
            try MerkleTree.verifyInclusion(leafHash: hash, index: Int(index), treeSize: size, proof: try Self.hashes(json["audit_path"]), root: head.root)
        } catch let error as LogError {
            throw ClientError(.verificationFailed, "The entry is not proven to be in the log of \(head.size) entries: \(error.message)")
        }
        return UInt64(index)
    }

    /// Proves that a confidential invocation's receipt is in the log: fetches a tree head signed
    /// by the attested enclave and the inclusion proof of the receipt's entry.
    ///
    /// The log holds only the receipt's commitment (``Receipt/commitment(_:)``), which the server
    /// appended before it released the answer; any later tree head covers it.
    /// - Returns: the verified tree head and the entry's index in it.
    public func proveReceipt(_ reply: ConfidentialReply, enclave: AttestedEnclave) async throws -> (head: SignedTreeHead, index: UInt64) {
        guard let bytes = reply.receiptBytes else {
            throw ClientError(.invalidArgument, "The answer to \(reply.activationID) carries no receipt (the enclave refused the request), so there is nothing to prove.")
        }
        let head = try await treeHead(verifiedBy: enclave)
        let index = try await verifyInclusion(of: LogEntry.leafInput(.receipt, Receipt.commitment(bytes)), in: head)
        return (head, index)
    }

    private static func hashes(_ value: JSONValue?) throws -> [[UInt8]] {
        guard case .array(let items) = value else { throw ClientError(.invalidResponse, "The proof is not a list of hashes.") }
        return try items.map { item in
            guard let text = item.stringValue, let hash = Data(base64Encoded: text), hash.count == 32 else {
                throw ClientError(.invalidResponse, "A proof hash is not base64 of 32 bytes.")
            }
            return Array(hash)
        }
    }
}
