public import Crypto
public import TabulaAttestation
public import TabulaWire

/// An enclave whose attestation bundle verified: what it proved, and the keys to seal to.
///
/// Made by ``Client/attest(policy:nonce:at:)``: the evidence is authentic and satisfies the
/// reference policy, it binds ``identityKey`` (RA-TLS certificate), and the identity key signed
/// ``keyConfigurations`` for ``epoch``.
public struct AttestedEnclave: Sendable {
    /// The evidence's claims (`tee` is `simulated` when no TEE hardware backs the enclave).
    public let claims: Evidence.Claims
    /// The enclave's identity key: it signs function certificates and receipts.
    public let identityKey: P256.Signing.PublicKey
    /// The keys requests are sealed to.
    public let keyConfigurations: [KeyConfiguration]
    public let epoch: UInt64
    /// When to fetch the bundle again (ISO 8601).
    public let expires: String
    /// The identity certificate, PEM.
    public let certificate: String
    /// The policy the enclave was appraised with; its function requirements (`engines`,
    /// `compilerDigests`) apply to every function certificate verified against this enclave.
    public var policy = AppraisalPolicy()

    /// `sgx`, `tdx`, `sev-snp` or `simulated`.
    public var tee: String { claims.tee }

    /// How the enclave runs tenant code (isolation, confinement, engine), as its identity
    /// certificate states it; nil when it does not say (a server from before the claim).
    public var runtime: RuntimeClaims? { claims.runtime }

    /// One line for people: TEE kind, measurement, debug, epoch, how tenant code runs; loud when
    /// simulated.
    public var summary: String {
        let measurement = claims.measurement.hex
        let short = measurement.count > 16 ? String(measurement.prefix(16)) + "…" : measurement
        var line = "attested \(tee) enclave, measurement \(short), key epoch \(epoch)"
        line += ", tenant code: " + (runtime?.summary ?? "not stated")
        if claims.debug { line += ", DEBUG MODE" }
        if tee == "simulated" { line = "SIMULATED (no TEE hardware, proves nothing): " + line }
        return line
    }
}

/// A function certificate that verified against an ``AttestedEnclave``'s identity key.
public struct AttestedFunction: Sendable, Hashable {
    public let claims: FunctionClaims
    /// The certificate, PEM.
    public let certificate: String
}
