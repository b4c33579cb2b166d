import Crypto
public import Foundation

/// RA-TLS certificates of either kind: a TLS key bound to TEE evidence inside its certificate.
///
/// - The **interoperable** extension (OID 2.23.133.5.4.9, CBOR tag 60000 around `[evidence,
///   claims]`): Tabula's identity certificate and newer Gramine versions; see
///   ``IdentityCertificate/verify(_:nonce:evidenceCertificate:at:)``.
/// - Gramine's **legacy** extension (OID 1.2.840.113741.1337.6): the raw SGX quote, whose report
///   data begins with SHA-256 of the certificate's DER SubjectPublicKeyInfo.
/// - Intel's SGX SDK attested TLS (the quote under OID 1.2.840.113741.1.13.1, with or without the
///   interoperable extension beside it); see ``verifyIntelSDK(_:quote:evidenceCertificate:at:)``.
///
/// Either way the certificate must be self-signed by its key (ECDSA P-256, P-384, P-521 or RSA),
/// valid at the given time, and its key bound to evidence that verifies.
public enum RATLSCertificate {
    /// What the certificate proved: the evidence's claims, plus `raTLS` (`interoperable`, `legacy`
    /// or `intel-sdk`), `certificateKey` and `certificateKeyBound` in ``Evidence/Claims/fields``.
    public static func verify(_ certificate: [UInt8], evidenceCertificate: [UInt8]? = nil, at time: Date) async throws -> Evidence.Claims {
        let der = try DERCertificate.der(certificate)
        let parsed = try DERCertificate(der: der)
        // Intel's SDK writes the interoperable extension too, but binds its own way when alone and
        // may use any key (a P-256 one must not be read as Tabula's identity certificate).
        if let quote = parsed.extensionValue(oid: intelSDKQuoteOIDContent) {
            return try await verifyIntelSDK(parsed, quote: quote, evidenceCertificate: evidenceCertificate, at: time)
        }
        // Gramine puts both extensions in its certificates; the legacy one is checked on its own
        // (and its keys are P-384, which the interoperable path, built for Tabula's, does not take).
        let legacy = parsed.extensionValue(oid: legacyOIDContent) ?? parsed.extensionValue(oid: [0x06, 0x09] + legacyOIDContent)
        if legacy == nil, let value = parsed.extensionValue(oid: IdentityCertificate.extensionOIDContent) {
            // Tabula's own identity certificates (P-256, ecdsa-with-SHA256) keep their stricter rules;
            // other frameworks' keys (P-384 from Intel's SDK and Gramine, RSA) are checked as the
            // interoperable specification binds them.
            guard parsed.signatureAlgorithm == DERCertificate.ecdsaWithSHA256, (try? P256.Signing.PublicKey(derRepresentation: parsed.subjectPublicKeyInfo)) != nil else {
                return try await verifyInteroperable(parsed, value: value, evidenceCertificate: evidenceCertificate, at: time)
            }
            var claims = try await IdentityCertificate.verify(certificate, nonce: nil, evidenceCertificate: evidenceCertificate, at: time).claims
            claims.fields["raTLS"] = "interoperable"
            claims.fields["certificateKey"] = "P-256"
            claims.fields["certificateKeyBound"] = true
            return claims
        }
        guard let quote = legacy else {
            throw AttestationError(.malformed, "RA-TLS certificate: none of the interoperable (2.23.133.5.4.9), Gramine's legacy (1.2.840.113741.1337.6) or Intel SGX SDK's (1.2.840.113741.1.13.1) evidence extensions")
        }
        let kind = try verifyAnySelfSignature(parsed)
        guard parsed.notBefore <= time, time <= parsed.notAfter else {
            throw AttestationError(.untrustedChain, "RA-TLS certificate: not valid at \(time) (valid from \(parsed.notBefore) to \(parsed.notAfter))")
        }
        var claims = try await Evidence.verify(quote, certificate: evidenceCertificate, at: time)
        guard claims.reportData.count >= 32, Array(claims.reportData.prefix(32)) == Array(SHA256.hash(data: parsed.subjectPublicKeyInfo)) else {
            throw AttestationError(.bindingMismatch, "RA-TLS certificate: the quote's report data does not begin with SHA-256 of the certificate's public key")
        }
        claims.fields["raTLS"] = "legacy"
        claims.fields["certificateKey"] = .string(kind)
        claims.fields["certificateKeyBound"] = true
        return claims
    }

    /// The content bytes of OID 1.2.840.113741.1337.6 (Gramine's legacy quote extension). Gramine
    /// writes them with their own tag and length in front (so other tools show "0.6.9.42.840…");
    /// both spellings are accepted.
    static let legacyOIDContent: [UInt8] = [0x2A, 0x86, 0x48, 0x86, 0xF8, 0x4D, 0x8A, 0x39, 0x06]
}
