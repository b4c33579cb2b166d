import ArgumentParser
import Foundation
import TabulaPlatform

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

    /// The store `given` names (or `TABULA_STORE`), else the SQLite database in `directory`.
    static func storeLocation(_ given: String?, in directory: URL) throws -> StoreLocation {
        guard let text = given ?? ProcessInfo.processInfo.environment[StoreLocation.environmentVariable], !text.isEmpty else {
            return .sqlite(path: database(in: directory))
        }
        do {
            return try StoreLocation(parsing: text)
        } catch let error as PlatformError {
            throw ValidationError("--store: \(error.message)")
        }
    }

    /// This node's name in a cluster: made once and kept in the data directory, so that a node
    /// that restarts is the same node (it recovers its own interrupted activations).
    static func nodeName(in directory: URL) throws -> String {
        let file = directory.appendingPathComponent("node")
        if let data = FileManager.default.contents(atPath: file.path),
           let name = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines), !name.isEmpty {
            return name
        }
        let name = "node-" + UUID().uuidString.lowercased().prefix(8)
        guard FileManager.default.createFile(atPath: file.path, contents: Data("\(name)\n".utf8), attributes: [.posixPermissions: 0o600]) else {
            throw ValidationError("cannot write the node's name to \(file.path); check that the data directory is writable")
        }
        return name
    }
}
