import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Prometheus
import TabulaAttestation
import TabulaEnclave
import TabulaPlatform
import TabulaServer
import TabulaWire

/// A platform over a fresh SQLite file, and its router under HummingbirdTesting.
struct Harness {
    let directory: URL
    let store: Store
    let platform: Platform
    let registry = PrometheusCollectorRegistry()
    let guest: Store.Credentials
    let other: Store.Credentials

    /// - Parameter logger: the platform's and the server's logger; quiet (errors only) by default.
    init(configuration: PlatformConfiguration = PlatformConfiguration(concurrency: 2), logger: Logger? = nil) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tabula-server-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        store = try Store(path: directory.appendingPathComponent("tabula.db").path)
        guest = try await store.createNamespace("guest")
        other = try await store.createNamespace("other")
        var quiet = Logger(label: "test")
        quiet.logLevel = .error
        self.logger = logger ?? quiet
        let monitor = try await Monitor.start(provider: SimulatedTEE.ephemeral(), isolation: configuration.isolation)
        platform = Platform(store: store, configuration: configuration, monitor: monitor, metricsFactory: PrometheusMetricsFactory(registry: registry), logger: self.logger)
    }

    let logger: Logger

    /// Runs `body` against the router, then stops the platform and removes the files.
    func run(_ body: @Sendable (Client) async throws -> Void) async throws {
        let app = Application(router: Server.router(platform: platform, registry: registry), logger: logger)
        do {
            try await app.test(.router) { client in try await body(Client(client: client, guest: guest, other: other)) }
        } catch {
            try? await platform.shutdown()
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
        try await platform.shutdown()
        try? FileManager.default.removeItem(at: directory)
    }

    struct Client: Sendable {
        let client: any TestClientProtocol
        let guest: Store.Credentials
        let other: Store.Credentials

        struct Reply: Sendable {
            var status: HTTPResponse.Status
            var headers: HTTPFields
            var body: String
            var json: JSONValue { (try? JSONValue(parsing: body)) ?? .null }
        }

        enum Caller: Sendable {
            case guest, other, anonymous
            case basic(String)
        }

        /// Sends a request as the guest namespace, unless told otherwise.
        @discardableResult
        func send(_ method: HTTPRequest.Method, _ uri: String, body: String? = nil, as caller: Caller = .guest) async throws -> Reply {
            var headers: HTTPFields = [.contentType: "application/json"]
            let authorization: String? = switch caller {
            case .guest: "\(guest.uuid):\(guest.key)"
            case .other: "\(other.uuid):\(other.key)"
            case .anonymous: nil
            case .basic(let text): text
            }
            if let authorization {
                headers[.authorization] = "Basic " + Data(authorization.utf8).base64EncodedString()
            }
            return try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }) { response in
                Reply(status: response.status, headers: response.headers, body: String(buffer: response.body))
            }
        }

        /// Sends raw bytes with a content type, as the guest namespace unless told otherwise.
        func send(_ method: HTTPRequest.Method, _ uri: String, bytes: [UInt8], contentType: String, as caller: Caller = .guest) async throws -> (status: HTTPResponse.Status, headers: HTTPFields, body: [UInt8]) {
            var headers: HTTPFields = [.contentType: contentType]
            let authorization: String? = switch caller {
            case .guest: "\(guest.uuid):\(guest.key)"
            case .other: "\(other.uuid):\(other.key)"
            case .anonymous: nil
            case .basic(let text): text
            }
            if let authorization {
                headers[.authorization] = "Basic " + Data(authorization.utf8).base64EncodedString()
            }
            return try await client.execute(uri: uri, method: method, headers: headers, body: ByteBuffer(bytes: bytes)) { response in
                (response.status, response.headers, Array(buffer: response.body))
            }
        }

        /// Deploys a module as an action of guest.
        @discardableResult
        func deploy(_ name: String, module: [UInt8], extra: String = "") async throws -> Reply {
            let code = module.starts(with: [0, 0x61, 0x73, 0x6D]) ? Data(module).base64EncodedString() : String(decoding: module, as: UTF8.self)
            let exec = JSONValue.object(["kind": "wasm", "code": .string(code)]).encodedString
            return try await send(.put, "/api/v1/namespaces/_/actions/\(name)?overwrite=true", body: "{\"exec\":\(exec)\(extra)}")
        }
    }
}

let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("examples")

func example(_ path: String) throws -> [UInt8] {
    Array(try Data(contentsOf: examples.appendingPathComponent(path)))
}

/// A WAT function that prints `text` on stdout, after spinning `spin` times.
func printing(_ text: String, spin: Int = 0) -> [UInt8] {
    let escaped = text.utf8.map { String(format: "\\%02x", $0) }.joined()
    return Array("""
    (module
      (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 64) "\(escaped)")
      (func (export "main")
        (local $i i32)
        (block $done (loop $spin
          (br_if $done (i32.ge_u (local.get $i) (i32.const \(spin))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $spin)))
        (i32.store (i32.const 0) (i32.const 64))
        (i32.store (i32.const 4) (i32.const \(text.utf8.count)))
        (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
    """.utf8)
}
