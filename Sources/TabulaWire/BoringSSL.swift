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

    /// `count` random bytes.
    package static func randomBytes(_ count: Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: count) { output, initialized in
            let ok = tabula_random_bytes(output.baseAddress, count)
            precondition(ok == 1, "BoringSSL's random number generator failed")
            initialized = count
        }
    }
}
