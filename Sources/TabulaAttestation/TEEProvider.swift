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
    /// A 32-byte key for `label` that only code measured as this enclave can derive again after a
    /// restart (the TEE's sealing key); `nil` when the provider has none.
    func sealingKey(label: String) -> [UInt8]?
}

extension TEEProvider {
    /// No sealing key: hardware sealing (SGX's EGETKEY, SEV-SNP's derived keys) is not wired in
    /// yet, and TDX has none; a caller falls back to a key that lives as long as the process.
    public func sealingKey(label: String) -> [UInt8]? { nil }
}
