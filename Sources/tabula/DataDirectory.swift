import Foundation

/// Where `tabula serve` keeps its database and the `auth` file, and where the CLI finds them:
/// `$TABULA_CONFIG_DIR`, else `~/.tabula`.
enum DataDirectory {
    static var `default`: String {
        if let configured = ProcessInfo.processInfo.environment["TABULA_CONFIG_DIR"], !configured.isEmpty {
            return configured
        }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".tabula").path
    }

    /// The directory, created owner-only if missing.
    static func prepare(_ path: String) throws -> URL {
        let url = URL(fileURLWithPath: (path as NSString).expandingTildeInPath)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        return url
    }

    static func database(in directory: URL) -> String {
        directory.appendingPathComponent("tabula.db").path
    }
}
