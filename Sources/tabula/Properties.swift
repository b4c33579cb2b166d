import ArgumentParser
import Foundation

/// The CLI's properties file, `props` in the configuration directory (`$TABULA_CONFIG_DIR`, else
/// `~/.tabula`): `KEY=VALUE` lines like wsk's `.wskprops`, with `APIHOST` and `AUTH`.
///
/// Lines the CLI does not know, comments included, are kept as they are when it rewrites the file.
struct Properties {
    static let apiHost = "APIHOST"
    static let auth = "AUTH"

    let file: URL
    private var lines: [String]

    /// The file in `directory` (by default the configuration directory); empty when it is missing.
    init(directory: String = DataDirectory.default) throws {
        file = URL(fileURLWithPath: (directory as NSString).expandingTildeInPath).appendingPathComponent("props")
        if FileManager.default.fileExists(atPath: file.path) {
            do {
                lines = String(decoding: try Data(contentsOf: file), as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            } catch {
                throw ValidationError("cannot read \(file.path): \(error.localizedDescription)")
            }
            if lines.last == "" { lines.removeLast() }
        } else {
            lines = []
        }
    }

    /// The value of a key (the last line that sets it), `nil` when unset or empty.
    subscript(key: String) -> String? {
        get {
            lines.compactMap { Self.parse($0) }.last { $0.key == key }.map(\.value).flatMap { $0.isEmpty ? nil : $0 }
        }
        set {
            let index = lines.firstIndex { Self.parse($0)?.key == key }
            lines.removeAll { Self.parse($0)?.key == key }
            guard let newValue else { return }
            lines.insert("\(key)=\(newValue)", at: min(index ?? lines.count, lines.count))
        }
    }

    /// Writes the file, owner-only since it may hold the key.
    func save() throws {
        do {
            _ = try DataDirectory.prepare(file.deletingLastPathComponent().path)
            let text = lines.map { $0 + "\n" }.joined()
            guard FileManager.default.createFile(atPath: file.path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
                throw CocoaError(.fileWriteUnknown)
            }
        } catch {
            throw ValidationError("cannot write \(file.path): \(error.localizedDescription)")
        }
    }

    private static func parse(_ line: String) -> (key: String, value: String)? {
        let line = line.trimmingCharacters(in: .whitespaces)
        guard !line.hasPrefix("#"), let equals = line.firstIndex(of: "=") else { return nil }
        return (line[..<equals].trimmingCharacters(in: .whitespaces), line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces))
    }
}

// MARK: Resolution

extension Properties {
    static let defaultAPIHost = "http://127.0.0.1:3233"

    /// How the CLI finds the server and the key; shown in the help of the remote commands.
    static let resolutionHelp = """
        The server and the key come from, first found: --apihost and --auth; the environment \
        variables TABULA_APIHOST and TABULA_AUTH; the APIHOST and AUTH lines of the file props \
        in $TABULA_CONFIG_DIR or ~/.tabula (set them with `tabula property set`); and finally \
        \(defaultAPIHost) with the key `tabula serve` wrote to the file auth in that directory.
        """

    /// The API host: the flag, `TABULA_APIHOST`, `APIHOST` in the file, or the local server.
    static func resolveAPIHost(flag: String?) throws -> String {
        if let flag, !flag.isEmpty { return flag }
        if let value = environment("TABULA_APIHOST") { return value }
        return try Properties()[apiHost] ?? defaultAPIHost
    }

    /// The key: the flag, `TABULA_AUTH`, `AUTH` in the file, or the file `auth` that
    /// `tabula serve` writes; `nil` when there is none.
    static func resolveAuth(flag: String?) throws -> String? {
        if let flag, !flag.isEmpty { return flag }
        if let value = environment("TABULA_AUTH") { return value }
        if let value = try Properties()[auth] { return value }
        return serverKey()
    }

    /// The key in the file `auth` of the configuration directory, written by `tabula serve`.
    static func serverKey(directory: String = DataDirectory.default) -> String? {
        let file = URL(fileURLWithPath: (directory as NSString).expandingTildeInPath).appendingPathComponent("auth")
        guard let data = try? Data(contentsOf: file) else { return nil }
        return String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .first { !$0.isEmpty }
    }

    /// What to do when there is no key anywhere.
    static var missingAuthMessage: String {
        let file = URL(fileURLWithPath: (DataDirectory.default as NSString).expandingTildeInPath).appendingPathComponent("auth").path
        return "no key for the Tabula server: start `tabula serve` (it writes its key to \(file)), or set TABULA_AUTH=UUID:KEY, or run `tabula property set --auth UUID:KEY`"
    }

    /// A URL from what the user typed: without a scheme, `http` for this machine and `https`
    /// otherwise (a key must not cross the network in the clear by accident).
    static func url(apiHost text: String) throws -> URL {
        var text = text.trimmingCharacters(in: .whitespaces)
        if !text.contains("://") {
            let host = text.split(separator: "/").first.map(String.init) ?? text
            let local = host.hasPrefix("localhost") || host.hasPrefix("127.") || host.hasPrefix("[::1]")
            text = (local ? "http://" : "https://") + text
        }
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = url.host, !host.isEmpty
        else {
            throw ValidationError("the API host \"\(text)\" is not a URL such as \(defaultAPIHost)")
        }
        return url
    }

    private static func environment(_ name: String) -> String? {
        guard let value = ProcessInfo.processInfo.environment[name]?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty else { return nil }
        return value
    }
}
