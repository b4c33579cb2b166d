import Foundation

/// Where a store keeps its records: `tabula serve --store` (or `TABULA_STORE`).
///
/// - an embedded SQLite database: the default, `tabula.db` in the data directory, or
///   `sqlite:PATH`;
/// - a PostgreSQL server: `postgres://USER[:PASSWORD]@HOST[:PORT][,HOST[:PORT]…]/DATABASE`, with
///   libpq's `sslmode` (`disable`, `prefer` (the default), `require`, `verify-full`) and Tabula's
///   `timeout` (seconds, 5 by default) as query parameters. With several hosts (a primary and its
///   replicas under Patroni), the store works on whichever is the primary. The password may also
///   come from `PGPASSWORD`.
package enum StoreLocation: Sendable, Hashable, CustomStringConvertible {
    case sqlite(path: String)
    case postgres(PostgresBackend.Configuration)

    /// The environment variable that names the store when `--store` does not.
    package static let environmentVariable = "TABULA_STORE"

    /// Parses a location; the error says what is wrong with it.
    package init(parsing text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        if text.hasPrefix("sqlite:") {
            let path = String(text.dropFirst("sqlite:".count))
            guard !path.isEmpty else { throw PlatformError(.badRequest, "the store location sqlite: names no file: use sqlite:PATH") }
            self = .sqlite(path: path)
            return
        }
        guard text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") else {
            // Not the text itself: it may hold a password.
            throw PlatformError(.badRequest, "unknown store location (it starts with neither postgres:// nor sqlite:): use postgres://USER@HOST[:PORT]/DATABASE or sqlite:PATH")
        }
        self = .postgres(try Self.parsePostgres(text, environment: environment))
    }

    // URLComponents takes one host only: the location is parsed here.
    private static func parsePostgres(_ text: String, environment: [String: String]) throws -> PostgresBackend.Configuration {
        func invalid(_ why: String) -> PlatformError {
            PlatformError(.badRequest, "the store location is not a valid postgres:// URL: \(why)")
        }
        var rest = Substring(text[text.range(of: "://")!.upperBound...])
        var query = Substring("")
        if let mark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        guard let slash = rest.firstIndex(of: "/") else { throw invalid("it names no database (…/DATABASE)") }
        let database = String(rest[rest.index(after: slash)...]).removingPercentEncoding ?? ""
        guard !database.isEmpty else { throw invalid("it names no database (…/DATABASE)") }
        var authority = rest[..<slash]
        var username = ""
        var password: String?
        if let at = authority.lastIndex(of: "@") {
            let user = authority[..<at]
            authority = authority[authority.index(after: at)...]
            if let colon = user.firstIndex(of: ":") {
                username = String(user[..<colon]).removingPercentEncoding ?? ""
                password = String(user[user.index(after: colon)...]).removingPercentEncoding
            } else {
                username = String(user).removingPercentEncoding ?? ""
            }
        }
        guard !username.isEmpty else { throw invalid("it names no user (postgres://USER@…)") }
        var endpoints: [PostgresBackend.Configuration.Endpoint] = []
        for host in authority.split(separator: ",", omittingEmptySubsequences: false) {
            var name = host
            var port = 5432
            if host.hasPrefix("[") {
                // An IPv6 address: [::1]:5432
                guard let close = host.firstIndex(of: "]") else { throw invalid("unclosed [ in the host \(host)") }
                name = host[host.index(after: host.startIndex)..<close]
                let after = host[host.index(after: close)...]
                if !after.isEmpty {
                    guard after.hasPrefix(":"), let number = Int(after.dropFirst()) else { throw invalid("bad port in \(host)") }
                    port = number
                }
            } else if let colon = host.lastIndex(of: ":") {
                name = host[..<colon]
                guard let number = Int(host[host.index(after: colon)...]) else { throw invalid("bad port in \(host)") }
                port = number
            }
            guard !name.isEmpty else { throw invalid("a host is empty") }
            guard (1...65535).contains(port) else { throw invalid("the port \(port) is out of range") }
            endpoints.append(.init(host: String(name), port: port))
        }
        var configuration = PostgresBackend.Configuration(
            endpoints: endpoints, username: username, password: password ?? environment["PGPASSWORD"], database: database)
        for pair in query.split(separator: "&") where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? String($0) }
            let value = parts.count > 1 ? parts[1] : ""
            switch parts[0] {
            case "sslmode":
                guard let mode = PostgresBackend.Configuration.TLSMode(rawValue: value) else {
                    throw invalid("sslmode=\(value) is not one of disable, prefer, require, verify-full")
                }
                configuration.tls = mode
            case "timeout":
                guard let seconds = Double(value), seconds > 0, seconds <= 600 else { throw invalid("timeout=\(value) is not a number of seconds in (0, 600]") }
                configuration.timeout = .milliseconds(Int64(seconds * 1000))
            default:
                throw invalid("unknown parameter \(parts[0]) (known: sslmode, timeout)")
            }
        }
        return configuration
    }

    package var description: String {
        switch self {
        case .sqlite(let path): "sqlite:\(path)"
        case .postgres(let configuration):
            // Never the password.
            "postgres://\(configuration.username)@\(configuration.endpoints.map(\.description).joined(separator: ","))/\(configuration.database)"
        }
    }
}
