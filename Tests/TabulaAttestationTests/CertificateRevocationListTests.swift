import Crypto
import Foundation
import SwiftASN1
import Testing
import X509
@testable import TabulaAttestation

/// CRLs: Intel's real ones parse and verify; revocation is proven on a small PKI made here (root, CA,
/// leaf, and CRLs signed by them), because no revoked certificate of Intel's own chain is at hand.
@Suite("Certificate revocation lists")
struct CertificateRevocationListTests {
    static let july2025 = AttestationSamples.date("2025-07-01T00:00:00Z")

    /// A root, an intermediate CA and a leaf, each with its key.
    struct PKI {
        let rootKey = P256.Signing.PrivateKey()
        let caKey = P256.Signing.PrivateKey()
        let leafKey = P256.Signing.PrivateKey()
        let root: Certificate
        let ca: Certificate
        let leaf: Certificate

        init() throws {
            let notBefore = AttestationSamples.date("2024-01-01T00:00:00Z")
            let notAfter = AttestationSamples.date("2030-01-01T00:00:00Z")
            func name(_ text: String) throws -> DistinguishedName { try DistinguishedName { CommonName(text) } }
            func make(_ subject: String, _ key: P256.Signing.PrivateKey, issuer: String, _ issuerKey: P256.Signing.PrivateKey, ca: Bool, serial: UInt8) throws -> Certificate {
                try Certificate(
                    version: .v3, serialNumber: .init(bytes: [0x01, serial]), publicKey: .init(key.publicKey),
                    notValidBefore: notBefore, notValidAfter: notAfter, issuer: try name(issuer), subject: try name(subject),
                    signatureAlgorithm: .ecdsaWithSHA256,
                    extensions: try Certificate.Extensions {
                        if ca {
                            Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                            Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                        } else {
                            Critical(KeyUsage(digitalSignature: true))
                        }
                    },
                    issuerPrivateKey: .init(issuerKey))
            }
            root = try make("Test Root", rootKey, issuer: "Test Root", rootKey, ca: true, serial: 1)
            ca = try make("Test CA", caKey, issuer: "Test Root", rootKey, ca: true, serial: 2)
            leaf = try make("Test Leaf", leafKey, issuer: "Test CA", caKey, ca: false, serial: 3)
        }

        /// A CRL of `issuer`, signed by `key`, revoking `serials`.
        func crl(
            issuer: Certificate, key: P256.Signing.PrivateKey, revoking serials: [Certificate.SerialNumber],
            thisUpdate: String = "2025-06-01T00:00:00Z", nextUpdate: String = "2025-08-01T00:00:00Z"
        ) throws -> [UInt8] {
            func time(_ text: String) throws -> UTCTime {
                let date = AttestationSamples.date(text)
                let parts = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(secondsFromGMT: 0)!, from: date)
                return try UTCTime(year: parts.year!, month: parts.month!, day: parts.day!, hours: parts.hour!, minutes: parts.minute!, seconds: parts.second!)
            }
            let algorithm: ASN1ObjectIdentifier = [1, 2, 840, 10045, 4, 3, 2]
            var tbs = DER.Serializer()
            try tbs.appendConstructedNode(identifier: .sequence) { list in
                try list.serialize(1)
                try list.appendConstructedNode(identifier: .sequence) { try $0.serialize(algorithm) }
                try list.serialize(issuer.subject)
                try list.serialize(try time(thisUpdate))
                try list.serialize(try time(nextUpdate))
                if !serials.isEmpty {
                    try list.appendConstructedNode(identifier: .sequence) { entries in
                        for serial in serials {
                            try entries.appendConstructedNode(identifier: .sequence) { entry in
                                entry.appendPrimitiveNode(identifier: .integer) { $0.append(contentsOf: serial.bytes) }
                                try entry.serialize(try time(thisUpdate))
                            }
                        }
                    }
                }
            }
            let tbsBytes = tbs.serializedBytes
            let signature = Array(try key.signature(for: tbsBytes).derRepresentation)
            var outer = DER.Serializer()
            try outer.appendConstructedNode(identifier: .sequence) { crl in
                crl.serializeRawBytes(tbsBytes)
                try crl.appendConstructedNode(identifier: .sequence) { try $0.serialize(algorithm) }
                try crl.serialize(ASN1BitString(bytes: ArraySlice(signature)))
            }
            return outer.serializedBytes
        }

        func validate(crls: [[UInt8]], at time: Date = CertificateRevocationListTests.july2025) async throws -> [String] {
            let lists = try crls.map { try CertificateRevocationList(der: $0) }
            return try await IntelChain.validate(leaf, intermediates: [ca], crls: lists, at: time, what: "test chain", anchor: root).crlIssuers
        }
    }

    @Test("a CRL that revokes nothing on the path lets the chain verify, and says it was applied")
    func notRevoked() async throws {
        let pki = try PKI()
        let other = Certificate.SerialNumber(bytes: [0x7F, 0x7F])
        let applied = try await pki.validate(crls: [
            try pki.crl(issuer: pki.ca, key: pki.caKey, revoking: [other]),
            try pki.crl(issuer: pki.root, key: pki.rootKey, revoking: []),
        ])
        #expect(applied == ["Test CA", "Test Root"])
    }

    @Test("a revoked leaf fails")
    func revokedLeaf() async throws {
        let pki = try PKI()
        let error = await #expect(throws: AttestationError.self) {
            _ = try await pki.validate(crls: [try pki.crl(issuer: pki.ca, key: pki.caKey, revoking: [pki.leaf.serialNumber])])
        }
        #expect(error?.code == .untrustedChain)
        #expect(error?.message.contains("Test Leaf") == true)
        #expect(error?.message.contains("revoked") == true)
    }

    @Test("a revoked intermediate fails")
    func revokedIntermediate() async throws {
        let pki = try PKI()
        let error = await #expect(throws: AttestationError.self) {
            _ = try await pki.validate(crls: [try pki.crl(issuer: pki.root, key: pki.rootKey, revoking: [pki.ca.serialNumber])])
        }
        #expect(error?.message.contains("Test CA") == true)
        #expect(error?.message.contains("revoked") == true)
    }

    @Test("a CRL not signed by its issuer, or out of date, fails")
    func badCRLs() async throws {
        let pki = try PKI()
        let forged = try pki.crl(issuer: pki.ca, key: pki.rootKey, revoking: [])
        let error = await #expect(throws: AttestationError.self) { _ = try await pki.validate(crls: [forged]) }
        #expect(error?.code == .badSignature)
        let stale = try pki.crl(issuer: pki.ca, key: pki.caKey, revoking: [], thisUpdate: "2025-01-01T00:00:00Z", nextUpdate: "2025-02-01T00:00:00Z")
        let expired = await #expect(throws: AttestationError.self) { _ = try await pki.validate(crls: [stale]) }
        #expect(expired?.message.contains("expired") == true)
        let future = try pki.crl(issuer: pki.ca, key: pki.caKey, revoking: [], thisUpdate: "2025-08-01T00:00:00Z", nextUpdate: "2025-09-01T00:00:00Z")
        await #expect(throws: AttestationError.self) { _ = try await pki.validate(crls: [future]) }
    }

    @Test("a CRL of an issuer not on the path does not apply")
    func unrelatedCRL() async throws {
        let pki = try PKI()
        let elsewhere = try PKI()
        let unrelated = try elsewhere.crl(issuer: elsewhere.leaf, key: elsewhere.leafKey, revoking: [pki.leaf.serialNumber])
        #expect(try await pki.validate(crls: [unrelated]).isEmpty)
    }

    @Test("Intel's CRLs parse, verify with their issuers, and list what they revoke")
    func intelCRLs() throws {
        let bundle = try JSONSerialization.jsonObject(with: Data(try AttestationSamples.load("tdx/dcap-qvl-tdx-quote-v4.collateral.json"))) as! [String: String]
        let pckCRL = try CertificateRevocationList(der: [UInt8](hex: bundle["pck_crl"]!)!)
        #expect(pckCRL.issuerName == "Intel SGX PCK Platform CA")
        #expect(pckCRL.revokedSerials.contains([UInt8](hex: "6fc34e5023e728923435d61aa4b83c618166ad35")!))
        #expect(pckCRL.revokedSerials.contains([UInt8](hex: "efae6e9715fca13b87e333e8261ed6d990a926ad")!))
        let platformCA = try Certificate(pemEncoded: bundle["pck_crl_issuer_chain"]!.components(separatedBy: "-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----")
        try pckCRL.verify(issuer: platformCA, at: Self.july2025)
        #expect(throws: AttestationError.self) { try pckCRL.verify(issuer: platformCA, at: AttestationSamples.now) }

        let rootCRL = try CertificateRevocationList(der: [UInt8](hex: bundle["root_ca_crl"]!)!)
        #expect(rootCRL.issuerName == "Intel SGX Root CA")
        #expect(rootCRL.revokedSerials.isEmpty)
        try rootCRL.verify(issuer: try Certificate(pemEncoded: IntelRootCA.pem), at: Self.july2025)
        #expect(throws: AttestationError.self) { try rootCRL.verify(issuer: platformCA, at: Self.july2025) }

        // go-tdx-guest's copies: DER files.
        let oldPCK = try CertificateRevocationList(der: try AttestationSamples.load("tdx/pckcrl"))
        #expect(oldPCK.issuerName == "Intel SGX PCK Platform CA")
        let oldRoot = try CertificateRevocationList(der: try AttestationSamples.load("tdx/rootcrl.der"))
        try oldRoot.verify(issuer: try Certificate(pemEncoded: IntelRootCA.pem), at: AttestationSamples.date("2023-07-01T00:00:00Z"))
    }

    @Test("truncated or garbage CRLs throw instead of crashing")
    func malformed() throws {
        let der = try AttestationSamples.load("tdx/rootcrl.der")
        for length in stride(from: 0, to: der.count, by: 7) {
            #expect(throws: AttestationError.self) { _ = try CertificateRevocationList(der: Array(der.prefix(length))) }
        }
        #expect(throws: AttestationError.self) { _ = try CertificateRevocationList(der: der + [0]) }
        var generator = SplitMix64(seed: 0xC71)
        for _ in 0..<200 {
            var mutated = der
            mutated[Int(generator.next() % UInt64(der.count))] = UInt8(truncatingIfNeeded: generator.next())
            _ = try? CertificateRevocationList(der: mutated)
        }
    }
}
