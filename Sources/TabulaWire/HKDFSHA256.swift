import Crypto

/// HMAC-SHA256 (RFC 2104) and HKDF-SHA256 (RFC 5869) over byte arrays, built on swift-crypto's
/// SHA-256.
///
/// swift-crypto has both, but its `HKDF` costs about 3 µs per step on the build machine (each
/// step wraps keys in `SymmetricKey`, `Data` and generic containers), and one confidential
/// invocation takes a dozen steps (the HPKE key schedule and the response keys). These take about
/// 0.3 µs. They are checked against RFC 5869's vectors, and through HPKE against RFC 9180's.
enum HKDFSHA256 {
    static let hashByteCount = 32
    private static let blockByteCount = 64

    /// HMAC-SHA256 of the concatenation of `parts`, keyed with `key`.
    static func authenticationCode(key: [UInt8], _ parts: [UInt8]...) -> [UInt8] {
        authenticationCode(key: key, parts: parts)
    }

    static func authenticationCode(key: [UInt8], parts: [[UInt8]]) -> [UInt8] {
        // Keys longer than a block are hashed first; shorter ones are padded with zeros.
        let key = key.count > blockByteCount ? SHA256.hash(data: key).withUnsafeBytes { Array($0) } : key
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: blockByteCount) { pad in
            pad.initialize(repeating: 0x36)
            for index in key.indices { pad[index] ^= key[index] }
            var inner = SHA256()
            inner.update(bufferPointer: UnsafeRawBufferPointer(pad))
            for part in parts { part.withUnsafeBytes { inner.update(bufferPointer: $0) } }
            let innerDigest = inner.finalize()
            // The inner pad becomes the outer one: key ⊕ 0x36 ⊕ (0x36 ⊕ 0x5C) = key ⊕ 0x5C.
            for index in 0..<blockByteCount { pad[index] ^= 0x36 ^ 0x5C }
            var outer = SHA256()
            outer.update(bufferPointer: UnsafeRawBufferPointer(pad))
            innerDigest.withUnsafeBytes { outer.update(bufferPointer: $0) }
            // The pad held the key: overwrite it before the stack space is reused.
            pad.update(repeating: 0)
            return outer.finalize().withUnsafeBytes { Array($0) }
        }
    }

    /// `HKDF-Extract(salt, ikm)`; an empty salt is the same as `HashLen` zero bytes.
    static func extract(salt: [UInt8], _ ikm: [UInt8]...) -> [UInt8] {
        authenticationCode(key: salt, parts: ikm)
    }

    /// `HKDF-Expand(prk, info, length)`, `length` at most 255 × 32 bytes.
    static func expand(prk: [UInt8], info: [UInt8], length: Int) -> [UInt8] {
        precondition(length <= 255 * hashByteCount, "HKDF-SHA256 expands to at most 8160 bytes")
        var output: [UInt8] = []
        output.reserveCapacity(length + hashByteCount)
        var previous: [UInt8] = []
        var counter: UInt8 = 1
        while output.count < length {
            previous = authenticationCode(key: prk, previous, info, [counter])
            output += previous
            counter &+= 1
        }
        previous.wipe()
        if output.count > length {
            // Overwrite the surplus before dropping it: it is key material too.
            for index in length..<output.count { output[index] = 0 }
            output.removeLast(output.count - length)
        }
        return output
    }
}
