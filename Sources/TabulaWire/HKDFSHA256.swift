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
        var block = key.count > blockByteCount ? Array(SHA256.hash(data: key)) : key
        block += [UInt8](repeating: 0, count: blockByteCount - block.count)
        defer { block.wipe() }
        var inner = SHA256()
        var outer = SHA256()
        var pad = block.map { $0 ^ 0x36 }
        inner.update(data: pad)
        for index in pad.indices { pad[index] = block[index] ^ 0x5C }
        outer.update(data: pad)
        pad.wipe()
        for part in parts { inner.update(data: part) }
        outer.update(data: Array(inner.finalize()))
        return Array(outer.finalize())
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
