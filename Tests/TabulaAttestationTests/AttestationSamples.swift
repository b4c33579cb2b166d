import Foundation
import TabulaAttestation
import TabulaTestSupport
import Testing

/// The real evidence in Tests/Fixtures/attestation (Tests/Fixtures/README.md says where each file came from).
enum AttestationSamples {
    static let directory = Fixtures.url("attestation")

    static func load(_ path: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: directory.appendingPathComponent(path)))
    }

    /// 2026-06-01T00:00:00Z: every sample's certificates are valid then.
    static let now = Date(timeIntervalSince1970: 1_780_272_000)

    static func date(_ text: String) -> Date {
        ISO8601DateFormatter().date(from: text)!
    }

    /// A fresh, empty directory under the temporary directory.
    static func temporaryDirectory(_ label: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tabula-\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// The code of the ``AttestationError`` `body` throws, or `nil` when it succeeds.
    static func errorCode(_ body: () throws -> Void) -> AttestationError.Code? {
        do {
            try body()
            return nil
        } catch {
            return code(of: error)
        }
    }

    static func errorCode(_ body: () async throws -> Void) async -> AttestationError.Code? {
        do {
            try await body()
            return nil
        } catch {
            return code(of: error)
        }
    }

    private static func code(of error: any Error) -> AttestationError.Code {
        guard let error = error as? AttestationError else {
            Issue.record("not an AttestationError: \(error)")
            return .unsupported
        }
        return error.code
    }
}
