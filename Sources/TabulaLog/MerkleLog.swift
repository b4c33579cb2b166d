/// An append-only Merkle tree that keeps only its right edge: the roots of the complete subtrees
/// its leaves form (one per set bit of the size), enough to append and to compute the root.
///
/// The enclave keeps one: the leaves live in the store, which is not trusted, so the enclave
/// never recomputes the root from what the store says the old leaves are; it only appends.
/// Whatever the store later claims about old leaves is checked by the proofs clients verify
/// against tree heads the enclave signed.
public struct MerkleLog: Sendable, Hashable {
    /// The roots of the complete subtrees, largest (leftmost) first.
    private var edge: [(size: UInt64, hash: [UInt8])] = []
    public private(set) var size: UInt64 = 0

    public init() {}

    public static func == (lhs: MerkleLog, rhs: MerkleLog) -> Bool {
        lhs.size == rhs.size && lhs.edge.map(\.hash) == rhs.edge.map(\.hash)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(size)
        for part in edge { hasher.combine(part.hash) }
    }

    /// Appends a leaf's hash (``MerkleTree/leafHash(_:)``); its index.
    @discardableResult
    public mutating func append(_ leafHash: [UInt8]) -> UInt64 {
        var carry = (size: UInt64(1), hash: leafHash)
        // Two complete subtrees of the same size merge into one twice as large.
        while let last = edge.last, last.size == carry.size {
            edge.removeLast()
            carry = (last.size * 2, MerkleTree.nodeHash(last.hash, carry.hash))
        }
        edge.append(carry)
        size += 1
        return size - 1
    }

    /// `MTH` of every leaf appended: the edge's subtrees joined from the right.
    public var root: [UInt8] {
        guard var hash = edge.last?.hash else { return MerkleTree.emptyRoot }
        for part in edge.dropLast().reversed() {
            hash = MerkleTree.nodeHash(part.hash, hash)
        }
        return hash
    }
}
