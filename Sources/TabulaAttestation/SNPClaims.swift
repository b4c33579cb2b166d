/// What a verified AMD SEV-SNP attestation report says about the guest.
///
/// Produced only by `SNPReport.verify`, after the report signature, the certificate chain up to a pinned
/// AMD root and the certificate-to-report bindings (chip ID, TCB) all held.
public struct SNPClaims: Sendable, Hashable {
    /// Which kind of AMD key signed the report.
    public enum SigningKey: String, Sendable, Hashable {
        /// Versioned Chip Endorsement Key: per chip and TCB, issued by the ASK.
        case vcek = "VCEK"
        /// Versioned Loaded Endorsement Key: per cloud provider and TCB, issued by the ASVK.
        case vlek = "VLEK"
    }

    /// The report format version (2 or 3).
    public var version: UInt32
    /// The product whose AMD root signed the chain.
    public var product: SNPProduct
    /// The key that signed the report.
    public var signingKey: SigningKey
    /// The launch measurement of the guest (48 bytes).
    public var measurement: [UInt8]
    /// The 64 bytes the guest asked to be reported (e.g. a hash of its key).
    public var reportData: [UInt8]
    /// The 32 bytes the host supplied at launch.
    public var hostData: [UInt8]
    /// The guest policy.
    public var policy: UInt64
    /// Whether the policy allows debugging (bit 19), which lets the host read guest memory.
    public var debug: Bool
    /// The virtual machine privilege level that requested the report.
    public var vmpl: UInt32
    /// The guest security version number.
    public var guestSVN: UInt32
    /// The TCB version the report (and the certificate) were signed at.
    public var reportedTCB: UInt64
    /// The chip identifier (64 bytes; zero when the guest masked it).
    public var chipID: [UInt8]
    /// The family ID supplied at launch (16 bytes).
    public var familyID: [UInt8]
    /// The image ID supplied at launch (16 bytes).
    public var imageID: [UInt8]
}
