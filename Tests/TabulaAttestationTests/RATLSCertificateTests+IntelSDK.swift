import _CryptoExtras
import Crypto
import Foundation
import SwiftASN1
import Testing
import X509
@testable import TabulaAttestation

/// Certificates in the shape Intel's SGX SDK attested TLS writes them (linux-sgx `sdk/ttls`,
/// docs/attestation.md says where each fact comes from), with simulated or real evidence.
extension RATLSCertificateTests {
    /// How a test certificate binds (or fails to bind) its key.
    enum IntelBinding {
        /// Current SDKs: both extensions, the claims name `spki`, the report data SHA-256 of the claims.
        case claims(spki: [UInt8])
        /// Current SDKs, but the quote extension holds other evidence than the interoperable one.
        case differentQuotes(spki: [UInt8])
        /// Current SDKs, but the report data is the hash of other claims than the certificate carries.
        case unboundClaims(spki: [UInt8])
        /// Older SDKs: the quote alone, its report data SHA-256 of these bytes (PEM text and NUL).
        case pem([UInt8])
        /// Older SDKs: the quote alone, as given.
        case rawQuote([UInt8])
    }

    /// A certificate laid out as `tee_get_certificate_with_evidence` makes one: self-signed over
    /// SHA-256 whatever the key, serial 1, 2021-04-01 to 2050-12-31, the SDK's default subject,
    /// basic constraints, and the evidence extension(s), not critical.
    static func intelSDK(_ key: Certificate.PrivateKey, publicKey: Certificate.PublicKey, algorithm: Certificate.SignatureAlgorithm, binding: IntelBinding) async throws -> [UInt8] {
        let provider = SimulatedTEE.ephemeral()
        var extensions: [Certificate.Extension] = []
        let quoteOID: ASN1ObjectIdentifier = [1, 2, 840, 113_741, 1, 13, 1]
        let interoperableOID: ASN1ObjectIdentifier = [2, 23, 133, 5, 4, 9]
        switch binding {
        case .claims(let spki), .differentQuotes(let spki), .unboundClaims(let spki):
            let claims = IdentityCertificate.Claims(publicKeyHash: Array(SHA256.hash(data: spki)), nonce: nil).encoded
            var inReport = claims
            if case .unboundClaims = binding { inReport = [0xA0] }
            let quote = try await provider.evidence(reportData: Array(SHA256.hash(data: inReport)) + [UInt8](repeating: 0, count: 32))
            var legacyQuote = quote
            if case .differentQuotes = binding {
                legacyQuote = try await provider.evidence(reportData: [UInt8](repeating: 7, count: 64))
            }
            extensions.append(Certificate.Extension(oid: quoteOID, critical: false, value: legacyQuote[...]))
            extensions.append(
                Certificate.Extension(oid: interoperableOID, critical: false, value: IdentityCertificate.extensionValue(evidence: quote, claims: claims)[...]))
        case .pem(let bound):
            let quote = try await provider.evidence(reportData: Array(SHA256.hash(data: bound)) + [UInt8](repeating: 0, count: 32))
            extensions.append(Certificate.Extension(oid: quoteOID, critical: false, value: quote[...]))
        case .rawQuote(let quote):
            extensions.append(Certificate.Extension(oid: quoteOID, critical: false, value: quote[...]))
        }
        let name = try DistinguishedName {
            CommonName("Intel SGX Enclave")
            OrganizationName("Intel Corporation")
            CountryName("US")
        }
        let calendar = Calendar(identifier: .gregorian)
        let utc = TimeZone(identifier: "UTC")!
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(bytes: [1]), publicKey: publicKey,
            notValidBefore: DateComponents(calendar: calendar, timeZone: utc, year: 2021, month: 4, day: 1).date!,
            notValidAfter: DateComponents(calendar: calendar, timeZone: utc, year: 2050, month: 12, day: 31, hour: 23, minute: 59, second: 59).date!,
            issuer: name, subject: name, signatureAlgorithm: algorithm,
            extensions: try Certificate.Extensions([try Certificate.Extension(BasicConstraints.notCertificateAuthority, critical: false)] + extensions),
            issuerPrivateKey: key)
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        return serializer.serializedBytes
    }

    /// The SDK's keys: P-384 (its sample's EC option) and RSA-3072 (its sample's default), and a
    /// P-256 one, which must not be taken for Tabula's identity certificate. All signed over SHA-256,
    /// as the SDK signs (`X509_sign(…, EVP_sha256())`).
    static func intelKeys() throws -> [(Certificate.PrivateKey, Certificate.PublicKey, Certificate.SignatureAlgorithm, [UInt8], String)] {
        let p384 = P384.Signing.PrivateKey()
        let rsa = try _RSA.Signing.PrivateKey(keySize: .bits3072)
        let p256 = P256.Signing.PrivateKey()
        return [
            (Certificate.PrivateKey(p384), Certificate.PublicKey(p384.publicKey), .ecdsaWithSHA256, Array(p384.publicKey.derRepresentation), "P-384"),
            (Certificate.PrivateKey(rsa), Certificate.PublicKey(rsa.publicKey), .sha256WithRSAEncryption, Array(rsa.publicKey.derRepresentation), "RSA-3072"),
            (Certificate.PrivateKey(p256), Certificate.PublicKey(p256.publicKey), .ecdsaWithSHA256, Array(p256.publicKey.derRepresentation), "P-256"),
        ]
    }

    static func expectRefused(_ certificate: [UInt8], _ code: AttestationError.Code, _ what: String, containing text: String? = nil) async {
        do {
            _ = try await RATLSCertificate.verify(certificate, at: time)
            Issue.record("\(what): accepted")
        } catch let error as AttestationError {
            #expect(error.code == code, "\(what): \(error)")
            if let text { #expect(error.message.contains(text), "\(what): \(error)") }
        } catch {
            Issue.record("\(what): \(error)")
        }
    }

    @Test("Intel SGX SDK certificates (both extensions): P-384, RSA-3072 and P-256 keys bound through the claims verify; another key, other claims or two different quotes are refused")
    func intelSDKCurrent() async throws {
        let otherKey = Array(P384.Signing.PrivateKey().publicKey.derRepresentation)
        for (key, publicKey, algorithm, spki, kind) in try Self.intelKeys() {
            let good = try await Self.intelSDK(key, publicKey: publicKey, algorithm: algorithm, binding: .claims(spki: spki))
            let claims = try await RATLSCertificate.verify(good, at: Self.time)
            #expect(claims.fields["raTLS"] == "intel-sdk", "\(kind)")
            #expect(claims.fields["keyBinding"] == "pubkey-hash claims", "\(kind)")
            #expect(claims.fields["certificateKey"] == .string(kind))
            #expect(claims.fields["certificateKeyBound"] == true)
            #expect(claims.tee == "simulated")

            let forged = try await Self.intelSDK(key, publicKey: publicKey, algorithm: algorithm, binding: .claims(spki: otherKey))
            await Self.expectRefused(forged, .bindingMismatch, "\(kind) claims naming another key", containing: "pubkey-hash")
            let mixed = try await Self.intelSDK(key, publicKey: publicKey, algorithm: algorithm, binding: .differentQuotes(spki: spki))
            await Self.expectRefused(mixed, .bindingMismatch, "\(kind) two quotes", containing: "different quotes")
            let unbound = try await Self.intelSDK(key, publicKey: publicKey, algorithm: algorithm, binding: .unboundClaims(spki: spki))
            await Self.expectRefused(unbound, .bindingMismatch, "\(kind) report data over other claims", containing: "hash of the claims")
        }
    }

    @Test("older Intel SGX SDK certificates (the quote alone): the report data must begin with SHA-256 of the key's PEM text and its NUL byte, nothing else")
    func intelSDKLegacy() async throws {
        let otherKey = Array(P384.Signing.PrivateKey().publicKey.derRepresentation)
        for (key, publicKey, algorithm, spki, kind) in try Self.intelKeys() {
            let pem = Array(RATLSCertificate.publicKeyPEM(spki).utf8)
            let good = try await Self.intelSDK(key, publicKey: publicKey, algorithm: algorithm, binding: .pem(pem + [0]))
            let claims = try await RATLSCertificate.verify(good, at: Self.time)
            #expect(claims.fields["raTLS"] == "intel-sdk", "\(kind)")
            #expect(claims.fields["keyBinding"] == "public key PEM", "\(kind)")
            #expect(claims.fields["certificateKey"] == .string(kind))
            #expect(claims.fields["certificateKeyBound"] == true)

            // Near misses: another key's PEM, the PEM without its NUL, Gramine's binding (the DER).
            let refusals: [([UInt8], String)] = [
                (Array(RATLSCertificate.publicKeyPEM(otherKey).utf8) + [0], "another key"),
                (pem, "PEM without NUL"), (spki, "SubjectPublicKeyInfo DER"),
            ]
            for (bound, what) in refusals {
                let forged = try await Self.intelSDK(key, publicKey: publicKey, algorithm: algorithm, binding: .pem(bound))
                await Self.expectRefused(forged, .bindingMismatch, "\(kind) bound to \(what)", containing: "PEM")
            }
        }
    }

    @Test("OpenSSL's PEM layout of a public key: 64-character lines, each ended by a line feed")
    func intelSDKPublicKeyPEM() throws {
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048).publicKey
        let pem = RATLSCertificate.publicKeyPEM(Array(key.derRepresentation))
        #expect(pem == key.pemRepresentation + "\n")
        let lines = pem.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.first == "-----BEGIN PUBLIC KEY-----" && lines.dropLast().last == "-----END PUBLIC KEY-----" && lines.last == "")
        #expect(lines.dropFirst().dropLast(3).allSatisfy { $0.count == 64 })
    }

    @Test("an Intel SGX SDK certificate around a real SGX quote verifies the quote, then is refused: its report data is not the key's")
    func intelSDKRealQuote() async throws {
        let quote = try AttestationSamples.load("sgx/dcap-qvl-sgx-quote-v3.bin")
        #expect(try await Evidence.verify(quote, certificate: nil, at: Self.time).tee == "sgx")
        let p384 = P384.Signing.PrivateKey()
        let certificate = try await Self.intelSDK(
            Certificate.PrivateKey(p384), publicKey: Certificate.PublicKey(p384.publicKey), algorithm: .ecdsaWithSHA256, binding: .rawQuote(quote))
        await Self.expectRefused(certificate, .bindingMismatch, "real quote", containing: "P-384")
        // Not self-signed (another key signed it): refused before the quote is looked at.
        let other = P384.Signing.PrivateKey()
        let foreign = try await Self.intelSDK(
            Certificate.PrivateKey(other), publicKey: Certificate.PublicKey(p384.publicKey), algorithm: .ecdsaWithSHA256, binding: .rawQuote(quote))
        await Self.expectRefused(foreign, .badSignature, "signed by another key")
        // Intel's PCK certificates use the same OID for their SGX extension: the quote's own PCK
        // certificate is refused as not self-signed, not read as a quote.
        let text = String(decoding: quote, as: UTF8.self)
        let start = try #require(text.range(of: "-----BEGIN CERTIFICATE-----"))
        let end = try #require(text.range(of: "-----END CERTIFICATE-----", range: start.upperBound..<text.endIndex))
        let pck = Array(String(text[start.lowerBound..<end.upperBound]).utf8)
        #expect(try DERCertificate(der: DERCertificate.der(pck)).extensionValue(oid: RATLSCertificate.intelSDKQuoteOIDContent) != nil)
        await Self.expectRefused(pck, .badSignature, "PCK certificate", containing: "not self-signed")
        // Garbage where the quote should be: a clear refusal, no crash.
        let garbage = try await Self.intelSDK(
            Certificate.PrivateKey(p384), publicKey: Certificate.PublicKey(p384.publicKey), algorithm: .ecdsaWithSHA256, binding: .rawQuote([1, 2, 3]))
        do {
            _ = try await RATLSCertificate.verify(garbage, at: Self.time)
            Issue.record("garbage quote accepted")
        } catch {
            #expect(error is AttestationError, "\(error)")
        }
    }
}
