import Foundation
import Testing
import TabulaWire

/// `tabula attest verify` on the real samples, through the real binary.
@Suite("tabula attest verify")
struct AttestCommandTests {
    static let samples = RunCommandTests.repository.deletingLastPathComponent().appendingPathComponent("shared/testdata/attestation")

    private func verify(_ arguments: [String]) throws -> (status: Int32, report: JSONValue) {
        let output = try RunCommandTests.tabula(["attest", "verify"] + arguments + ["--at", "2026-06-01T00:00:00Z", "--json"])
        return (output.status, (try? JSONValue(parsing: output.stdout)) ?? .null)
    }

    @Test func tdxQuotePassesTheDefaultPolicy() throws {
        let (status, report) = try verify([Self.samples.appendingPathComponent("tdx/dcap-qvl-tdx-quote-v4.bin").path])
        #expect(status == 0)
        #expect(report["verified"] == true)
        #expect(report["policy"] == "pass")
        #expect(report["tee"] == "tdx")
        #expect(report["version"] == 4)
        #expect(report["fmspc"] == "b0c06f000000")
    }

    @Test func debugSNPReportIsAuthenticButFailsTheDefaultPolicy() throws {
        let snp = Self.samples.appendingPathComponent("snp")
        let arguments = [snp.appendingPathComponent("go-sev-guest-milan-report.bin").path, "--cert", snp.appendingPathComponent("go-sev-guest-milan-vcek.der").path]
        let (status, report) = try verify(arguments)
        #expect(status != 0)
        #expect(report["verified"] == true)
        #expect(report["policy"] == "fail")
        #expect(report["debug"] == true)
        #expect(report["tee"] == "sev-snp")

        let policy = FileManager.default.temporaryDirectory.appendingPathComponent("policy-\(UUID().uuidString).json")
        try #"{"allowDebug": true, "tees": ["sev-snp"]}"#.write(to: policy, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: policy) }
        #expect(try verify(arguments + ["--policy", policy.path]).status == 0)
    }

    @Test func hexTextAndTamperedEvidence() throws {
        let quote = Array(try Data(contentsOf: Self.samples.appendingPathComponent("sgx/dcap-qvl-sgx-quote-v3.bin")))
        let directory = FileManager.default.temporaryDirectory
        let hex = directory.appendingPathComponent("quote-\(UUID().uuidString).hex")
        try ("0x" + quote.hex + "\n").write(to: hex, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: hex) }
        let (status, report) = try verify([hex.path])
        #expect(status == 0)
        #expect(report["tee"] == "sgx")

        var tampered = quote
        tampered[100] ^= 0x01
        let bad = directory.appendingPathComponent("quote-\(UUID().uuidString).bin")
        try Data(tampered).write(to: bad)
        defer { try? FileManager.default.removeItem(at: bad) }
        let (badStatus, badReport) = try verify([bad.path])
        #expect(badStatus != 0)
        #expect(badReport["verified"] == false)
        #expect(badReport["error"]?.stringValue?.isEmpty == false)
    }
}
