import Foundation
@_spi(FixedExpiryValidationTime) import X509

/// Certificate chains that end at the pinned Intel SGX Root CA: the PCK chain of a quote, and the
/// chain of the TCB Signing certificate that signs TCB info and QE identity.
enum IntelChain {
    /// Validates `leaf` to the pinned root at `time`, with `intermediates` offered for the path, and
    /// checks every certificate of the path against the CRLs of its issuer among `crls`.
    ///
    /// Certificates given alongside (in the quote, with the collateral, or by the user) are only
    /// ever intermediates: trust comes from the pinned root alone. A CRL whose issuer is on the path
    /// must verify with that issuer's key and be current at `time`; a CRL of an issuer not on the
    /// path does not apply and is skipped.
    ///
    /// - Parameter anchor: the trust anchor; only tests give another than the pinned Intel SGX Root CA.
    /// - Returns: the validated path, leaf first, and the names of the issuers whose CRLs were applied.
    static func validate(
        _ leaf: Certificate, intermediates: [Certificate], crls: [CertificateRevocationList], at time: Date, what: String,
        anchor: Certificate? = nil
    ) async throws(AttestationError) -> (path: [Certificate], crlIssuers: [String]) {
        let root: Certificate
        if let anchor {
            root = anchor
        } else {
            do {
                root = try Certificate(pemEncoded: IntelRootCA.pem)
            } catch {
                throw AttestationError(.untrustedChain, "pinned Intel SGX Root CA does not parse: \(error)")
            }
        }
        // The chain's own copy of the root is only an intermediate, so a forged self-signed "root"
        // cannot anchor it.
        var verifier = Verifier(rootCertificates: CertificateStore([root])) {
            RFC5280Policy(fixedExpiryValidationTime: time)
        }
        let result = await verifier.validate(leaf: leaf, intermediates: CertificateStore(intermediates))
        let path: [Certificate]
        switch result {
        case .validCertificate(let chain):
            path = Array(chain)
        case .couldNotValidate(let failures):
            let reasons = failures.map { "\($0.policyFailureReason)" }.joined(separator: "; ")
            throw AttestationError(
                .untrustedChain,
                "\(what) does not verify to the Intel SGX Root CA at \(time)" + (reasons.isEmpty ? "" : ": \(reasons)"))
        }
        var applied: [String] = []
        for (certificate, issuer) in zip(path, path.dropFirst()) {
            for crl in crls where crl.issuer == issuer.subject {
                try crl.verify(issuer: issuer, at: time)
                if !applied.contains(crl.issuerName) { applied.append(crl.issuerName) }
                if crl.revokes(certificate) {
                    throw AttestationError(
                        .untrustedChain,
                        "\(what): \(CertificateRevocationList.commonName(certificate.subject)) (serial \(certificate.serialNumber)) is revoked by the CRL of \(crl.issuerName)")
                }
            }
        }
        return (path, applied)
    }
}
