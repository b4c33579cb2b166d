import _CryptoExtras
import Crypto
import Foundation

extension RATLSCertificate {
    /// Checks the self-signature of another framework's RA-TLS certificate with its own key, whatever
    /// its kind: ECDSA P-256, P-384 or P-521, or RSA (PKCS #1 v1.5, 2048 bits or more), over SHA-256,
    /// SHA-384 or SHA-512 as the signature algorithm says. Returns the key kind, for the claims.
    static func verifyAnySelfSignature(_ certificate: DERCertificate) throws(AttestationError) -> String {
        guard certificate.issuer == certificate.subject else {
            throw AttestationError(.badSignature, "RA-TLS certificate: not self-signed (the issuer is not the subject)")
        }
        let algorithm = certificate.signatureAlgorithm
        let digest: any Digest
        switch algorithm {
        case DERCertificate.ecdsaWithSHA256, DERCertificate.ecdsaWithSHA256NullParameters, DERCertificate.rsaWithSHA256:
            digest = SHA256.hash(data: certificate.tbs)
        case DERCertificate.ecdsaWithSHA384, DERCertificate.rsaWithSHA384:
            digest = SHA384.hash(data: certificate.tbs)
        default:
            digest = SHA512.hash(data: certificate.tbs)
        }
        let rsa = [DERCertificate.rsaWithSHA256, DERCertificate.rsaWithSHA384, DERCertificate.rsaWithSHA512].contains(algorithm)
        let spki = certificate.subjectPublicKeyInfo
        let kind: String
        let valid: Bool
        if rsa {
            guard let key = try? _RSA.Signing.PublicKey(derRepresentation: spki) else {
                throw AttestationError(.unsupported, "RA-TLS certificate: signed with RSA, but the key is not an RSA key of 2048 bits or more")
            }
            kind = "RSA-\(key.keySizeInBits)"
            valid = key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: certificate.signature), for: digest, padding: .insecurePKCS1v1_5)
        } else if let key = try? P256.Signing.PublicKey(derRepresentation: spki) {
            kind = "P-256"
            valid = (try? P256.Signing.ECDSASignature(derRepresentation: certificate.signature)).map { key.isValidSignature($0, for: digest) } ?? false
        } else if let key = try? P384.Signing.PublicKey(derRepresentation: spki) {
            kind = "P-384"
            valid = (try? P384.Signing.ECDSASignature(derRepresentation: certificate.signature)).map { key.isValidSignature($0, for: digest) } ?? false
        } else if let key = try? P521.Signing.PublicKey(derRepresentation: spki) {
            kind = "P-521"
            valid = (try? P521.Signing.ECDSASignature(derRepresentation: certificate.signature)).map { key.isValidSignature($0, for: digest) } ?? false
        } else {
            throw AttestationError(.unsupported, "RA-TLS certificate: the key is not ECDSA P-256, P-384 or P-521, nor RSA")
        }
        guard valid else {
            throw AttestationError(.badSignature, "RA-TLS certificate: the self-signature does not verify with its \(kind) key")
        }
        return kind
    }

    /// The interoperable extension of a certificate that is not Tabula's own (its key is not P-256,
    /// or another framework made it), checked as the interoperable RA-TLS specification binds it:
    /// the claims' `"pubkey-hash"` is `[alg, H(SubjectPublicKeyInfo DER)]` with alg 1, 7 or 8
    /// (SHA-256, SHA-384, SHA-512 in the IANA Named Information registry), and the evidence's report
    /// data begins with the same hash of the encoded claims.
    static func verifyInteroperable(_ parsed: DERCertificate, value: [UInt8], evidenceCertificate: [UInt8]?, at time: Date) async throws -> Evidence.Claims {
        let kind = try verifyAnySelfSignature(parsed)
        guard parsed.notBefore <= time, time <= parsed.notAfter else {
            throw AttestationError(.untrustedChain, "RA-TLS certificate: not valid at \(time) (valid from \(parsed.notBefore) to \(parsed.notAfter))")
        }
        let (evidence, encodedClaims) = try IdentityCertificate.parseExtensionValue(value)
        func bad(_ what: String) -> AttestationError { AttestationError(.malformed, "RA-TLS certificate: claims: \(what)") }
        let claims: CBOR
        do {
            claims = try CBOR(decoding: encodedClaims)
        } catch {
            throw bad(error.message)
        }
        guard case .bytes(let hashBytes)? = claims[IdentityCertificate.Claims.publicKeyHashKey] else { throw bad("no \"pubkey-hash\" byte string") }
        let pair: CBOR
        do {
            pair = try CBOR(decoding: hashBytes)
        } catch {
            throw bad("\"pubkey-hash\": \(error.message)")
        }
        guard case .array(let items) = pair, items.count == 2, case .unsigned(let algorithm) = items[0], case .bytes(let hash) = items[1] else {
            throw bad("\"pubkey-hash\" is not [hash-alg-id, hash]")
        }
        let hashOf: ([UInt8]) -> [UInt8]
        switch algorithm {
        case 1: hashOf = { Array(SHA256.hash(data: $0)) }
        case 7: hashOf = { Array(SHA384.hash(data: $0)) }
        case 8: hashOf = { Array(SHA512.hash(data: $0)) }
        default:
            throw AttestationError(.unsupported, "RA-TLS certificate: \"pubkey-hash\" uses hash algorithm \(algorithm); SHA-256 (1), SHA-384 (7) and SHA-512 (8) are supported")
        }
        guard hash == hashOf(parsed.subjectPublicKeyInfo) else {
            throw AttestationError(.bindingMismatch, "RA-TLS certificate: the claims' \"pubkey-hash\" is not the hash of the certificate's \(kind) public key")
        }
        var verified = try await Evidence.verify(evidence, certificate: evidenceCertificate, at: time)
        let bound = hashOf(encodedClaims)
        guard Array(verified.reportData.prefix(bound.count)) == bound else {
            throw AttestationError(.bindingMismatch, "RA-TLS certificate: the evidence's report data does not begin with the hash of the claims")
        }
        verified.fields["raTLS"] = "interoperable"
        verified.fields["certificateKey"] = .string(kind)
        verified.fields["certificateKeyBound"] = true
        return verified
    }
}
