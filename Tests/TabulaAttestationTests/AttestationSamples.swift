import Foundation

/// The real evidence in shared/testdata/attestation (its README says where each file came from).
enum AttestationSamples {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // TabulaAttestationTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // repository root
        .deletingLastPathComponent()  // beside the repository root
        .appendingPathComponent("shared/testdata/attestation")

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
}
