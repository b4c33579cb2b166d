public import Foundation

/// Evidence from the Linux configfs-tsm report interface (Linux 6.7+), in Intel TDX and AMD SEV-SNP guests.
///
/// The interface (Linux `Documentation/ABI/testing/configfs-tsm`) is a directory per request under
/// `/sys/kernel/config/tsm/report`: `mkdir` creates an entry with the attribute files; writing up to
/// 64 bytes to `inblob` sets the report data; reading `outblob` makes the kernel ask the TEE for the
/// report (`provider` says its format: `tdx_guest` for a DCAP quote, `sev_guest` for an SNP
/// attestation report); `auxblob` may hold extra data (for `sev_guest`, the certificate table of the
/// extended report, with the VCEK or VLEK); `generation` counts the writes to the entry.
///
/// Each request uses a fresh entry, so that two callers never share one, and still checks
/// `generation`: if it moved by more than our one write, someone else wrote the entry between our
/// write and our read, the report may carry their data, and the request is retried in a new entry.
/// The entry is removed afterwards, whatever happened.
public struct ConfigfsTSM: TEEProvider {
    /// Where the kernel mounts the report interface.
    public static let defaultRoot = URL(fileURLWithPath: "/sys/kernel/config/tsm/report")

    /// One answer of the interface.
    public struct Report: Sendable, Hashable {
        /// The evidence: a DCAP quote (`tdx_guest`) or a 1184-byte SNP report (`sev_guest`).
        public var outblob: [UInt8]
        /// Extra data, when the provider gives some: for `sev_guest`, the certificate table
        /// (``SNPCertificateTable``) holding the VCEK or VLEK that signed the report.
        public var auxblob: [UInt8]?
        /// The kernel's name of the format, e.g. `tdx_guest` or `sev_guest`.
        public var provider: String
    }

    /// Stands in for the kernel in tests, where the root is a plain directory: there `mkdir` makes an
    /// empty directory, nothing answers a write to `inblob`, and `rmdir` refuses a directory with files.
    struct Kernel: Sendable {
        /// After the entry directory was made: create the attribute files.
        var created: @Sendable (_ entry: URL) throws -> Void
        /// After `inblob` was written: bump `generation` and produce `outblob` (and `auxblob`).
        var wrote: @Sendable (_ entry: URL) throws -> Void
        /// Before the entry is removed: delete the attribute files.
        var removing: @Sendable (_ entry: URL) throws -> Void
    }

    /// The report directory used.
    public let root: URL
    /// `tdx` or `sev-snp`, from the provider the kernel named when this value was made.
    public let tee: String
    /// The kernel's provider name (`tdx_guest` or `sev_guest`).
    public let provider: String
    private let attempts: Int
    private let kernel: Kernel?

    /// Opens the interface at `root`, checking that it exists, that an entry can be made there, and
    /// which TEE answers (one entry is created and removed for that).
    ///
    /// - Throws: ``AttestationError`` naming `root` when it is missing (not a TDX or SNP guest, a kernel
    ///   before 6.7, or configfs not mounted) or not writable (not root), or when the provider is unknown.
    public init(root: URL = ConfigfsTSM.defaultRoot) throws {
        try self.init(root: root, attempts: 3, kernel: nil)
    }

    init(root: URL, attempts: Int, kernel: Kernel?) throws {
        self.root = root
        self.attempts = max(1, attempts)
        self.kernel = kernel
        guard PseudoFile.exists(root.path) else {
            throw AttestationError(
                .unsupported,
                "configfs-tsm: \(root.path) does not exist; it needs Linux 6.7 or later in a TDX or SEV-SNP guest, with configfs mounted at /sys/kernel/config")
        }
        let provider = try Self.withEntry(root: root, kernel: kernel) { entry in
            try PseudoFile.text(entry.appendingPathComponent("provider").path)
        }
        self.provider = provider
        self.tee = try Self.tee(provider: provider, root: root)
    }

    /// A report over `reportData` (exactly 64 bytes), with the provider's auxiliary data.
    public func report(reportData: [UInt8]) throws -> Report {
        guard reportData.count == 64 else {
            throw AttestationError(.malformed, "configfs-tsm: report data must be 64 bytes, got \(reportData.count)")
        }
        var conflicts: [String] = []
        for _ in 0..<attempts {
            let outcome = try Self.withEntry(root: root, kernel: kernel) { entry in
                try request(reportData, in: entry)
            }
            switch outcome {
            case .report(let report):
                guard report.provider == provider else {
                    throw AttestationError(
                        .unsupported, "configfs-tsm: the provider changed from \(provider) to \(report.provider)")
                }
                return report
            case .conflict(let description):
                conflicts.append(description)
            }
        }
        throw AttestationError(
            .unsupported,
            "configfs-tsm: another writer changed the report entry during each of \(attempts) attempts (\(conflicts.joined(separator: "; "))); the reports were discarded")
    }

    /// The evidence over `reportData` (exactly 64 bytes): `outblob`. For SEV-SNP the VCEK is in
    /// ``report(reportData:)``'s `auxblob`, or must be fetched from AMD's key distribution service.
    public func evidence(reportData: [UInt8]) async throws -> [UInt8] {
        try report(reportData: reportData).outblob
    }

    private enum Outcome {
        case report(Report)
        case conflict(String)
    }

    /// One request in the fresh entry `entry`.
    private func request(_ reportData: [UInt8], in entry: URL) throws -> Outcome {
        func path(_ name: String) -> String { entry.appendingPathComponent(name).path }
        let before = try generation(path("generation"))
        try PseudoFile.write(path("inblob"), reportData)
        try kernel?.wrote(entry)
        let outblob = try PseudoFile.read(path("outblob"))
        guard !outblob.isEmpty else {
            throw AttestationError(.unsupported, "configfs-tsm: \(path("outblob")) is empty")
        }
        let auxblob = try PseudoFile.readIfPresent(path("auxblob"))
        let provider = try PseudoFile.text(path("provider"))
        let after = try generation(path("generation"))
        // Our write to inblob is the only one we made: any other step means someone else wrote too.
        guard after == before + 1 else {
            return .conflict("generation \(before) became \(after) in \(entry.lastPathComponent)")
        }
        return .report(Report(outblob: outblob, auxblob: auxblob?.isEmpty == false ? auxblob : nil, provider: provider))
    }

    private func generation(_ path: String) throws -> Int {
        let text = try PseudoFile.text(path)
        guard let value = Int(text) else {
            throw AttestationError(.malformed, "configfs-tsm: \(path) holds \"\(text)\", not a number")
        }
        return value
    }

    /// Runs `body` in a new entry under `root` and removes the entry afterwards, even when `body` throws.
    private static func withEntry<T>(root: URL, kernel: Kernel?, _ body: (URL) throws -> T) throws -> T {
        let name = "tabula-\(getpid())-\(UInt64.random(in: 0...UInt64.max).hexPadded)"
        let entry = root.appendingPathComponent(name, isDirectory: true)
        let made = PseudoFile.makeDirectory(entry.path)
        guard made == 0 else {
            let reason = PseudoFile.reason(made)
            switch made {
            case ENOENT, ENOTDIR:
                throw AttestationError(.unsupported, "configfs-tsm: \(root.path) does not exist (\(reason))")
            case ENXIO:
                // The kernel refuses new entries while no TSM driver (tdx_guest, sev_guest) is registered.
                throw AttestationError(
                    .unsupported, "configfs-tsm: no TEE provider is registered at \(root.path) (\(reason)); this is not a TDX or SEV-SNP guest, or its guest driver is not loaded")
            case EACCES, EPERM, EROFS:
                throw AttestationError(
                    .unsupported,
                    "configfs-tsm: \(root.path) is not writable (\(reason)); creating report entries needs root, or write access granted to this user")
            default:
                throw AttestationError(.unsupported, "configfs-tsm: cannot create an entry in \(root.path): \(reason)")
            }
        }
        let result: Result<T, any Error>
        do {
            try kernel?.created(entry)
            result = .success(try body(entry))
        } catch {
            result = .failure(error)
        }
        // Always remove the entry: each holds kernel memory, and a left-over entry could be written
        // by anyone who can list the directory.
        var removal: (any Error)?
        do {
            try kernel?.removing(entry)
            let removed = PseudoFile.removeDirectory(entry.path)
            if removed != 0 {
                removal = AttestationError(
                    .unsupported, "configfs-tsm: cannot remove the report entry \(entry.path): \(PseudoFile.reason(removed))")
            }
        } catch {
            removal = error
        }
        let value = try result.get()
        // The failure of the request itself is the more useful error, so removal only speaks after a success.
        if let removal { throw removal }
        return value
    }

    /// The TEE kind of a configfs-tsm provider name.
    static func tee(provider: String, root: URL) throws -> String {
        switch provider {
        case "tdx_guest": return "tdx"
        case "sev_guest": return "sev-snp"
        default:
            throw AttestationError(
                .unsupported, "configfs-tsm: the provider \"\(provider)\" in \(root.path) is not supported (only tdx_guest and sev_guest)")
        }
    }
}

extension UInt64 {
    /// 16 lower-case hex digits.
    fileprivate var hexPadded: String {
        let digits = String(self, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
