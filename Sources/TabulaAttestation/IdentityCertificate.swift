public import Crypto
public import Foundation
import SwiftASN1
import TabulaWire
import X509

/// The enclave's self-signed X.509 identity certificate, carrying hardware evidence that binds its key
/// (interoperable RA-TLS).
///
/// This is level 1 of nested attestation: a client that verifies it knows that the holder of the
/// identity key runs inside the attested TEE, so everything the key signs (the OHTTP key configuration,
/// function certificates, receipts) comes from that TEE. The format is the CCC "Interoperable RA-TLS"
/// one, so that other RA-TLS verifiers can read it:
///
/// - subject and issuer: CN "Tabula enclave identity", O "Tabula"; a random serial; ecdsaWithSHA256
///   by the P-256 identity key itself;
/// - a non-critical extension with OID 2.23.133.5.4.9 (TCG DICE conceptual message wrapper) whose value
///   is CBOR tag 60000 wrapping `[evidence, claims]` (two byte strings);
/// - the claims are a CBOR map (see `Claims`): `"pubkey-hash"` = bstr(CBOR `[1, SHA-256 of the DER
///   SubjectPublicKeyInfo]`), `"nonce"` = bstr when a nonce was given, and `"tabula-runtime"` (a
///   map: how tenant code runs, ``RuntimeClaims``) when the issuer states it;
/// - the evidence's report data is SHA-256 of the encoded claims followed by 32 zero bytes.
///
/// Certificates are written with swift-certificates and read with the strict DER walk of
/// `DERCertificate` (see there why). The tag 60000 is used for every kind of evidence (also SEV-SNP and
/// simulated, which some RA-TLS implementations tag differently); the verifier recognises the kind
/// from the evidence bytes.
public enum IdentityCertificate {
    /// A freshly issued certificate.
    public struct Issued: Sendable {
        public let der: [UInt8]
        public let pem: String
        /// The evidence inside it, also on its own (the attestation bundle carries it).
        public let evidence: [UInt8]
    }

    /// What a verified identity certificate establishes.
    public struct Verified: Sendable {
        /// The verified evidence's claims (to appraise with an `AppraisalPolicy`).
        public let claims: Evidence.Claims
        /// The identity key the evidence binds.
        public let publicKey: P256.Signing.PublicKey
        /// The nonce bound with the key, if the certificate has one.
        public let nonce: [UInt8]?
        /// The certificate, DER.
        public let der: [UInt8]
    }

    /// TCG DICE conceptual message wrapper (`tcg-dice-conceptual-message-wrapper`).
    static let extensionOID: ASN1ObjectIdentifier = [2, 23, 133, 5, 4, 9]
    /// The same OID as DER content bytes.
    static let extensionOIDContent: [UInt8] = [0x67, 0x81, 0x05, 0x05, 0x04, 0x09]
    /// The CBOR tag of the evidence in the extension.
    static let evidenceTag: UInt64 = 60000

    /// The subject (and issuer) name; function certificates name it as their issuer.
    static func subject() throws -> DistinguishedName {
        try DistinguishedName {
            CommonName("Tabula enclave identity")
            OrganizationName("Tabula")
        }
    }

    /// Issues the certificate: fresh evidence from `provider` binding the key (and nonce).
    ///
    /// The claims name SHA-256 of the identity key's DER SubjectPublicKeyInfo, the nonce, and how
    /// the enclave runs tenant code (`runtime`, the custom claim `"tabula-runtime"`); the provider
    /// is asked for evidence over SHA-256(claims) ‖ 32 zero bytes, and the evidence and claims go
    /// into the RA-TLS extension of a certificate self-signed by `identityKey`.
    public static func issue(
        identityKey: P256.Signing.PrivateKey, provider: any TEEProvider, nonce: [UInt8]?, runtime: RuntimeClaims? = nil,
        notValidBefore: Date, notValidAfter: Date
    ) async throws -> Issued {
        guard notValidBefore <= notValidAfter else {
            throw AttestationError(.malformed, "identity certificate: notValidAfter is before notValidBefore")
        }
        let publicKey = identityKey.publicKey
        let claims = Claims(publicKeyHash: Array(SHA256.hash(data: publicKey.derRepresentation)), nonce: nonce, runtime: runtime).encoded
        let reportData = Claims.reportData(binding: claims)
        let evidence = try await provider.evidence(reportData: reportData)
        guard try Evidence.unverifiedReportData(evidence) == reportData else {
            throw AttestationError(.bindingMismatch, "the \(provider.tee) TEE provider returned evidence over other report data")
        }
        let der = try make(
            identityKey: identityKey, claims: claims, evidence: evidence, notValidBefore: notValidBefore,
            notValidAfter: notValidAfter)
        return Issued(der: der, pem: PEMDocument(type: "CERTIFICATE", derBytes: der).pemString, evidence: evidence)
    }

    /// The certificate self-signed by `identityKey` whose extension holds `evidence` and `claims` as given
    /// (tests use it to build certificates whose parts do not match), DER.
    static func make(
        identityKey: P256.Signing.PrivateKey, claims: [UInt8], evidence: [UInt8], notValidBefore: Date, notValidAfter: Date
    ) throws(AttestationError) -> [UInt8] {
        do {
            let name = try subject()
            let extensions = try Certificate.Extensions([
                Certificate.Extension(oid: extensionOID, critical: false, value: extensionValue(evidence: evidence, claims: claims)[...])
            ])
            let certificate = try Certificate(
                version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: Certificate.PublicKey(identityKey.publicKey),
                notValidBefore: notValidBefore, notValidAfter: notValidAfter, issuer: name, subject: name,
                signatureAlgorithm: .ecdsaWithSHA256, extensions: extensions,
                issuerPrivateKey: Certificate.PrivateKey(identityKey))
            var serializer = DER.Serializer()
            try serializer.serialize(certificate)
            return serializer.serializedBytes
        } catch {
            throw AttestationError(.unsupported, "identity certificate: cannot build the certificate (\(error))")
        }
    }

    /// Verifies an identity certificate (PEM or DER) at `time` and returns what it establishes.
    ///
    /// Checks, in order: PEM or DER parses; the self-signature; the validity period at `time`; the RA-TLS
    /// extension decodes; report data == SHA-256(claims) ‖ 32 zeros; the claims' key hash == SHA-256 of
    /// the certificate's SPKI; the evidence verifies (Evidence.verify, `evidenceCertificate` is the
    /// VCEK/VLEK for SNP); when `nonce` is given it must equal the claims' nonce. Each failure throws
    /// AttestationError with a message naming the failed check (.bindingMismatch for binding failures).
    ///
    /// An unknown critical extension fails the extension step (`.unsupported`), as X.509 requires.
    /// The evidence's claims are not appraised here: pass `Verified.claims` to an `AppraisalPolicy`
    /// (which, by default, refuses simulated evidence).
    public static func verify(
        _ certificate: [UInt8], nonce: [UInt8]?, evidenceCertificate: [UInt8]? = nil, at time: Date
    ) async throws -> Verified {
        let der = try DERCertificate.der(certificate)
        let parsed = try DERCertificate(der: der)
        let publicKey = try Self.verifySelfSignature(parsed)

        guard parsed.notBefore <= time, time <= parsed.notAfter else {
            throw AttestationError(
                .untrustedChain, "identity certificate: not valid at \(time) (valid from \(parsed.notBefore) to \(parsed.notAfter))")
        }

        if let unknown = parsed.extensions.first(where: { $0.critical && $0.oid != extensionOIDContent }) {
            let oid = FunctionCertificate.dottedObjectIdentifier(unknown.oid) ?? unknown.oid.hex
            throw AttestationError(.unsupported, "identity certificate: unknown critical extension \(oid)")
        }
        guard let value = parsed.extensionValue(oid: extensionOIDContent) else {
            throw AttestationError(.malformed, "identity certificate: no RA-TLS evidence extension (OID 2.23.133.5.4.9)")
        }
        let (evidence, encodedClaims) = try parseExtensionValue(value)
        let claims = try Claims(decoding: encodedClaims)

        let reportData: [UInt8]
        do {
            reportData = try Evidence.unverifiedReportData(evidence)
        } catch let error as AttestationError {
            throw AttestationError(error.code, "identity certificate evidence: \(error.message)")
        }
        guard reportData == Claims.reportData(binding: encodedClaims) else {
            throw AttestationError(
                .bindingMismatch, "identity certificate: the evidence's report data is not SHA-256(claims) followed by 32 zero bytes")
        }

        guard claims.publicKeyHash == Array(SHA256.hash(data: parsed.subjectPublicKeyInfo)) else {
            throw AttestationError(
                .bindingMismatch, "identity certificate: the claims' \"pubkey-hash\" is not SHA-256 of the certificate's public key")
        }

        var evidenceClaims = try await Evidence.verify(evidence, certificate: evidenceCertificate, at: time)
        guard evidenceClaims.reportData == reportData else {
            throw AttestationError(.bindingMismatch, "identity certificate: the verified report data differs from the parsed one")
        }

        if let nonce {
            guard let bound = claims.nonce else {
                throw AttestationError(.bindingMismatch, "identity certificate: a nonce was expected, the claims have none")
            }
            guard bound == nonce else {
                throw AttestationError(.bindingMismatch, "identity certificate: the claims' nonce is not the expected nonce")
            }
        }
        // Bound by the report data checked above, so it is as authentic as the evidence.
        evidenceClaims.runtime = claims.runtime
        return Verified(claims: evidenceClaims, publicKey: publicKey, nonce: claims.nonce, der: der)
    }

    /// The P-256 key of a self-signed certificate whose signature verifies.
    private static func verifySelfSignature(_ certificate: DERCertificate) throws(AttestationError) -> P256.Signing.PublicKey {
        guard certificate.signatureAlgorithm == DERCertificate.ecdsaWithSHA256 else {
            throw AttestationError(.unsupported, "identity certificate: the signature algorithm is not ecdsa-with-SHA256 (without parameters)")
        }
        let key: P256.Signing.PublicKey
        do {
            key = try P256.Signing.PublicKey(derRepresentation: certificate.subjectPublicKeyInfo)
        } catch {
            throw AttestationError(.unsupported, "identity certificate: the key is not P-256")
        }
        guard certificate.issuer == certificate.subject else {
            throw AttestationError(.badSignature, "identity certificate: not self-signed (the issuer is not the subject)")
        }
        let signature: P256.Signing.ECDSASignature
        do {
            signature = try P256.Signing.ECDSASignature(derRepresentation: certificate.signature)
        } catch {
            throw AttestationError(.badSignature, "identity certificate: the signature is not a DER ECDSA signature")
        }
        guard key.isValidSignature(signature, for: certificate.tbs) else {
            throw AttestationError(.badSignature, "identity certificate: the self-signature does not verify")
        }
        return key
    }
}
