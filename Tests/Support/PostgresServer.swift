public import Foundation
public import Testing

/// A throw-away PostgreSQL server on 127.0.0.1 for the tests that need one: Debian's `postgresql`
/// binaries, a cluster made with `initdb` in a temporary directory, stopped and deleted afterwards
/// by its process id.
///
/// PostgreSQL refuses to run as root: under root the server runs as the `postgres` user that
/// Debian's package creates. With `TABULA_TEST_POSTGRES` set to the URL of an existing server (a
/// role that may create databases, `sslmode=disable`), the tests use that server instead.
///
/// Each test gets a database of its own (``createDatabase()``), so tests running in parallel do not
/// see each other's rows.
package final class PostgresServer: Sendable {
    /// The server a suite with the ``Trait/postgres`` trait runs with.
    @TaskLocal package static var current: PostgresServer?

    package let host = "127.0.0.1"
    package let port: Int
    /// The superuser the tests connect as.
    package let user: String
    /// The postmaster's process and the cluster's directory; `nil` for an external server.
    private let owned: (process: Process, directory: URL)?

    private init(port: Int, user: String, owned: (Process, URL)?) {
        self.port = port
        self.user = user
        self.owned = owned
    }

    /// Starts a server (blocking, several seconds: call it off Swift's cooperative pool).
    package static func start() throws -> PostgresServer {
        if let external = ProcessInfo.processInfo.environment["TABULA_TEST_POSTGRES"], !external.isEmpty,
           let url = URLComponents(string: external), let port = url.port {
            return PostgresServer(port: port, user: url.user ?? "postgres", owned: nil)
        }
        if binaries() == nil {
            // A fresh machine: the same script as .ci/run's installs Debian's package (as root).
            let installed = try run("/bin/bash", [Fixtures.repository.appendingPathComponent("Tests/Support/install-test-packages.sh").path])
            guard installed.status == 0 else { throw Failure("the PostgreSQL server is not installed and could not be: \(installed.output)") }
        }
        guard let bin = binaries() else {
            throw Failure("the PostgreSQL server is not installed (Debian: apt-get install postgresql)")
        }
        let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("tabula-pg-\(UUID().uuidString.prefix(8))")
        let data = directory.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        let asRoot = getuid() == 0
        if asRoot {
            // The server's own user owns the cluster.
            _ = try run("/bin/chown", ["postgres:postgres", directory.path])
        }
        func command(_ executable: String, _ arguments: [String]) -> (String, [String]) {
            asRoot ? ("/usr/bin/setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups", "--", executable] + arguments) : (executable, arguments)
        }
        // Trust on loopback only: a test server, never a real one.
        let initdb = command(bin + "/initdb", ["-D", data.path, "-U", "tabula", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C"])
        let made = try run(initdb.0, initdb.1)
        guard made.status == 0 else {
            try? FileManager.default.removeItem(at: directory)
            throw Failure("initdb failed (\(made.status)): \(made.output.suffix(800))")
        }
        let port = try freePort()
        let start = command(bin + "/postgres", [
            "-D", data.path, "-p", "\(port)", "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=\(directory.path)",
            "-c", "fsync=off", "-c", "max_connections=300", "-c", "shared_buffers=32MB",
        ])
        let process = Process()
        process.executableURL = URL(fileURLWithPath: start.0)
        process.arguments = start.1
        let log = directory.appendingPathComponent("server.log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        if asRoot { _ = try run("/bin/chown", ["postgres:postgres", log.path]) }
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        let server = PostgresServer(port: port, user: "tabula", owned: (process, directory))
        // Ready when it answers a query, within 30 s.
        let deadline = Date().addingTimeInterval(30)
        while true {
            if (try? server.psql("postgres", "SELECT 1"))?.status == 0 { break }
            guard process.isRunning, Date() < deadline else {
                let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
                server.stop()
                throw Failure("the PostgreSQL server did not start: \(output.suffix(1200))")
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return server
    }

    /// Runs `body` with a server started for it and stopped afterwards.
    package static func withServer<T>(_ body: (PostgresServer) async throws -> T) async throws -> T {
        let server = try await Self.offThePool { try PostgresServer.start() }
        do {
            let result = try await body(server)
            try await Self.offThePool { server.stop() }
            return result
        } catch {
            _ = try? await Self.offThePool { server.stop() }
            throw error
        }
    }

    /// A new, empty database, and its URL for `--store`.
    package func createDatabase() throws -> String {
        let name = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
        let created = try psql("postgres", "CREATE DATABASE \(name)")
        guard created.status == 0 else { throw Failure("cannot create a database: \(created.output)") }
        return url(database: String(name))
    }

    /// The URL of a database of this server. Its store timeout is generous: the tests share two
    /// cores with compilers and servers, and a store that answers late is not what they test.
    package func url(database: String) -> String {
        "postgres://\(user)@\(host):\(port)/\(database)?sslmode=disable&timeout=30"
    }

    /// Runs SQL with `psql` on a database; its status and output.
    @discardableResult
    package func psql(_ database: String, _ sql: String) throws -> (status: Int32, output: String) {
        try Self.run("/usr/bin/psql", ["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-h", host, "-p", "\(port)", "-U", user, "-d", database, "-c", sql])
    }

    /// Stops the server by its process id (a fast shutdown, then SIGKILL after 10 s) and deletes
    /// its directory. Nothing to do for an external server.
    package func stop() {
        guard let (process, directory) = owned else { return }
        if process.isRunning {
            // SIGINT: PostgreSQL's fast shutdown (SIGTERM would wait for clients to disconnect).
            kill(process.processIdentifier, SIGINT)
            let deadline = Date().addingTimeInterval(10)
            while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }

    /// Stops the server abruptly (SIGKILL), as a crash would, leaving its files.
    package func kill9() {
        guard let (process, _) = owned, process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    // MARK: Helpers

    /// The directory of Debian's PostgreSQL server binaries (the newest version installed).
    private static func binaries() -> String? {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted()
        for version in versions.reversed() where FileManager.default.isExecutableFile(atPath: "\(root)/\(version)/bin/postgres") {
            return "\(root)/\(version)/bin"
        }
        return nil
    }

    private static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure("socket: \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0 else { throw Failure("bind: \(errno)") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    @discardableResult
    private static func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }

    /// Runs blocking work on a thread of its own, never on Swift's cooperative pool.
    package static func offThePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try body() }) }.start()
        }
    }

    package struct Failure: Error, CustomStringConvertible {
        package let description: String
        package init(_ description: String) { self.description = description }
    }
}

/// Runs a suite with one PostgreSQL server, started before its first test and stopped after its
/// last: ``PostgresServer/current`` in its tests.
package struct PostgresScope: SuiteTrait, TestScoping {
    package var isRecursive: Bool { false }

    package func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        try await PostgresServer.withServer { server in
            try await PostgresServer.$current.withValue(server) { try await function() }
        }
    }
}

extension Trait where Self == PostgresScope {
    /// A PostgreSQL server for the suite (see ``PostgresServer``).
    package static var postgres: Self { PostgresScope() }
}
