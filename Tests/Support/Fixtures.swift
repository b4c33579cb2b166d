public import Foundation

/// The files the tests read: test vectors and real TEE evidence in `Tests/Fixtures` (its README says
/// where each came from), and the example functions in `examples/`.
///
/// Every path is found from this source file's own location, so the tests read only files inside the
/// repository, wherever the checkout is.
package enum Fixtures {
    /// The repository root: this file is `Tests/Support/Fixtures.swift`.
    package static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // Support
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // the repository root

    /// `Tests/Fixtures`.
    package static let directory = repository.appendingPathComponent("Tests/Fixtures")

    /// `examples/`.
    package static let examples = repository.appendingPathComponent("examples")

    /// A fixture's URL, from its path below `Tests/Fixtures` (for example `"hpke/rfc9180-appendixA-x25519-vectors.json"`).
    package static func url(_ path: String) -> URL {
        directory.appendingPathComponent(path)
    }

    /// A fixture's bytes.
    package static func data(_ path: String) throws -> Data {
        try Data(contentsOf: url(path))
    }
}
