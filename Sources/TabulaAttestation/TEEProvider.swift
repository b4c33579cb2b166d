/// A source of hardware evidence binding 64 bytes of report data.
///
/// The enclave asks its provider for evidence over data it chose (for the identity certificate: a
/// hash of claims that name its key), so the one protocol covers SGX under Gramine, TDX and SEV-SNP
/// guests, and the simulated TEE of machines without such hardware; verifiers tell them apart by the
/// evidence bytes alone (`Evidence.verify`).
public protocol TEEProvider: Sendable {
    /// "simulated", "sgx", "tdx" or "sev-snp".
    var tee: String { get }
    /// Evidence whose report data is exactly `reportData` (64 bytes; throw AttestationError otherwise).
    func evidence(reportData: [UInt8]) async throws -> [UInt8]
}
