import Foundation
import Testing
@testable import TabulaAttestation

/// Gramine's `/dev/attestation` played by a temporary directory: `attestation_type`, an empty
/// `user_report_data` and a `quote` holding a real SGX sample.
@Suite("Gramine provider")
struct GramineTests {
    static func fake(type: String = "dcap", quote: [UInt8]) throws -> URL {
        let root = try AttestationSamples.temporaryDirectory("gramine")
        try Data("\(type)\n".utf8).write(to: root.appendingPathComponent("attestation_type"))
        try Data().write(to: root.appendingPathComponent("user_report_data"))
        try Data(quote).write(to: root.appendingPathComponent("quote"))
        return root
    }

    @Test("writes the report data, reads the quote, and the quote verifies")
    func quote() async throws {
        let quote = try AttestationSamples.load("sgx/dcap-qvl-sgx-quote-v3.bin")
        let reportData = Array(try Quote(bytes: Data(quote)).reportData)
        let root = try Self.fake(quote: quote)
        defer { try? FileManager.default.removeItem(at: root) }
        let gramine = try Gramine(root: root)
        #expect(gramine.tee == "sgx")
        let evidence = try await gramine.evidence(reportData: reportData)
        #expect(evidence == quote)
        #expect([UInt8](try Data(contentsOf: root.appendingPathComponent("user_report_data"))) == reportData)
        let claims = try await Evidence.verify(evidence, certificate: nil, at: AttestationSamples.now)
        #expect(claims.tee == "sgx")
        #expect(claims.reportData == reportData)
    }

    @Test("an attestation type other than dcap is refused, naming it", arguments: ["none", "epid"])
    func notDCAP(type: String) throws {
        let root = try Self.fake(type: type, quote: [1])
        defer { try? FileManager.default.removeItem(at: root) }
        let error = #expect(throws: AttestationError.self) { _ = try Gramine(root: root) }
        #expect(error?.message.contains("\"\(type)\"") == true)
        #expect(error?.message.contains("sgx.remote_attestation") == true)
    }

    @Test("a missing root is an error naming the path")
    func missingRoot() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("no-such-attestation-\(UUID().uuidString)")
        let error = #expect(throws: AttestationError.self) { _ = try Gramine(root: root) }
        #expect(error?.message.contains(root.path) == true)
    }

    @Test("report data must be exactly 64 bytes, and an empty quote is an error")
    func sizes() async throws {
        let root = try Self.fake(quote: [])
        defer { try? FileManager.default.removeItem(at: root) }
        let gramine = try Gramine(root: root)
        for count in [0, 63, 65] {
            await #expect(throws: AttestationError.self) {
                _ = try await gramine.evidence(reportData: [UInt8](repeating: 7, count: count))
            }
        }
        let error = await #expect(throws: AttestationError.self) {
            _ = try await gramine.evidence(reportData: [UInt8](repeating: 7, count: 64))
        }
        #expect(error?.message.contains("empty") == true)
    }
}
