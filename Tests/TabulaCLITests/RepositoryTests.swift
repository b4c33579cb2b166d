import Foundation
import TabulaTestSupport
import Testing

/// The repository stands alone: a user's clone has nothing beside it, so no file in it may point outside.
@Suite("Repository")
struct RepositoryTests {
    @Test("no file of the repository refers to a folder beside it")
    func noReferenceOutside() throws {
        // Written in two pieces so that this file does not name it.
        let outside = Array(("../" + "shared").utf8)
        var offenders: [String] = []
        var read = 0
        for file in try sourceFiles() {
            guard let bytes = FileManager.default.contents(atPath: file.path) else { continue }
            read += 1
            if [UInt8](bytes).firstRange(of: outside) != nil { offenders.append(file.path) }
        }
        #expect(read > 100, "only \(read) files were read below \(Fixtures.repository.path)")
        #expect(offenders.isEmpty, "these files refer to a folder that a user's clone does not have: \(offenders)")
    }

    /// Every file below the repository root but build products, git's own files and binaries.
    private func sourceFiles() throws -> [URL] {
        let skipped: Set<String> = [".git", ".swiftpm"]
        guard let walker = FileManager.default.enumerator(at: Fixtures.repository, includingPropertiesForKeys: [.isDirectoryKey]) else { return [] }
        var files: [URL] = []
        for case let url as URL in walker {
            let name = url.lastPathComponent
            if try url.resourceValues(forKeys: [.isDirectoryKey]).isDirectory == true {
                if skipped.contains(name) || name.hasPrefix(".build") { walker.skipDescendants() }
            } else if !["wasm", "bin", "der"].contains(url.pathExtension) {
                files.append(url)
            }
        }
        return files
    }
}
