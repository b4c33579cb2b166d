public import Foundation
import Crypto
import SwiftASN1
import X509

extension Quote {
    /// Verifies the quote back to the pinned Intel SGX Root CA and returns what it asserts.
    ///
    /// Checks, in order: the attestation key's signature over header and body; that the QE report
    /// data is SHA-256(attestation key ‖ QE auth data) followed by zeros; the PCK's signature over the
    /// QE report; the PCK chain to the pinned root at `time` (and against the CRLs in `collateral`);
    /// and reads FMSPC, PCE ID and the TCB from the PCK certificate. With a TCB info in `collateral`,
    /// also judges the TCB status (``TCBEvaluation``), checking the QE identity too when it is given.
    ///
    /// - Parameters:
    ///   - time: The time at which the certificates and collateral must be valid (fixed in tests, since they expire).
    ///   - chain: Extra certificates (DER): the PCK chain when the quote carries none (certification
    ///     data types 1-3) or only its leaf (type 4), and the TCB Signing certificate for collateral
    ///     given as PCS responses. They are only ever intermediates or signers; the root stays pinned.
    ///   - collateral: Intel's TCB info, QE identity and CRLs, all optional.
    /// - Throws: ``AttestationError`` naming the check that failed.
    public func verify(at time: Date, chain: [[UInt8]] = [], collateral: IntelCollateral? = nil) async throws(AttestationError) -> QuoteClaims {
        try verifyQuoteSignature()
        try verifyQEReportBinding()
        var extra: [Certificate] = []
        for der in chain {
            do {
                extra.append(try Certificate(derEncoded: der))
            } catch {
                throw AttestationError(.malformed, "an extra certificate does not parse: \(error)")
            }
        }
        guard certification.pckCertificationType == Certification.pckChainType || !extra.isEmpty else {
            // What a strict verifier (Intel's QVL) requires: the quote carries its whole PCK chain.
            throw AttestationError(
                .untrustedChain,
                "the quote's PCK certification data is type \(certification.pckCertificationType), not type 5 (the PCK certificate chain), so it does not carry the certificates that vouch for it; give the platform's PCK chain (--chain) to verify it anyway")
        }
        let carried = try certification.pckChainPEM.isEmpty ? [] : Self.parsePCKChain(certification.pckChainPEM)
        if certification.pckCertificationType == Certification.pckChainType {
            try Self.checkCarriedRoot(carried)
        }
        let leaf: Certificate
        if let first = carried.first {
            leaf = first
        } else if let signer = extra.first(where: { qeReportSigned(by: $0) }) {
            leaf = signer
        } else {
            throw AttestationError(
                .untrustedChain,
                "the quote carries no PCK certificate (certification data type \(certification.pckCertificationType)) and none of the given certificates signed its QE report; give the platform's PCK chain (--chain)")
        }
        try verifyQEReportSignature(by: leaf)
        let others = (carried + extra).filter { $0 != leaf }
        let (_, crlIssuers) = try await IntelChain.validate(
            leaf, intermediates: others, crls: collateral?.crls ?? [], at: time, what: "PCK certificate chain")
        let pck = try PCKExtension(certificate: leaf)
        var claims = QuoteClaims(quote: self, pck: pck)
        claims.crlIssuers = crlIssuers
        if let collateral, collateral.hasTCBInfo {
            claims.tcb = try await evaluate(collateral, pck: pck, offered: others + collateral.certificateObjects(), at: time)
        } else if collateral?.qeIdentity != nil {
            // A QE identity only refines the platform's status, which needs the TCB info.
            throw AttestationError(.unsupported, "the collateral has a QE identity but no TCB info; give the TCB info too")
        }
        return claims
    }

    /// Whether `certificate`'s key signed the QE report (to find the PCK among given certificates).
    private func qeReportSigned(by certificate: Certificate) -> Bool {
        guard let key = P256.Signing.PublicKey(certificate.publicKey),
              let signature = try? P256.Signing.ECDSASignature(rawRepresentation: certification.qeReportSignature)
        else { return false }
        return key.isValidSignature(signature, for: certification.qeReport.raw)
    }

    /// (1) The attestation key signed header ‖ body.
    func verifyQuoteSignature() throws(AttestationError) {
        let key: P256.Signing.PublicKey
        let signature: P256.Signing.ECDSASignature
        do {
            key = try P256.Signing.PublicKey(rawRepresentation: attestationKey)
        } catch {
            throw AttestationError(.badSignature, "quote attestation key is not a valid P-256 point")
        }
        do {
            signature = try P256.Signing.ECDSASignature(rawRepresentation: self.signature)
        } catch {
            throw AttestationError(.malformed, "quote signature is not a 64-byte r‖s ECDSA signature")
        }
        guard key.isValidSignature(signature, for: signedBytes) else {
            throw AttestationError(.badSignature, "quote signature by the attestation key does not verify")
        }
    }

    /// (2) The QE report binds the attestation key and the QE auth data.
    func verifyQEReportBinding() throws(AttestationError) {
        let expected = Data(SHA256.hash(data: attestationKey + certification.qeAuthData))
        let reportData = certification.qeReport.reportData
        guard reportData.prefix(32) == expected, reportData.dropFirst(32).allSatisfy({ $0 == 0 }) else {
            throw AttestationError(
                .bindingMismatch, "QE report data is not SHA-256(attestation key ‖ QE auth data) followed by zeros")
        }
    }

    /// (3) The PCK signed the QE report.
    func verifyQEReportSignature(by leaf: Certificate) throws(AttestationError) {
        guard let key = P256.Signing.PublicKey(leaf.publicKey) else {
            throw AttestationError(.untrustedChain, "PCK certificate key is not P-256")
        }
        guard let signature = try? P256.Signing.ECDSASignature(rawRepresentation: certification.qeReportSignature)
        else {
            throw AttestationError(.malformed, "QE report signature is not a 64-byte r‖s ECDSA signature")
        }
        guard key.isValidSignature(signature, for: certification.qeReport.raw) else {
            throw AttestationError(.badSignature, "QE report signature by the PCK certificate does not verify")
        }
    }

    /// A type-5 chain is leaf, intermediate CA(s), and the Intel SGX Root CA itself. Trust comes from
    /// the pinned root whatever the quote carries, but a chain that ends elsewhere (another
    /// self-signed certificate, or no root) was not made by Intel's quoting stack: refuse it.
    static func checkCarriedRoot(_ carried: [Certificate]) throws(AttestationError) {
        let pinned: Certificate
        do {
            pinned = try Certificate(pemEncoded: IntelRootCA.pem)
        } catch {
            throw AttestationError(.untrustedChain, "pinned Intel SGX Root CA does not parse: \(error)")
        }
        guard carried.count >= 2, let last = carried.last, last == pinned else {
            let subject = carried.last.map { CertificateRevocationList.commonName($0.subject) } ?? "nothing"
            throw AttestationError(
                .untrustedChain,
                "the PCK certificate chain in the quote (\(carried.count) certificates) ends with \(subject), not the Intel SGX Root CA; the quote was altered or not made by Intel's quoting enclave")
        }
    }

    /// Splits the PEM chain into certificates, leaf first.
    static func parsePCKChain(_ pem: Data) throws(AttestationError) -> [Certificate] {
        // Producers NUL-terminate the PEM text; the terminator is not part of it.
        let text = String(decoding: pem.filter { $0 != 0 }, as: UTF8.self)
        let certificates: [Certificate]
        do {
            certificates = try PEMDocument.parseMultiple(pemString: text).map {
                try Certificate(derEncoded: $0.derBytes)
            }
        } catch {
            throw AttestationError(.malformed, "PCK certificate chain is not valid PEM certificates: \(error)")
        }
        guard !certificates.isEmpty else {
            throw AttestationError(.malformed, "PCK certificate chain is empty")
        }
        return certificates
    }

    static let sgxExtensionOID: ASN1ObjectIdentifier = [1, 2, 840, 113_741, 1, 13, 1]
    static let pceIDOID: ASN1ObjectIdentifier = [1, 2, 840, 113_741, 1, 13, 1, 3]
    static let fmspcOID: ASN1ObjectIdentifier = [1, 2, 840, 113_741, 1, 13, 1, 4]
}
