import Foundation

/// Plain POSIX access to the attribute files of configfs (`/sys/kernel/config/tsm/report`) and of
/// Gramine's `/dev/attestation`.
///
/// Foundation is not used for these files on purpose: their size is unknown until read (configfs
/// reports 4096 or 0), and each write must reach the file as one `write(2)` of exactly the given
/// bytes, because the kernel and Gramine treat every write as a complete new value. Every failure
/// is an `AttestationError` naming the path and the system's reason.
enum PseudoFile {
    /// Evidence is a few KiB (a quote with its PCK chain, an SNP report, a certificate table); more
    /// than this means the file is not what we think it is.
    static let maximumSize = 1 << 20

    /// The whole content of `path`.
    static func read(_ path: String) throws(AttestationError) -> [UInt8] {
        guard let bytes = try read(path, missingIsNil: false) else {
            throw AttestationError(.unsupported, "cannot read \(path): it does not exist")
        }
        return bytes
    }

    /// The whole content of `path`, or nil when it does not exist.
    static func readIfPresent(_ path: String) throws(AttestationError) -> [UInt8]? {
        try read(path, missingIsNil: true)
    }

    /// The content of `path` as text without surrounding whitespace (the kernel ends values with a newline).
    static func text(_ path: String) throws(AttestationError) -> String {
        String(decoding: try read(path), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Writes `bytes` to the existing file `path` in one `write(2)`, and fails unless all were taken.
    static func write(_ path: String, _ bytes: [UInt8]) throws(AttestationError) {
        let descriptor = open(path, O_WRONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw failure("cannot open \(path) for writing") }
        defer { close(descriptor) }
        var written: Int
        repeat {
            written = bytes.withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress, $0.count) }
        } while written < 0 && errno == EINTR
        guard written >= 0 else { throw failure("cannot write \(bytes.count) bytes to \(path)") }
        // A short write would leave a value the reader did not choose: report it rather than retry
        // with the rest, which the kernel would take as a new, different value.
        guard written == bytes.count else {
            throw AttestationError(.unsupported, "\(path) took \(written) of \(bytes.count) bytes")
        }
    }

    /// Creates the directory `path` (mode 0700); returns 0, or the `errno` of the failure so that the
    /// caller can tell a missing parent from a refusal.
    static func makeDirectory(_ path: String) -> Int32 {
        mkdir(path, 0o700) == 0 ? 0 : errno
    }

    /// Removes the directory `path`; returns 0 or the `errno` of the failure.
    static func removeDirectory(_ path: String) -> Int32 {
        rmdir(path) == 0 ? 0 : errno
    }

    /// Whether something exists at `path`.
    static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    /// The system's text for an `errno` value.
    static func reason(_ code: Int32) -> String {
        String(cString: strerror(code))
    }

    private static func read(_ path: String, missingIsNil: Bool) throws(AttestationError) -> [UInt8]? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            if missingIsNil, errno == ENOENT { return nil }
            throw failure("cannot open \(path)")
        }
        defer { close(descriptor) }
        var content: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { Foundation.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count >= 0 else { throw failure("cannot read \(path)") }
            if count == 0 { return content }
            content += buffer[0..<count]
            guard content.count <= maximumSize else {
                throw AttestationError(.malformed, "\(path) is larger than \(maximumSize) bytes")
            }
        }
    }

    /// An error naming what failed and the system's reason (`errno` at the time of the call).
    static func failure(_ what: String) -> AttestationError {
        AttestationError(.unsupported, "\(what): \(reason(errno))")
    }
}
