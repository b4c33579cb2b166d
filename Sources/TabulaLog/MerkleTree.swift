import Crypto

/// The Merkle tree of RFC 9162 §2.1 (Certificate Transparency v2): hashes, the tree head of a list
/// of leaves, and inclusion and consistency proofs, made and verified.
///
/// Leaves are hashed as `SHA-256(0x00 ‖ data)` and interior nodes as `SHA-256(0x01 ‖ left ‖ right)`,
/// so that no leaf can pose as a node. A tree of `n` leaves splits at `k`, the largest power of two
/// smaller than `n`: the left subtree is always complete. The functions here take the leaves'
/// hashes (32 bytes each), so that whoever keeps the leaves (a store) need not hand over their
/// contents to prove anything.
public enum MerkleTree {
    /// `SHA-256(0x00 ‖ data)`.
    public static func leafHash(_ data: some Sequence<UInt8>) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: [0x00])
        hasher.update(data: Array(data))
        return Array(hasher.finalize())
    }

    /// `SHA-256(0x01 ‖ left ‖ right)`.
    public static func nodeHash(_ left: [UInt8], _ right: [UInt8]) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: [0x01])
        hasher.update(data: left)
        hasher.update(data: right)
        return Array(hasher.finalize())
    }

    /// The hash of the empty tree: `SHA-256()`.
    public static let emptyRoot: [UInt8] = Array(SHA256.hash(data: [UInt8]()))

    /// `MTH(D[n])`: the root of the tree over `leaves` (leaf hashes).
    public static func root(_ leaves: ArraySlice<[UInt8]>) -> [UInt8] {
        switch leaves.count {
        case 0: return emptyRoot
        case 1: return leaves[leaves.startIndex]
        default:
            let k = split(leaves.count)
            return nodeHash(root(leaves.prefix(k)), root(leaves.dropFirst(k)))
        }
    }

    /// The largest power of two smaller than `n` (for `n` ≥ 2).
    static func split(_ n: Int) -> Int {
        var k = 1
        while k << 1 < n { k <<= 1 }
        return k
    }

    // MARK: Inclusion (§2.1.3)

    /// `PATH(m, D[n])`: the hashes that lead from leaf `index` to the root of the tree over `leaves`.
    public static func inclusionProof(index: Int, leaves: ArraySlice<[UInt8]>) throws(LogError) -> [[UInt8]] {
        guard index >= 0, index < leaves.count else {
            throw LogError(.outOfRange, "leaf \(index) is not in a tree of \(leaves.count) leaves")
        }
        return path(index, leaves)
    }

    private static func path(_ m: Int, _ leaves: ArraySlice<[UInt8]>) -> [[UInt8]] {
        guard leaves.count > 1 else { return [] }
        let k = split(leaves.count)
        if m < k {
            return path(m, leaves.prefix(k)) + [root(leaves.dropFirst(k))]
        }
        return path(m - k, leaves.dropFirst(k)) + [root(leaves.prefix(k))]
    }

    /// Verifies an inclusion proof as RFC 9162 §2.1.3.2 does it.
    public static func verifyInclusion(leafHash: [UInt8], index: Int, treeSize: Int, proof: [[UInt8]], root: [UInt8]) throws(LogError) {
        guard index >= 0, index < treeSize else {
            throw LogError(.outOfRange, "leaf \(index) is not in a tree of \(treeSize) leaves")
        }
        guard leafHash.count == 32, root.count == 32, proof.allSatisfy({ $0.count == 32 }) else {
            throw LogError(.malformed, "hashes are 32 bytes (SHA-256)")
        }
        var fn = UInt64(index)
        var sn = UInt64(treeSize - 1)
        var r = leafHash
        for p in proof {
            guard sn != 0 else {
                throw LogError(.proofFailed, "the inclusion proof is longer than the tree is deep")
            }
            if fn & 1 == 1 || fn == sn {
                r = nodeHash(p, r)
                if fn & 1 == 0 {
                    while fn & 1 == 0, fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                r = nodeHash(r, p)
            }
            fn >>= 1
            sn >>= 1
        }
        guard sn == 0 else { throw LogError(.proofFailed, "the inclusion proof is shorter than the tree is deep") }
        guard r == root else { throw LogError(.proofFailed, "the inclusion proof does not lead to the tree head's root") }
    }

    // MARK: Consistency (§2.1.4)

    /// `PROOF(m, D[n])`: the hashes that show the tree of the first `oldSize` leaves is a prefix of
    /// the tree over `leaves`.
    public static func consistencyProof(oldSize: Int, leaves: ArraySlice<[UInt8]>) throws(LogError) -> [[UInt8]] {
        guard oldSize >= 0, oldSize <= leaves.count else {
            throw LogError(.outOfRange, "a tree of \(leaves.count) leaves has no prefix of \(oldSize)")
        }
        guard oldSize > 0, oldSize < leaves.count else { return [] }
        return subproof(oldSize, leaves, true)
    }

    private static func subproof(_ m: Int, _ leaves: ArraySlice<[UInt8]>, _ complete: Bool) -> [[UInt8]] {
        let n = leaves.count
        if m == n { return complete ? [] : [root(leaves)] }
        let k = split(n)
        if m <= k {
            return subproof(m, leaves.prefix(k), complete) + [root(leaves.dropFirst(k))]
        }
        return subproof(m - k, leaves.dropFirst(k), false) + [root(leaves.prefix(k))]
    }

    /// Verifies a consistency proof as RFC 9162 §2.1.4.2 does it.
    public static func verifyConsistency(oldSize: Int, newSize: Int, oldRoot: [UInt8], newRoot: [UInt8], proof: [[UInt8]]) throws(LogError) {
        guard oldSize >= 0, oldSize <= newSize else {
            throw LogError(.outOfRange, "a tree of \(newSize) leaves cannot extend one of \(oldSize)")
        }
        guard oldRoot.count == 32, newRoot.count == 32, proof.allSatisfy({ $0.count == 32 }) else {
            throw LogError(.malformed, "hashes are 32 bytes (SHA-256)")
        }
        if oldSize == newSize {
            guard proof.isEmpty, oldRoot == newRoot else { throw LogError(.proofFailed, "trees of the same size differ, or the proof is not empty") }
            return
        }
        if oldSize == 0 {
            guard proof.isEmpty else { throw LogError(.proofFailed, "the consistency proof from the empty tree must be empty") }
            return
        }
        guard !proof.isEmpty else { throw LogError(.proofFailed, "the consistency proof is empty") }
        var path = proof[...]
        // When the old tree is a complete subtree, its root starts the path.
        if oldSize & (oldSize - 1) == 0 {
            path = ([oldRoot] + proof)[...]
        }
        var fn = UInt64(oldSize - 1)
        var sn = UInt64(newSize - 1)
        while fn & 1 == 1 {
            fn >>= 1
            sn >>= 1
        }
        guard let first = path.first else { throw LogError(.proofFailed, "the consistency proof is empty") }
        var fr = first
        var sr = first
        for c in path.dropFirst() {
            guard sn != 0 else { throw LogError(.proofFailed, "the consistency proof is too long") }
            if fn & 1 == 1 || fn == sn {
                fr = nodeHash(c, fr)
                sr = nodeHash(c, sr)
                if fn & 1 == 0 {
                    while fn & 1 == 0, fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                sr = nodeHash(sr, c)
            }
            fn >>= 1
            sn >>= 1
        }
        guard sn == 0 else { throw LogError(.proofFailed, "the consistency proof is too short") }
        guard fr == oldRoot, sr == newRoot else { throw LogError(.proofFailed, "the consistency proof does not lead to both tree heads' roots") }
    }
}
