import CBoringSSLShim

/// SHA-256 and random bytes straight from BoringSSL (``CBoringSSLShim``), for the confidential hot
/// path, where swift-crypto's generic wrappers cost more than the work: the same functions, the
/// same CSPRNG.
package enum BoringSSL {
    /// SHA-256 of `bytes`.
    package static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: 32) { output, initialized in
            tabula_sha256(bytes, bytes.count, output.baseAddress)
            initialized = 32
        }
    }

    /// X25519 of a private scalar and a peer's public key; `nil` when the result is all zeros (a
    /// small-order point). The gateway's decapsulation uses it, and the benchmark times it alone.
    package static func x25519(_ privateKey: [UInt8], _ peer: [UInt8]) -> [UInt8]? {
        guard privateKey.count == 32, peer.count == 32 else { return nil }
        var shared = [UInt8](repeating: 0, count: 32)
        guard tabula_x25519(&shared, privateKey, peer) == 1 else { return nil }
        return shared
    }

    /// `count` random bytes.
    package static func randomBytes(_ count: Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: count) { output, initialized in
            let ok = tabula_random_bytes(output.baseAddress, count)
            precondition(ok == 1, "BoringSSL's random number generator failed")
            initialized = count
        }
    }
}
