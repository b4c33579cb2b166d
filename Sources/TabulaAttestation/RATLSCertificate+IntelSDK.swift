import Crypto
import Foundation

extension RATLSCertificate {
    /// The content bytes of OID 1.2.840.113741.1.13.1, under which Intel's SGX SDK attested TLS
    /// (`tee_get_certificate_with_evidence`, linux-sgx `sdk/ttls`) puts the raw quote. Intel's PCK
    /// certificates use the same OID for their SGX extension; those are not self-signed, and are
    /// refused as such before their extension is read as a quote.
    static let intelSDKQuoteOIDContent: [UInt8] = [0x2A, 0x86, 0x48, 0x86, 0xF8, 0x4D, 0x01, 0x0D, 0x01]

    /// A certificate of Intel's SGX SDK attested TLS, checked as the SDK's own verifier
    /// (`tee_verify_certificate_with_evidence`) binds it, and more strictly where the SDK is lax.
    ///
    /// - Current SDKs write two extensions over the same quote: the raw quote (1.2.840.113741.1.13.1)
    ///   and the interoperable one (2.23.133.5.4.9, tag 60000 around `[quote, claims]`, claims
    ///   `{"pubkey-hash": [1, SHA-256(SubjectPublicKeyInfo DER)]}`, report data beginning with
    ///   SHA-256 of the claims; SHA-384 and alg 7 on TDX). The interoperable one is checked, as the
    ///   SDK does; unlike the SDK, the two must carry the same quote (so that no verifier reading the
    ///   other extension can be shown an unchecked one) and `pubkey-hash` must be present.
    /// - Older SDKs write only the raw quote; its report data begins with SHA-256 (SHA-384 for a TDX
    ///   quote) of the public key as PEM text with a terminating NUL byte, the buffer the SDK hashed
    ///   (`PEM_write_bio_PUBKEY` output plus `'\0'`).
    static func verifyIntelSDK(_ parsed: DERCertificate, quote: [UInt8], evidenceCertificate: [UInt8]?, at time: Date) async throws -> Evidence.Claims {
        // Self-signed first: a PCK certificate carries the same OID with other content.
        let kind = try verifyAnySelfSignature(parsed)
        if let value = parsed.extensionValue(oid: IdentityCertificate.extensionOIDContent) {
            let (evidence, _) = try IdentityCertificate.parseExtensionValue(value)
            guard evidence == quote else {
                throw AttestationError(
                    .bindingMismatch,
                    "RA-TLS certificate (Intel SGX SDK): the quote extension (1.2.840.113741.1.13.1) and the interoperable extension (2.23.133.5.4.9) carry different quotes")
            }
            var claims = try await verifyInteroperable(parsed, value: value, evidenceCertificate: evidenceCertificate, at: time)
            claims.fields["raTLS"] = "intel-sdk"
            claims.fields["keyBinding"] = "pubkey-hash claims"
            return claims
        }
        guard parsed.notBefore <= time, time <= parsed.notAfter else {
            throw AttestationError(.untrustedChain, "RA-TLS certificate: not valid at \(time) (valid from \(parsed.notBefore) to \(parsed.notAfter))")
        }
        var claims = try await Evidence.verify(quote, certificate: evidenceCertificate, at: time)
        let pem = Array(publicKeyPEM(parsed.subjectPublicKeyInfo).utf8) + [0]
        let expected = claims.tee == Quote.TEE.tdx.rawValue ? Array(SHA384.hash(data: pem)) : Array(SHA256.hash(data: pem))
        guard Array(claims.reportData.prefix(expected.count)) == expected else {
            throw AttestationError(
                .bindingMismatch,
                "RA-TLS certificate (Intel SGX SDK): the quote's report data does not begin with the hash of the certificate's \(kind) public key (PEM text with its NUL byte, as the SDK binds it)")
        }
        claims.fields["raTLS"] = "intel-sdk"
        claims.fields["keyBinding"] = "public key PEM"
        claims.fields["certificateKey"] = .string(kind)
        claims.fields["certificateKeyBound"] = true
        return claims
    }

    /// The SubjectPublicKeyInfo as OpenSSL's `PEM_write_bio_PUBKEY` writes it: base64 in lines of
    /// 64 characters, each line and the footer ended by a line feed.
    static func publicKeyPEM(_ subjectPublicKeyInfo: [UInt8]) -> String {
        let base64 = Array(Data(subjectPublicKeyInfo).base64EncodedString())
        var text = "-----BEGIN PUBLIC KEY-----\n"
        for start in stride(from: 0, to: base64.count, by: 64) {
            text += String(base64[start..<min(start + 64, base64.count)]) + "\n"
        }
        return text + "-----END PUBLIC KEY-----\n"
    }
}
