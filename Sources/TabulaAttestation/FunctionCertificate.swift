public import Crypto
public import Foundation
import SwiftASN1
import TabulaWire
import X509

/// A certificate per deployed function, issued by the enclave's identity key (level 2 of nested attestation).
///
/// A client that verified the identity certificate checks this one with the identity key and learns
/// the function's claims (namespace, name, version, module, policy and snapshot digests, limits, key
/// epoch). The certificate:
///
/// - issuer: the identity certificate's subject (CN "Tabula enclave identity", O "Tabula"); subject
///   CN "Tabula function", O "Tabula"; a random serial; ecdsa-with-SHA256 by the identity key;
/// - subject public key: the identity key itself, since the certificate states facts about what the
///   identity key serves and delegates no key;
/// - the claims: a non-critical extension whose value is the canonical JSON of ``FunctionClaims``
///   (compact, keys sorted, as `JSONValue.encode` writes it), under the OID 2.25.<UUID
///   6f1c7a52-3d1e-4f8b-9c65-2b7e0d4a91c3 as an integer> (ITU-T X.667 UUID arc: no registration).
///
/// swift-certificates cannot hold that OID (an arc wider than 64 bits), so these certificates are written
/// and read by `DERCertificate`; OpenSSL and other X.509 libraries read them as usual.
public enum FunctionCertificate {
    /// Issues the certificate for `claims`, signed by `identityKey`; returns it as PEM.
    public static func issue(
        _ claims: FunctionClaims, identityKey: P256.Signing.PrivateKey, notValidBefore: Date, notValidAfter: Date
    ) throws -> String {
        guard notValidBefore <= notValidAfter else {
            throw AttestationError(.malformed, "function certificate: notValidAfter is before notValidBefore")
        }
        let der: [UInt8]
        do {
            der = try DERCertificate.signed(
                issuer: issuerName(), subject: subjectName(), subjectPublicKeyInfo: Array(identityKey.publicKey.derRepresentation),
                notBefore: notValidBefore, notAfter: notValidAfter,
                extensions: [DERCertificate.Extension(oid: claimsOID, critical: false, value: Array(JSONValue.encode(claims)))],
                issuerKey: identityKey)
        } catch let error as AttestationError {
            throw error
        } catch {
            throw AttestationError(.unsupported, "function certificate: cannot build the certificate (\(error))")
        }
        return PEMDocument(type: "CERTIFICATE", derBytes: der).pemString
    }

    /// Checks the signature by `identityKey`, validity at `time`, the extension; returns the claims.
    ///
    /// `pem` may also be DER. In order: the certificate parses (ecdsa-with-SHA256, no unknown critical
    /// extension); its signature verifies with `identityKey` (`.badSignature`); its issuer is the identity
    /// certificate's subject and its key the identity key (`.bindingMismatch`); `time` is within its
    /// validity (`.untrustedChain`); the claims extension is present and holds canonical JSON of
    /// ``FunctionClaims`` (`.malformed`).
    public static func verify(_ pem: [UInt8], identityKey: P256.Signing.PublicKey, at time: Date) throws -> FunctionClaims {
        let certificate = try DERCertificate(der: DERCertificate.der(pem))
        guard certificate.signatureAlgorithm == DERCertificate.ecdsaWithSHA256 else {
            throw AttestationError(.unsupported, "function certificate: the signature algorithm is not ecdsa-with-SHA256 (without parameters)")
        }
        let signature: P256.Signing.ECDSASignature
        do {
            signature = try P256.Signing.ECDSASignature(derRepresentation: certificate.signature)
        } catch {
            throw AttestationError(.badSignature, "function certificate: the signature is not a DER ECDSA signature")
        }
        guard identityKey.isValidSignature(signature, for: certificate.tbs) else {
            throw AttestationError(.badSignature, "function certificate: the signature by the identity key does not verify")
        }
        guard try certificate.issuer == issuerName() else {
            throw AttestationError(.bindingMismatch, "function certificate: the issuer is not the enclave identity")
        }
        guard certificate.subjectPublicKeyInfo == Array(identityKey.derRepresentation) else {
            throw AttestationError(.bindingMismatch, "function certificate: the key is not the identity key")
        }
        guard certificate.notBefore <= time, time <= certificate.notAfter else {
            throw AttestationError(
                .untrustedChain,
                "function certificate: not valid at \(time) (valid from \(certificate.notBefore) to \(certificate.notAfter))")
        }
        if let unknown = certificate.extensions.first(where: { $0.critical && $0.oid != claimsOID }) {
            let oid = dottedObjectIdentifier(unknown.oid) ?? unknown.oid.hex
            throw AttestationError(.unsupported, "function certificate: unknown critical extension \(oid)")
        }
        guard let json = certificate.extensionValue(oid: claimsOID) else {
            throw AttestationError(.malformed, "function certificate: no function claims extension")
        }
        let claims: FunctionClaims
        do {
            claims = try JSONDecoder().decode(FunctionClaims.self, from: Data(json))
        } catch {
            throw AttestationError(.malformed, "function certificate: the claims are not a function claims JSON object (\(error))")
        }
        guard Array(JSONValue.encode(claims)) == json else {
            throw AttestationError(.malformed, "function certificate: the claims JSON is not canonical (compact, keys sorted, no other keys)")
        }
        return claims
    }

    /// The issuer: the identity certificate's subject, DER.
    static func issuerName() throws -> [UInt8] {
        try serialized(IdentityCertificate.subject())
    }

    /// The subject, DER.
    static func subjectName() throws -> [UInt8] {
        try serialized(
            DistinguishedName {
                CommonName("Tabula function")
                OrganizationName("Tabula")
            })
    }

    private static func serialized(_ name: DistinguishedName) throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.serialize(name)
        return serializer.serializedBytes
    }
}
