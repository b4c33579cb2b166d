import Crypto
package import Foundation

/// Compiled native code kept on disk between loads, authenticated with a key only the enclave
/// holds.
///
/// The disk belongs to the operator, so an entry is trusted only if its MAC (HMAC-SHA256 over the
/// entry's key and the code, with ``key``) checks; an entry that fails is refused, deleted and
/// compiled again, never mapped. The key comes from the monitor (``Monitor/codeCacheKey``): derived
/// from the TEE's sealing secret where the provider has one (the simulated TEE derives it from its
/// platform key, and is labelled simulated like everything it does), otherwise fresh at every start,
/// in which case entries written by an earlier start fail the check and are compiled again.
package struct NativeCodeCache: Sendable {
    package let directory: URL
    private let key: SymmetricKey
    /// Entries larger than this are not read back.
    static let largestEntry = 512 << 20

    package enum Lookup {
        case hit([UInt8])
        case miss
        /// An entry existed but failed authentication (tampered with, or written under another key).
        case rejected
    }

    package init(directory: URL, key: [UInt8]) {
        self.directory = directory
        self.key = SymmetricKey(data: key)
    }

    func lookup(_ name: String) -> Lookup {
        let path = directory.appendingPathComponent("\(name).so").path
        guard let handle = FileHandle(forReadingAtPath: path) else { return .miss }
        defer { try? handle.close() }
        guard let data = try? handle.read(upToCount: Self.largestEntry + 33), data.count > 32, data.count <= Self.largestEntry + 32 else {
            try? FileManager.default.removeItem(atPath: path)
            return .rejected
        }
        let bytes = [UInt8](data)
        let tag = Array(bytes[0..<32])
        let image = Array(bytes[32...])
        guard HMAC<SHA256>.isValidAuthenticationCode(tag, authenticating: Array(name.utf8) + [0] + image, using: key) else {
            try? FileManager.default.removeItem(atPath: path)
            return .rejected
        }
        return .hit(image)
    }

    /// Writes an entry (atomically: a reader sees the old file or the whole new one); a failure to
    /// write only costs a later compilation.
    func store(_ name: String, entry image: [UInt8]) {
        let tag = Array(HMAC<SHA256>.authenticationCode(for: Array(name.utf8) + [0] + image, using: key))
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try? Data(tag + image).write(to: directory.appendingPathComponent("\(name).so"), options: .atomic)
    }
}
