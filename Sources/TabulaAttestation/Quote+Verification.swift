public import Foundation
import Crypto
import SwiftASN1
@_spi(FixedExpiryValidationTime) import X509

extension Quote {
    /// Verifies the quote back to the pinned Intel SGX Root CA and returns what it asserts.
    ///
    /// Checks, in order: the attestation key's signature over header and body; that the QE report
    /// data is SHA-256(attestation key ‖ QE auth data) followed by zeros; the PCK's signature over the
    /// QE report; the PCK chain to the pinned root at `time`; and reads FMSPC and PCE ID from the PCK
    /// certificate. TCB status and QE identity (which need Intel collateral) are not checked here.
    ///
    /// - Parameter time: The time at which the certificates must be valid (fixed in tests, since they expire).
    /// - Throws: ``AttestationError`` naming the check that failed.
    public func verify(at time: Date) async throws(AttestationError) -> QuoteClaims {
        try verifyQuoteSignature()
        try verifyQEReportBinding()
        let chain = try Self.parsePCKChain(certification.pckChainPEM)
        let leaf = chain[0]
        try verifyQEReportSignature(by: leaf)
        try await Self.verifyPCKChain(chain, at: time)
        let (fmspc, pceID) = try Self.sgxExtensionValues(of: leaf)
        return QuoteClaims(quote: self, fmspc: fmspc, pceID: pceID)
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

    /// (4) The chain leads from the PCK to the pinned Intel SGX Root CA at `time`.
    static func verifyPCKChain(_ chain: [Certificate], at time: Date) async throws(AttestationError) {
        let root: Certificate
        do {
            root = try Certificate(pemEncoded: IntelRootCA.pem)
        } catch {
            throw AttestationError(.untrustedChain, "pinned Intel SGX Root CA does not parse: \(error)")
        }
        // The chain's own root is only offered as an intermediate: trust comes from the pinned copy
        // alone, so a forged self-signed "root" cannot anchor the chain.
        var verifier = Verifier(rootCertificates: CertificateStore([root])) {
            RFC5280Policy(fixedExpiryValidationTime: time)
        }
        let result = await verifier.validate(leaf: chain[0], intermediates: CertificateStore(Array(chain.dropFirst())))
        switch result {
        case .validCertificate:
            return
        case .couldNotValidate(let failures):
            let reasons = failures.map { "\($0.policyFailureReason)" }.joined(separator: "; ")
            throw AttestationError(
                .untrustedChain,
                "PCK certificate chain does not verify to the Intel SGX Root CA at \(time)"
                    + (reasons.isEmpty ? "" : ": \(reasons)"))
        }
    }

    static let sgxExtensionOID: ASN1ObjectIdentifier = [1, 2, 840, 113_741, 1, 13, 1]
    static let pceIDOID: ASN1ObjectIdentifier = [1, 2, 840, 113_741, 1, 13, 1, 3]
    static let fmspcOID: ASN1ObjectIdentifier = [1, 2, 840, 113_741, 1, 13, 1, 4]

    /// (5) Reads FMSPC and PCE ID from the PCK certificate's SGX extension.
    static func sgxExtensionValues(of leaf: Certificate) throws(AttestationError) -> (fmspc: Data, pceID: Data) {
        guard let ext = leaf.extensions[oid: sgxExtensionOID] else {
            throw AttestationError(.malformed, "PCK certificate has no SGX extension (1.2.840.113741.1.13.1)")
        }
        var fmspc: Data?
        var pceID: Data?
        do {
            // A SEQUENCE of SEQUENCE { OID, value }; only the two OCTET STRING values needed are read.
            let root = try DER.parse(ext.value)
            guard case .constructed(let entries) = root.content else {
                throw AttestationError(.malformed, "PCK SGX extension is not a SEQUENCE")
            }
            for entry in entries {
                guard case .constructed(let pair) = entry.content else { continue }
                var fields = pair.makeIterator()
                guard let oidNode = fields.next(), let valueNode = fields.next() else { continue }
                let oid = try ASN1ObjectIdentifier(derEncoded: oidNode)
                guard oid == fmspcOID || oid == pceIDOID else { continue }
                let value = try ASN1OctetString(derEncoded: valueNode)
                if oid == fmspcOID { fmspc = Data(value.bytes) } else { pceID = Data(value.bytes) }
            }
        } catch let error as AttestationError {
            throw error
        } catch {
            throw AttestationError(.malformed, "PCK SGX extension does not parse: \(error)")
        }
        guard let fmspc, fmspc.count == 6 else {
            throw AttestationError(.malformed, "PCK SGX extension has no 6-byte FMSPC")
        }
        guard let pceID, pceID.count == 2 else {
            throw AttestationError(.malformed, "PCK SGX extension has no 2-byte PCE ID")
        }
        return (fmspc, pceID)
    }
}
