public import Foundation

/// An AMD EPYC product line that signs SEV-SNP reports, each with its own AMD root key (ARK).
///
/// The product of a report is the one whose AMD signing key (ASK for a VCEK, ASVK for a VLEK) issued
/// the leaf certificate; its ARK is pinned in this module.
public enum SNPProduct: String, Sendable, Hashable, CaseIterable {
    /// 3rd generation EPYC (Zen 3).
    case milan = "Milan"
    /// 4th generation EPYC (Zen 4).
    case genoa = "Genoa"
    /// 5th generation EPYC (Zen 5).
    case turin = "Turin"

    /// Checks the built-in certificates of this product at `time`.
    ///
    /// The ARK must be self-signed, and the ASK and ASVK must be signed by it; all three must be valid at
    /// `time`. Useful as a start-up self-test, and done anyway by every `SNPReport.verify`.
    public func verifyBuiltInCertificates(at time: Date) throws {
        let chain = try builtInChain()
        try chain.verify(at: time)
    }

    /// The parsed built-in certificates, or the parse error (which would be a bug in this module).
    func builtInChain() throws -> Chain {
        guard let result = Self.chains[self] else {
            throw AttestationError(.unsupported, "no AMD certificates for \(rawValue)")
        }
        return try result.get()
    }

    /// The ARK, ASK and ASVK of one product.
    struct Chain: Sendable {
        let ark: RSAPSSCertificate
        let ask: RSAPSSCertificate
        let asvk: RSAPSSCertificate

        /// The ARK is trusted because it is pinned (it is in this source file), not because it is self-signed;
        /// the self-signature check only catches a corrupted copy.
        func verify(at time: Date) throws {
            try ark.verify(issuedBy: ark, at: time)
            try ask.verify(issuedBy: ark, at: time)
            try asvk.verify(issuedBy: ark, at: time)
        }
    }

    /// Parsed once: the PEM texts are constants, so parsing them per verification would be wasted work.
    private static let chains: [SNPProduct: Result<Chain, AttestationError>] = {
        func parse(_ ark: String, _ ask: String, _ asvk: String) -> Result<Chain, AttestationError> {
            do {
                return .success(Chain(
                    ark: try RSAPSSCertificate(pem: ark),
                    ask: try RSAPSSCertificate(pem: ask),
                    asvk: try RSAPSSCertificate(pem: asvk)
                ))
            } catch let error as AttestationError {
                return .failure(error)
            } catch {
                return .failure(AttestationError(.malformed, "built-in AMD certificate: \(error)"))
            }
        }
        return [
            .milan: parse(AMDCertificates.milanArk, AMDCertificates.milanAsk, AMDCertificates.milanAsvk),
            .genoa: parse(AMDCertificates.genoaArk, AMDCertificates.genoaAsk, AMDCertificates.genoaAsvk),
            .turin: parse(AMDCertificates.turinArk, AMDCertificates.turinAsk, AMDCertificates.turinAsvk),
        ]
    }()
}
