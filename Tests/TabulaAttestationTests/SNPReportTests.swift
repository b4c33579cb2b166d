import Foundation
import TabulaTestSupport
import Testing
@testable import TabulaAttestation

/// Real SEV-SNP evidence from Tests/Fixtures/attestation/snp (see Tests/Fixtures/README.md).
private enum SNPSamples {
    static let directory = Fixtures.url("attestation/snp")

    static func load(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: directory.appendingPathComponent(name)))
    }

    /// Certificates expire: verify at a fixed time.
    static let now = Date(timeIntervalSince1970: 1_780_272_000)  // 2026-06-01T00:00:00Z
}

@Suite("AMD SEV-SNP reports")
struct SNPReportTests {
    @Test("the go-sev-guest Milan report verifies with its VCEK")
    func goSevGuestReport() throws {
        let report = try SNPReport(bytes: SNPSamples.load("go-sev-guest-milan-report.bin"))
        let claims = try report.verify(vcek: SNPSamples.load("go-sev-guest-milan-vcek.der"), at: SNPSamples.now)
        #expect(claims.version == 2)
        #expect(claims.product == .milan)
        #expect(claims.signingKey == .vcek)
        #expect(claims.policy == 0xB0000)
        #expect(claims.debug == true)
        #expect(claims.vmpl == 0)
        #expect(claims.reportedTCB == 0x4405_0000_0000_0002)
        #expect(Array(claims.reportData.prefix(5)) == [1, 2, 3, 4, 5])
        #expect(claims.measurement.count == 48)
        #expect(claims.measurement.prefix(4) == [0xB0, 0x7A, 0xF9, 0x62])
        #expect(claims.hostData == [UInt8](repeating: 0, count: 32))
        #expect(claims.chipID.prefix(4) == [0x3A, 0xC3, 0xFE, 0x21])
        #expect(report.currentMajor == 1 && report.currentMinor == 0x31 && report.currentBuild == 3)
    }

    @Test("the trustee Milan report verifies with its VCEK")
    func trusteeReport() throws {
        let report = try SNPReport(bytes: SNPSamples.load("trustee-milan-report.bin"))
        let claims = try report.verify(vcek: SNPSamples.load("trustee-milan-vcek.der"), at: SNPSamples.now)
        #expect(claims.product == .milan)
        #expect(claims.guestSVN == 4)
        #expect(claims.policy == 0x3001F)
        #expect(claims.debug == false)
        #expect(claims.reportedTCB == 0x7308_0000_0000_0003)
        #expect(claims.reportData.prefix(4) == [0xEC, 0x6C, 0x52, 0xD7])
        #expect(claims.reportData.suffix(32) == ArraySlice(repeating: 0, count: 32))
        #expect(claims.measurement.prefix(4) == [0xA1, 0xF3, 0x93, 0x04])
    }

    @Test("every built-in ASK, ARK and ASVK verifies", arguments: SNPProduct.allCases)
    func builtInChains(product: SNPProduct) throws {
        try product.verifyBuiltInCertificates(at: SNPSamples.now)
        let chain = try product.builtInChain()
        #expect(chain.ark.commonName == "ARK-\(product.rawValue)")
        #expect(chain.ask.commonName == "SEV-\(product.rawValue)")
        #expect(chain.asvk.commonName == "SEV-VLEK-\(product.rawValue)")
    }

    @Test("the built-in chains match the go-sev-guest copies byte for byte")
    func builtInMatchesSamples() throws {
        let files: [SNPProduct: String] = [.milan: "ask_ark_milan.pem", .genoa: "ask_ark_genoa.pem", .turin: "ask_ark_turin_vcek.pem"]
        for (product, file) in files {
            let pem = String(decoding: try SNPSamples.load(file), as: UTF8.self)
            let blocks = pem.components(separatedBy: "-----END CERTIFICATE-----").dropLast()
                .map { ($0 + "-----END CERTIFICATE-----").trimmingCharacters(in: .whitespacesAndNewlines) }
            #expect(blocks.count == 2)
            let ask = try RSAPSSCertificate(pem: blocks[0])
            let ark = try RSAPSSCertificate(pem: blocks[1])
            let chain = try product.builtInChain()
            #expect(ask.der == chain.ask.der)
            #expect(ark.der == chain.ark.der)
        }
    }

    @Test("a certificate used outside its validity is rejected")
    func expired() throws {
        let report = try SNPReport(bytes: SNPSamples.load("go-sev-guest-milan-report.bin"))
        let vcek = try SNPSamples.load("go-sev-guest-milan-vcek.der")
        // The VCEK expires in September 2029, the ARK in 2045.
        let error = try #require(throws: AttestationError.self) {
            try report.verify(vcek: vcek, at: Date(timeIntervalSince1970: 1_900_000_000))
        }
        #expect(error.code == .untrustedChain)
        #expect(throws: AttestationError.self) {
            try report.verify(vcek: vcek, at: Date(timeIntervalSince1970: 1_000_000_000))
        }
    }

    @Test("flipping any signed byte makes verification fail")
    func signedBytesMutation() throws {
        let bytes = try SNPSamples.load("go-sev-guest-milan-report.bin")
        let vcek = try SNPSamples.load("go-sev-guest-milan-vcek.der")
        let positions = stride(from: 0, to: 0x2A0, by: 0x2A0 / 64).map { $0 } + [0x29F]
        #expect(positions.count >= 64)
        for position in positions {
            var mutated = bytes
            mutated[position] ^= 0x01
            let error = try #require(throws: AttestationError.self, "byte \(position)") {
                _ = try SNPReport(bytes: mutated).verify(vcek: vcek, at: SNPSamples.now)
            }
            // Outside the header fields checked before the signature (version, algorithm, signing key
            // select), the failure must be the signature itself.
            if position >= 0x50 {
                #expect(error.code == .badSignature, "byte \(position)")
            }
        }
    }

    @Test("flipping a signature byte makes verification fail")
    func signatureMutation() throws {
        let bytes = try SNPSamples.load("trustee-milan-report.bin")
        let vcek = try SNPSamples.load("trustee-milan-vcek.der")
        // Low and high bytes of R and S, and the must-be-zero high bytes.
        for position in [0x2A0, 0x2A0 + 20, 0x2A0 + 47, 0x2A0 + 60, 0x2E8, 0x2E8 + 47, 0x2E8 + 71] {
            var mutated = bytes
            mutated[position] ^= 0x80
            let error = try #require(throws: AttestationError.self, "byte \(position)") {
                _ = try SNPReport(bytes: mutated).verify(vcek: vcek, at: SNPSamples.now)
            }
            #expect(error.code == .badSignature || error.code == .malformed)
        }
    }

    @Test("the other sample's VCEK is rejected")
    func wrongVCEK() throws {
        let report = try SNPReport(bytes: SNPSamples.load("go-sev-guest-milan-report.bin"))
        let error = try #require(throws: AttestationError.self) {
            try report.verify(vcek: SNPSamples.load("trustee-milan-vcek.der"), at: SNPSamples.now)
        }
        #expect(error.code == .badSignature)
        let other = try SNPReport(bytes: SNPSamples.load("trustee-milan-report.bin"))
        #expect(throws: AttestationError.self) {
            try other.verify(vcek: SNPSamples.load("go-sev-guest-milan-vcek.der"), at: SNPSamples.now)
        }
    }

    @Test("a flipped byte in the VCEK is rejected")
    func vcekMutation() throws {
        let report = try SNPReport(bytes: SNPSamples.load("go-sev-guest-milan-report.bin"))
        let vcek = try SNPSamples.load("go-sev-guest-milan-vcek.der")
        let leaf = try RSAPSSCertificate(der: vcek)
        // The TBS starts 4 bytes in (SEQUENCE with a two-byte length); flip bytes across all of it,
        // including the serial number, names, validity, the public key and the extensions.
        let tbsEnd = 4 + leaf.tbs.count
        for position in stride(from: 8, to: tbsEnd, by: 37) {
            var mutated = vcek
            mutated[position] ^= 0x01
            #expect(throws: AttestationError.self, "byte \(position)") {
                try report.verify(vcek: mutated, at: SNPSamples.now)
            }
        }
        // And the RSA-PSS signature at the end.
        var mutated = vcek
        mutated[vcek.count - 10] ^= 0x01
        let error = try #require(throws: AttestationError.self) {
            try report.verify(vcek: mutated, at: SNPSamples.now)
        }
        #expect(error.code == .badSignature)
    }

    @Test("an ASK or ARK in place of the VCEK is rejected")
    func wrongLeafKind() throws {
        let report = try SNPReport(bytes: SNPSamples.load("go-sev-guest-milan-report.bin"))
        let chain = try SNPProduct.milan.builtInChain()
        for certificate in [chain.ask, chain.ark, chain.asvk] {
            #expect(throws: AttestationError.self) {
                try report.verify(vcek: certificate.der, at: SNPSamples.now)
            }
        }
    }

    @Test("truncated, padded and garbage reports throw instead of crashing")
    func malformedReports() throws {
        let bytes = try SNPSamples.load("go-sev-guest-milan-report.bin")
        for length in [0, 1, 4, 0x2A0, 0x49F] {
            let error = try #require(throws: AttestationError.self) { try SNPReport(bytes: bytes.prefix(length)) }
            #expect(error.code == .malformed)
        }
        #expect(throws: AttestationError.self) { try SNPReport(bytes: bytes + [0]) }
        for version: UInt8 in [0, 1, 4, 0xFF] {
            var mutated = bytes
            mutated[0] = version
            let error = try #require(throws: AttestationError.self) { try SNPReport(bytes: mutated) }
            #expect(error.code == .malformed)
        }
        var generator = SystemRandomNumberGenerator()
        let vcek = try SNPSamples.load("go-sev-guest-milan-vcek.der")
        for _ in 0..<20 {
            var garbage = (0..<SNPReport.size).map { _ in UInt8.random(in: 0...255, using: &generator) }
            garbage[0] = 2; garbage[1] = 0; garbage[2] = 0; garbage[3] = 0
            let report = try SNPReport(bytes: garbage)
            #expect(throws: AttestationError.self) { try report.verify(vcek: vcek, at: SNPSamples.now) }
        }
    }

    @Test("a version 5 report parses, with its mitigation vectors; its version byte is signed")
    func version5() throws {
        var bytes = try SNPSamples.load("trustee-milan-report.bin")
        let vcek = try SNPSamples.load("trustee-milan-vcek.der")
        #expect(try SNPReport(bytes: bytes).launchMitigationVector == nil)
        bytes[0] = 5
        for index in 0..<8 {
            bytes[0x1F8 + index] = UInt8(index + 1)
            bytes[0x200 + index] = UInt8(0x10 + index)
        }
        let report = try SNPReport(bytes: bytes)
        #expect(report.version == 5)
        #expect(report.launchMitigationVector == 0x0807_0605_0403_0201)
        #expect(report.currentMitigationVector == 0x1716_1514_1312_1110)
        // Every field before them reads as in versions 2 and 3.
        let original = try SNPReport(bytes: SNPSamples.load("trustee-milan-report.bin"))
        #expect(report.measurement == original.measurement)
        #expect(report.launchTCB == original.launchTCB)
        #expect(report.chipID == original.chipID)
        // The sample was signed as version 2: changing the version (or the vectors) breaks the signature.
        let error = try #require(throws: AttestationError.self) { try report.verify(vcek: vcek, at: SNPSamples.now) }
        #expect(error.code == .badSignature)
        bytes[0] = 4
        #expect(throws: AttestationError.self) { try SNPReport(bytes: bytes) }
    }

    @Test("truncated and garbage certificates throw instead of crashing")
    func malformedCertificates() throws {
        let report = try SNPReport(bytes: SNPSamples.load("go-sev-guest-milan-report.bin"))
        let vcek = try SNPSamples.load("go-sev-guest-milan-vcek.der")
        for length in [0, 1, 2, 4, 100, 500, vcek.count - 1] {
            #expect(throws: AttestationError.self) {
                try report.verify(vcek: Array(vcek.prefix(length)), at: SNPSamples.now)
            }
        }
        #expect(throws: AttestationError.self) { try report.verify(vcek: vcek + [0], at: SNPSamples.now) }
        #expect(throws: AttestationError.self) {
            try report.verify(vcek: [0x30, 0x82, 0xFF, 0xFF] + [UInt8](repeating: 0x30, count: 64), at: SNPSamples.now)
        }
    }
}
