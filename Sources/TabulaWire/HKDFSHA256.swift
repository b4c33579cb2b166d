import CBoringSSLShim

/// HMAC-SHA256 (RFC 2104) and HKDF-SHA256 (RFC 5869) over byte arrays, with BoringSSL's HMAC.
///
/// swift-crypto has both, but its `HKDF` costs about 3 µs per step on the build machine (each
/// step wraps keys in `SymmetricKey`, `Data` and generic containers), and one confidential
/// invocation takes a dozen steps (the HPKE key schedule and the response keys). These call
/// BoringSSL's HMAC through ``CBoringSSLShim``. They are checked against RFC 5869's vectors, and
/// through HPKE against RFC 9180's.
enum HKDFSHA256 {
    static let hashByteCount = 32

    /// HMAC-SHA256 of the concatenation of `parts`, keyed with `key`.
    static func authenticationCode(key: [UInt8], _ parts: [UInt8]...) -> [UInt8] {
        authenticationCode(key: key, parts: parts)
    }

    static func authenticationCode(key: [UInt8], parts: [[UInt8]]) -> [UInt8] {
        // The parts are short (labels, keys, a few hundred bytes at most): joined, then one call
        // to BoringSSL's HMAC (``CBoringSSLShim``), the data wiped afterwards as it may be key material.
        var data = parts.count == 1 ? parts[0] : parts.flatMap { $0 }
        defer { if parts.count != 1 { data.wipe() } }
        return [UInt8](unsafeUninitializedCapacity: hashByteCount) { output, initialized in
            let ok = tabula_hmac_sha256(key, key.count, data, data.count, output.baseAddress)
            precondition(ok == 1, "HMAC-SHA256 failed in BoringSSL")
            initialized = hashByteCount
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
