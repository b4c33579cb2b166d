import Foundation
import SwiftASN1
import Testing
@testable import TabulaAttestation

@Suite("SEV-SNP certificate table")
struct SNPCertificateTableTests {
    /// The Milan ASK and ARK of go-sev-guest, DER, in that order.
    static func milanASKAndARK() throws -> [[UInt8]] {
        let pem = String(decoding: try AttestationSamples.load("snp/ask_ark_milan.pem"), as: UTF8.self)
        return try PEMDocument.parseMultiple(pemString: pem).map { Array($0.derBytes) }
    }

    /// A table as a host would attach it: the sample VCEK, then the ASK and ARK.
    static func table() throws -> SNPCertificateTable {
        let chain = try milanASKAndARK()
        return SNPCertificateTable(entries: [
            .init(.vcek, certificate: try AttestationSamples.load("snp/go-sev-guest-milan-vcek.der")),
            .init(.ask, certificate: chain[0]),
            .init(.ark, certificate: chain[1]),
        ])
    }

    @Test("the GUIDs are the ones of the GHCB specification")
    func guids() {
        func text(_ bytes: [UInt8]) -> String {
            let hex = bytes.map { String(format: "%02x", $0) }.joined()
            let parts = [hex.prefix(8), hex.dropFirst(8).prefix(4), hex.dropFirst(12).prefix(4), hex.dropFirst(16).prefix(4), hex.dropFirst(20)]
            return parts.joined(separator: "-")
        }
        #expect(text(SNPCertificateTable.Kind.vcek.guid) == "63da758d-e664-4564-adc5-f4b93be8accd")
        #expect(text(SNPCertificateTable.Kind.vlek.guid) == "a8074bc2-a25a-483e-aae6-39c045a0b8a1")
        #expect(text(SNPCertificateTable.Kind.ask.guid) == "4ab7b379-bbac-4fe4-a02f-05aef327c782")
        #expect(text(SNPCertificateTable.Kind.ark.guid) == "c0b406a4-a803-4952-9743-3fb6014cd0ae")
    }

    @Test("a table round-trips, with the layout of the specification")
    func layout() throws {
        let table = try Self.table()
        let bytes = table.bytes
        // Three entries and the terminator, then the certificates.
        #expect(Array(bytes[0..<16]) == SNPCertificateTable.Kind.vcek.guid)
        let firstOffset = Int(bytes[16]) | Int(bytes[17]) << 8 | Int(bytes[18]) << 16 | Int(bytes[19]) << 24
        #expect(firstOffset == 4 * 24)
        #expect(bytes[72..<96].allSatisfy { $0 == 0 })
        #expect(Array(bytes[96..<(96 + 4)]) == Array(table.entries[0].certificate.prefix(4)))
        let parsed = try SNPCertificateTable(bytes: bytes)
        #expect(parsed == table)
        #expect(parsed[.vcek] == table.entries[0].certificate)
        #expect(parsed[.vlek] == nil)
        #expect(SNPCertificateTable.recognises(bytes))
        #expect(!SNPCertificateTable.recognises(try AttestationSamples.load("snp/go-sev-guest-milan-vcek.der")))
        // Trailing padding (the kernel hands out whole pages) is ignored.
        #expect(try SNPCertificateTable(bytes: bytes + [UInt8](repeating: 0, count: 4096)) == table)
    }

    @Test("Evidence.verify takes the table as the certificate and picks the VCEK from it")
    func verifiesWithTable() async throws {
        let report = try AttestationSamples.load("snp/go-sev-guest-milan-report.bin")
        let claims = try await Evidence.verify(report, certificate: try Self.table().bytes, at: AttestationSamples.now)
        #expect(claims.tee == "sev-snp")
        #expect(claims.fields["signingKey"] == "VCEK")
        #expect(claims.snpTCB == SNPTCBVersion(bootloader: 2, tee: 0, snp: 5, microcode: 68))
        // Without a VCEK in it, the table cannot vouch for the report.
        var noVCEK = try Self.table()
        noVCEK.entries.removeFirst()
        let error = await #expect(throws: AttestationError.self) {
            _ = try await Evidence.verify(report, certificate: noVCEK.bytes, at: AttestationSamples.now)
        }
        #expect(error?.message.contains("no VCEK") == true)
        // Another chip's VCEK in the table does not vouch either.
        var other = try Self.table()
        other.entries[0].certificate = try AttestationSamples.load("snp/trustee-milan-vcek.der")
        await #expect(throws: AttestationError.self) {
            _ = try await Evidence.verify(report, certificate: other.bytes, at: AttestationSamples.now)
        }
    }

    @Test("malformed tables throw instead of crashing")
    func malformed() throws {
        let bytes = try Self.table().bytes
        for length in [0, 23, 24, 71, 95, 100, bytes.count - 1] {
            #expect(throws: AttestationError.self, "prefix \(length)") { _ = try SNPCertificateTable(bytes: Array(bytes.prefix(length))) }
        }
        // An offset past the end, and one into the entry list.
        var outside = bytes
        outside[19] = 0x7F
        #expect(throws: AttestationError.self) { _ = try SNPCertificateTable(bytes: outside) }
        var intoHeader = bytes
        intoHeader[16] = 8
        intoHeader[17] = 0
        #expect(throws: AttestationError.self) { _ = try SNPCertificateTable(bytes: intoHeader) }
        // Two VCEK entries.
        var duplicate = bytes
        duplicate.replaceSubrange(24..<40, with: SNPCertificateTable.Kind.vcek.guid)
        #expect(throws: AttestationError.self) { _ = try SNPCertificateTable(bytes: duplicate) }
        var generator = SplitMix64(seed: 0x5E7)
        for _ in 0..<200 {
            var garbage = bytes
            for _ in 0..<8 { garbage[Int(generator.next() % UInt64(96))] = UInt8(truncatingIfNeeded: generator.next()) }
            _ = try? SNPCertificateTable(bytes: garbage)
        }
    }

    @Test("an ASK given with --chain is used only when a pinned ARK signed it; a foreign ARK is refused")
    func extraChain() throws {
        let report = try SNPReport(bytes: AttestationSamples.load("snp/go-sev-guest-milan-report.bin"))
        let vcek = try AttestationSamples.load("snp/go-sev-guest-milan-vcek.der")
        let chain = try Self.milanASKAndARK()
        let claims = try report.verify(vcek: vcek, chain: chain, at: AttestationSamples.now)
        #expect(claims.product == .milan)
        var forgedARK = chain[1]
        forgedARK[forgedARK.count - 20] ^= 0x01
        let error = #expect(throws: AttestationError.self) {
            _ = try report.verify(vcek: vcek, chain: [forgedARK], at: AttestationSamples.now)
        }
        #expect(error?.code == .untrustedChain)
    }
}
