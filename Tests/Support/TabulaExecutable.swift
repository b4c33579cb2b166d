public import Foundation

/// The `tabula` executable that `swift build --build-tests` builds next to the test bundle: for
/// the CLI tests, and for the enclave's tests of worker processes (`tabula worker`).
package enum TabulaExecutable {
    package static var url: URL {
        get throws {
            let candidates = [
                URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
                Bundle.main.bundleURL.deletingLastPathComponent(),
                Bundle.main.bundleURL,
            ]
            for directory in candidates {
                let url = directory.appendingPathComponent("tabula")
                if FileManager.default.isExecutableFile(atPath: url.path) { return url }
            }
            throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: "tabula next to \(candidates[0].path)"])
        }
    }
}
