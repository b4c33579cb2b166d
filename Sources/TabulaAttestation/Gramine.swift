public import Foundation
import Synchronization

/// Evidence from Gramine's `/dev/attestation` pseudo-filesystem: SGX DCAP quotes for an enclave
/// running under Gramine-SGX with `sgx.remote_attestation = "dcap"` in its manifest.
///
/// Gramine's interface (its "Attestation and Secret Provisioning" documentation): `attestation_type`
/// names the scheme (`none`, `epid` or `dcap`); writing 64 bytes to `user_report_data` sets the
/// report data; reading `quote` returns a quote over it. The files are per process, but the report
/// data is one value shared by every thread of it, so requests are serialised here: otherwise one
/// request's quote could carry another's report data.
public struct Gramine: TEEProvider {
    /// Where Gramine mounts its attestation interface.
    public static let defaultRoot = URL(fileURLWithPath: "/dev/attestation")

    /// The attestation interface used.
    public let root: URL
    /// Always `sgx`.
    public var tee: String { "sgx" }
    private let serial = Serial()

    /// Opens the interface at `root`, checking that it exists and that Gramine was configured for DCAP.
    ///
    /// - Throws: ``AttestationError`` naming the path when `root` is missing (not running under
    ///   Gramine) or when `attestation_type` is not `dcap` (naming the value, e.g. `none` when the
    ///   manifest lacks `sgx.remote_attestation = "dcap"`, or under `gramine-direct`).
    public init(root: URL = Gramine.defaultRoot) throws {
        self.root = root
        guard PseudoFile.exists(root.path) else {
            throw AttestationError(.unsupported, "gramine: \(root.path) does not exist; this process does not run under Gramine")
        }
        let typeFile = root.appendingPathComponent("attestation_type").path
        let type = try PseudoFile.text(typeFile)
        guard type == "dcap" else {
            throw AttestationError(
                .unsupported,
                "gramine: \(typeFile) says \"\(type)\", not \"dcap\"; set sgx.remote_attestation = \"dcap\" in the manifest and run with gramine-sgx")
        }
    }

    /// A DCAP quote whose report data is `reportData` (exactly 64 bytes).
    public func evidence(reportData: [UInt8]) async throws -> [UInt8] {
        guard reportData.count == 64 else {
            throw AttestationError(.malformed, "gramine: report data must be 64 bytes, got \(reportData.count)")
        }
        let quote = try serial.mutex.withLock { _ in
            try PseudoFile.write(root.appendingPathComponent("user_report_data").path, reportData)
            return try PseudoFile.read(root.appendingPathComponent("quote").path)
        }
        guard !quote.isEmpty else {
            throw AttestationError(.unsupported, "gramine: \(root.appendingPathComponent("quote").path) is empty")
        }
        return quote
    }
}

extension Gramine {
    /// One lock shared by copies of the provider (a `Mutex` cannot be copied, the provider must be).
    private final class Serial: Sendable {
        let mutex = Mutex(())
    }
}
