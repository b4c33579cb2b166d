import Crypto
import Foundation
import Testing
import TabulaLog

/// RFC 9162's Merkle tree against the test vectors of Certificate Transparency's reference code,
/// and its proofs against an implementation of the RFC's recursive definitions written here.
@Suite("Merkle tree (RFC 9162)")
struct MerkleTreeTests {
    /// The eight leaves of the CT reference tests, and the roots of their prefixes.
    static let leaves: [[UInt8]] = [[], [0x00], [0x10], [0x20, 0x21], [0x30, 0x31], [0x40, 0x41, 0x42, 0x43], Array(UInt8(0x50)...UInt8(0x57)), Array(UInt8(0x60)...UInt8(0x6F))]
    static let roots = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    @Test func rootsMatchTheReferenceVectors() {
        let hashes = Self.leaves.map { MerkleTree.leafHash($0) }
        #expect(Self.hex(MerkleTree.root([][...])) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        for size in 1...8 {
            #expect(Self.hex(MerkleTree.root(hashes.prefix(size))) == Self.roots[size - 1], "size \(size)")
        }
    }

    // MARK: An independent reading of the RFC: recompute the root from a proof recursively

    /// The root a proof claims for leaf `m` of a tree of `n` leaves, walking the recursive
    /// definition of PATH (§2.1.3.1) backwards: the last hash is the sibling at the top.
    static func rootFromPath(_ leaf: [UInt8], _ m: Int, _ n: Int, _ proof: ArraySlice<[UInt8]>) -> [UInt8]? {
        if n == 1 { return proof.isEmpty ? leaf : nil }
        guard let top = proof.last else { return nil }
        var k = 1
        while k * 2 < n { k *= 2 }
        if m < k {
            guard let left = rootFromPath(leaf, m, k, proof.dropLast()) else { return nil }
            return MerkleTree.nodeHash(left, top)
        }
        guard let right = rootFromPath(leaf, m - k, n - k, proof.dropLast()) else { return nil }
        return MerkleTree.nodeHash(top, right)
    }

    /// The (old, new) roots a consistency proof claims, walking SUBPROOF (§2.1.4.1) backwards.
    static func rootsFromSubproof(_ m: Int, _ n: Int, _ complete: Bool, _ oldRoot: [UInt8], _ proof: ArraySlice<[UInt8]>) -> (old: [UInt8], new: [UInt8])? {
        if m == n {
            if complete { return proof.isEmpty ? (oldRoot, oldRoot) : nil }
            return proof.count == 1 ? (proof[proof.startIndex], proof[proof.startIndex]) : nil
        }
        guard let top = proof.last else { return nil }
        var k = 1
        while k * 2 < n { k *= 2 }
        if m <= k {
            guard let inner = rootsFromSubproof(m, k, complete, oldRoot, proof.dropLast()) else { return nil }
            return (inner.old, MerkleTree.nodeHash(inner.new, top))
        }
        guard let inner = rootsFromSubproof(m - k, n - k, false, oldRoot, proof.dropLast()) else { return nil }
        return (MerkleTree.nodeHash(top, inner.old), MerkleTree.nodeHash(top, inner.new))
    }

    @Test func everyInclusionProofVerifiesBothWaysAndNoAlteredOneDoes() throws {
        let hashes = (0..<37).map { MerkleTree.leafHash([UInt8(truncatingIfNeeded: $0), 0xAB]) }
        for size in 1...hashes.count {
            let root = MerkleTree.root(hashes.prefix(size))
            for index in 0..<size {
                let proof = try MerkleTree.inclusionProof(index: index, leaves: hashes.prefix(size))
                try MerkleTree.verifyInclusion(leafHash: hashes[index], index: index, treeSize: size, proof: proof, root: root)
                #expect(Self.rootFromPath(hashes[index], index, size, proof[...]) == root, "size \(size), leaf \(index)")
                if let first = proof.first {
                    var altered = proof
                    altered[0] = MerkleTree.nodeHash(first, first)
                    #expect(throws: LogError.self) { try MerkleTree.verifyInclusion(leafHash: hashes[index], index: index, treeSize: size, proof: altered, root: root) }
                    #expect(throws: LogError.self) { try MerkleTree.verifyInclusion(leafHash: hashes[index], index: index, treeSize: size, proof: Array(proof.dropLast()), root: root) }
                }
                #expect(throws: LogError.self) { try MerkleTree.verifyInclusion(leafHash: hashes[index], index: index, treeSize: size, proof: proof + [root], root: root) }
                if size > 1 {
                    #expect(throws: LogError.self) { try MerkleTree.verifyInclusion(leafHash: hashes[index], index: (index + 1) % size, treeSize: size, proof: proof, root: root) }
                }
            }
        }
        #expect(throws: LogError.self) { try MerkleTree.inclusionProof(index: 3, leaves: hashes.prefix(3)) }
        #expect(throws: LogError.self) { try MerkleTree.verifyInclusion(leafHash: hashes[0], index: 3, treeSize: 3, proof: [], root: hashes[0]) }
    }

    @Test func everyConsistencyProofVerifiesBothWaysAndNoAlteredOneDoes() throws {
        let hashes = (0..<33).map { MerkleTree.leafHash([UInt8(truncatingIfNeeded: $0)]) }
        for newSize in 1...hashes.count {
            let newRoot = MerkleTree.root(hashes.prefix(newSize))
            for oldSize in 1...newSize {
                let oldRoot = MerkleTree.root(hashes.prefix(oldSize))
                let proof = try MerkleTree.consistencyProof(oldSize: oldSize, leaves: hashes.prefix(newSize))
                try MerkleTree.verifyConsistency(oldSize: oldSize, newSize: newSize, oldRoot: oldRoot, newRoot: newRoot, proof: proof)
                if oldSize < newSize {
                    let claimed = Self.rootsFromSubproof(oldSize, newSize, true, oldRoot, proof[...])
                    #expect(claimed?.old == oldRoot && claimed?.new == newRoot, "\(oldSize) → \(newSize)")
                    #expect(throws: LogError.self) { try MerkleTree.verifyConsistency(oldSize: oldSize, newSize: newSize, oldRoot: newRoot, newRoot: newRoot, proof: proof) }
                    #expect(throws: LogError.self) { try MerkleTree.verifyConsistency(oldSize: oldSize, newSize: newSize, oldRoot: oldRoot, newRoot: oldRoot, proof: proof) }
                    #expect(throws: LogError.self) { try MerkleTree.verifyConsistency(oldSize: oldSize, newSize: newSize, oldRoot: oldRoot, newRoot: newRoot, proof: []) }
                    var altered = proof
                    altered[altered.count - 1] = MerkleTree.nodeHash(altered[0], altered[0])
                    #expect(throws: LogError.self) { try MerkleTree.verifyConsistency(oldSize: oldSize, newSize: newSize, oldRoot: oldRoot, newRoot: newRoot, proof: altered) }
                }
            }
        }
    }

    @Test func treeHeadsAreSignedOverSizeTimeAndRoot() throws {
        let key = P256.Signing.PrivateKey()
        let root = MerkleTree.leafHash([1])
        let head = try SignedTreeHead.sign(size: 1, timestamp: 1_780_000_000_000, root: root, key: key)
        try head.verify(key.publicKey)
        var changed = head
        changed.size = 2
        #expect(throws: LogError.self) { try changed.verify(key.publicKey) }
        #expect(throws: LogError.self) { try head.verify(P256.Signing.PrivateKey().publicKey) }
    }
}

extension MerkleTreeTests {
    @Test func theAppendOnlyLogHasTheTreesRootAtEverySize() {
        var log = MerkleLog()
        #expect(log.root == MerkleTree.emptyRoot && log.size == 0)
        var hashes: [[UInt8]] = []
        for index in 0..<70 {
            let hash = MerkleTree.leafHash([UInt8(truncatingIfNeeded: index), 7])
            hashes.append(hash)
            #expect(log.append(hash) == UInt64(index))
            #expect(log.root == MerkleTree.root(hashes[...]), "size \(index + 1)")
        }
        var reference = MerkleLog()
        for (index, leaf) in Self.leaves.enumerated() {
            reference.append(MerkleTree.leafHash(leaf))
            #expect(Self.hex(reference.root) == Self.roots[index])
        }
    }
}
