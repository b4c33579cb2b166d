import Crypto
import Foundation
import TabulaTestSupport
import Testing
import TabulaAttestation
import TabulaWire

/// `tabula attest verify` on the real samples, through the real binary.
@Suite("tabula attest verify")
struct AttestCommandTests {
    static let samples = Fixtures.url("attestation")

    func verify(_ arguments: [String], at time: String = "2026-06-01T00:00:00Z") async throws -> (status: Int32, report: JSONValue) {
        let output = try await RunCommandTests.tabula(["attest", "verify"] + arguments + ["--at", time, "--json"])
        return (output.status, (try? JSONValue(parsing: output.stdout)) ?? .null)
    }

    /// DER certificates from PEM text.
    private static func der(_ pem: String) -> [[UInt8]] {
        pem.components(separatedBy: "-----BEGIN CERTIFICATE-----").dropFirst().map { block in
            let body = block.components(separatedBy: "-----END CERTIFICATE-----")[0].filter { !$0.isWhitespace }
            return [UInt8](Data(base64Encoded: body) ?? Data())
        }
    }

    private func sample(_ path: String) -> String {
        Self.samples.appendingPathComponent(path).path
    }

    /// Writes `bytes` to a new temporary file and returns its path (removed by the caller).
    func temporary(_ bytes: [UInt8], _ suffix: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("attest-\(UUID().uuidString)\(suffix)")
        try Data(bytes).write(to: url)
        return url
    }

    @Test func identityCertificateIsVerifiedAsRATLS() async throws {
        let key = P256.Signing.PrivateKey()
        let now = Date()
        let issued = try await IdentityCertificate.issue(
            identityKey: key, provider: SimulatedTEE.ephemeral(), nonce: nil,
            notValidBefore: now.addingTimeInterval(-60), notValidAfter: now.addingTimeInterval(3600))
        let file = try temporary(Array(issued.pem.utf8), ".pem")
        defer { try? FileManager.default.removeItem(at: file) }
        let time = ISO8601DateFormatter().string(from: now)
        let refused = try await verify([file.path], at: time)
        #expect(refused.status == 1)
        #expect(refused.report["verified"] == true && refused.report["policy"] == "fail")
        let allowed = try await verify([file.path, "--allow-simulated"], at: time)
        #expect(allowed.status == 0)
        #expect(allowed.report["tee"] == "simulated")
        #expect(allowed.report["certificateKeyBound"] == true)

        var tampered = Array(issued.pem.utf8)
        let index = tampered.count / 2
        tampered[index] = tampered[index] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        let bad = try temporary(tampered, ".pem")
        defer { try? FileManager.default.removeItem(at: bad) }
        let broken = try await verify([bad.path, "--allow-simulated"], at: time)
        #expect(broken.status == 1)
        #expect(broken.report["verified"] == false)
    }

    @Test func tdxQuotePassesTheDefaultPolicy() async throws {
        let (status, report) = try await verify([Self.samples.appendingPathComponent("tdx/dcap-qvl-tdx-quote-v4.bin").path])
        #expect(status == 0)
        #expect(report["verified"] == true)
        #expect(report["policy"] == "pass")
        #expect(report["tee"] == "tdx")
        #expect(report["version"] == 4)
        #expect(report["fmspc"] == "b0c06f000000")
    }

    @Test func debugSNPReportIsAuthenticButFailsTheDefaultPolicy() async throws {
        let snp = Self.samples.appendingPathComponent("snp")
        let arguments = [snp.appendingPathComponent("go-sev-guest-milan-report.bin").path, "--cert", snp.appendingPathComponent("go-sev-guest-milan-vcek.der").path]
        let (status, report) = try await verify(arguments)
        #expect(status != 0)
        #expect(report["verified"] == true)
        #expect(report["policy"] == "fail")
        #expect(report["debug"] == true)
        #expect(report["tee"] == "sev-snp")

        let policy = FileManager.default.temporaryDirectory.appendingPathComponent("policy-\(UUID().uuidString).json")
        try #"{"allowDebug": true, "tees": ["sev-snp"]}"#.write(to: policy, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: policy) }
        #expect(try await verify(arguments + ["--policy", policy.path]).status == 0)
    }

    @Test func hexTextAndTamperedEvidence() async throws {
        let quote = Array(try Data(contentsOf: Self.samples.appendingPathComponent("sgx/dcap-qvl-sgx-quote-v3.bin")))
        let directory = FileManager.default.temporaryDirectory
        let hex = directory.appendingPathComponent("quote-\(UUID().uuidString).hex")
        try ("0x" + quote.hex + "\n").write(to: hex, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: hex) }
        let (status, report) = try await verify([hex.path])
        #expect(status == 0)
        #expect(report["tee"] == "sgx")

        var tampered = quote
        tampered[100] ^= 0x01
        let bad = directory.appendingPathComponent("quote-\(UUID().uuidString).bin")
        try Data(tampered).write(to: bad)
        defer { try? FileManager.default.removeItem(at: bad) }
        let (badStatus, badReport) = try await verify([bad.path])
        #expect(badStatus != 0)
        #expect(badReport["verified"] == false)
        #expect(badReport["error"]?.stringValue?.isEmpty == false)
    }

    @Test func intelCollateralGivesATCBStatus() async throws {
        // dcap-qvl's collateral was current in July 2025.
        let july = "2025-07-01T00:00:00Z"
        let (status, report) = try await verify([sample("tdx/dcap-qvl-tdx-quote-v4.bin"), "--collateral", sample("tdx/dcap-qvl-tdx-quote-v4.collateral.json")], at: july)
        #expect(status == 0)
        #expect(report["tcbStatus"] == "UpToDate")
        #expect(report["tcb"]?["qeStatus"] == "UpToDate")
        #expect(report["crls"] == ["Intel SGX PCK Platform CA", "Intel SGX Root CA"])

        let sgx = [sample("sgx/dcap-qvl-sgx-quote-v3.bin"), "--collateral", sample("sgx/dcap-qvl-sgx-quote-v3.collateral.json")]
        let (sgxStatus, sgxReport) = try await verify(sgx, at: july)
        #expect(sgxStatus != 0)
        #expect(sgxReport["verified"] == true)
        #expect(sgxReport["policy"] == "fail")
        #expect(sgxReport["tcbStatus"] == "ConfigurationAndSWHardeningNeeded")
        #expect(sgxReport["advisoryIDs"] == ["INTEL-SA-00289", "INTEL-SA-00615"])
        let policy = try temporary(Array(#"{"acceptedTCBStatuses": ["UpToDate", "ConfigurationAndSWHardeningNeeded"]}"#.utf8), ".json")
        defer { try? FileManager.default.removeItem(at: policy) }
        #expect(try await verify(sgx + ["--policy", policy.path], at: july).status == 0)

        // A year later the collateral is stale: the quote is not verified with it.
        let (staleStatus, stale) = try await verify(sgx)
        #expect(staleStatus != 0)
        #expect(stale["verified"] == false)
        #expect(stale["error"]?.stringValue?.contains("expired") == true)
    }

    @Test func pcsResponseWithItsSigningChain() async throws {
        // PCS sends the TCB Signing chain in a header; here it comes from dcap-qvl's bundle, as PEM.
        let bundle = try JSONValue(parsing: try Data(contentsOf: Self.samples.appendingPathComponent("tdx/dcap-qvl-tdx-quote-v4.collateral.json")))
        let chain = try temporary(Array(bundle["tcb_info_issuer_chain"]!.stringValue!.utf8), ".pem")
        defer { try? FileManager.default.removeItem(at: chain) }
        let arguments = [sample("tdx/go-tdx-guest-quote-v5.bin"), "--collateral", sample("tdx/sample_tcbinfo_response_v5")]
        let (status, report) = try await verify(arguments + ["--chain", chain.path], at: "2026-02-15T00:00:00Z")
        #expect(status == 0)
        #expect(report["tcbStatus"] == "UpToDate")
        #expect(report["tcb"]?["tdxModuleStatus"] == "UpToDate")
        let (unsigned, unsignedReport) = try await verify(arguments, at: "2026-02-15T00:00:00Z")
        #expect(unsigned != 0)
        #expect(unsignedReport["error"]?.stringValue?.contains("TCB Signing") == true)
    }

    @Test func snpWithTheHostsCertificateTableOrAnExtraChain() async throws {
        let askArk = Self.der(String(decoding: try Data(contentsOf: Self.samples.appendingPathComponent("snp/ask_ark_milan.pem")), as: UTF8.self))
        let table = SNPCertificateTable(entries: [
            .init(.vcek, certificate: Array(try Data(contentsOf: Self.samples.appendingPathComponent("snp/trustee-milan-vcek.der")))),
            .init(.ask, certificate: askArk[0]),
            .init(.ark, certificate: askArk[1]),
        ])
        let file = try temporary(table.bytes, ".auxblob")
        defer { try? FileManager.default.removeItem(at: file) }
        let (status, report) = try await verify([sample("snp/trustee-milan-report.bin"), "--cert", file.path])
        #expect(status == 0)
        #expect(report["tee"] == "sev-snp")
        #expect(report["reportedTCBVersion"]?["snp"] == 8)

        let (chainStatus, chained) = try await verify([
            sample("snp/trustee-milan-report.bin"), "--cert", sample("snp/trustee-milan-vcek.der"), "--chain", sample("snp/ask_ark_milan.pem"),
        ])
        #expect(chainStatus == 0)
        #expect(chained["verified"] == true)
    }
}

