import Foundation
import Hummingbird
import HummingbirdTesting
import Synchronization
import TabulaAttestation
import TabulaEnclave
import TabulaRuntime
import TabulaWire

/// An ``ActionRuntime`` under HummingbirdTesting, with what it writes on stdout and stderr kept,
/// as OpenWhisk's `ActionContainer` harness keeps a container's `docker logs`.
struct RuntimeHarness {
    let runtime: ActionRuntime
    let enclave: Enclave
    let streams: Streams

    final class Streams: Sendable {
        let stdout = Mutex("")
        let stderr = Mutex("")

        func append(_ stream: ActionRuntime.Stream, _ text: String) {
            if stream == .stdout { stdout.withLock { $0 += text } } else { stderr.withLock { $0 += text } }
        }

        var out: String { stdout.withLock { $0 } }
        var err: String { stderr.withLock { $0 } }

        /// How many sentinel lines each stream holds (OpenWhisk's `checkStreams`).
        var sentinels: (stdout: Int, stderr: Int) {
            (Self.count(out), Self.count(err))
        }

        /// A stream without its sentinel lines, trimmed, as OpenWhisk's tests compare it.
        static func withoutSentinels(_ text: String) -> String {
            text.split(separator: "\n", omittingEmptySubsequences: false)
                .filter { $0 != ActionRuntime.sentinel }
                .joined(separator: "\n")
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }

        static func count(_ text: String) -> Int {
            text.split(separator: "\n", omittingEmptySubsequences: false).filter { $0 == ActionRuntime.sentinel }.count
        }
    }

    init(configuration: RuntimeConfiguration = RuntimeConfiguration()) async throws {
        var configuration = configuration
        configuration.engine = .interpreter
        let monitor = try await Monitor.start(provider: SimulatedTEE.ephemeral())
        enclave = Enclave(monitor: monitor)
        let streams = Streams()
        self.streams = streams
        runtime = ActionRuntime(enclave: enclave, configuration: configuration) { stream, text in streams.append(stream, text) }
    }

    /// Runs `body` against the router, then shuts the enclave down.
    func run(_ body: @Sendable (Client) async throws -> Void) async throws {
        let app = Application(router: RuntimeServer.router(runtime: runtime))
        do {
            try await app.test(.router) { client in try await body(Client(client: client)) }
        } catch {
            try? await enclave.shutdown()
            throw error
        }
        try await enclave.shutdown()
    }

    struct Client: Sendable {
        let client: any TestClientProtocol

        struct Reply: Sendable {
            var status: Int
            var headers: HTTPFields
            var body: String
            var json: JSONValue? { try? JSONValue(parsing: body) }
            func header(_ name: String) -> String? { headers[HTTPFields.Element.Name(name)!] }
        }

        @discardableResult
        func send(_ uri: String, method: HTTPRequest.Method = .post, body: String?) async throws -> Reply {
            try await client.execute(uri: uri, method: method, headers: [.contentType: "application/json"], body: body.map { ByteBuffer(string: $0) }) { response in
                Reply(status: Int(response.status.code), headers: response.headers, body: String(buffer: response.body))
            }
        }

        /// `POST /init` with OpenWhisk's `initPayload(code, main, env)`: all four keys, `env` null
        /// when not given.
        @discardableResult
        func initialize(_ code: String?, main: String = "main", binary: Bool = false, env: [String: JSONValue]? = nil) async throws -> Reply {
            let value: JSONValue = [
                "code": code.map { .string($0) } ?? .null, "main": .string(main), "binary": .bool(binary),
                "env": env.map { .object($0) } ?? .null,
            ]
            return try await send("/init", body: JSONValue.object(["value": value]).encodedString)
        }

        /// `POST /run` with OpenWhisk's `runPayload(args, other)`.
        @discardableResult
        func run(_ arguments: JSONValue, other: [String: JSONValue] = [:]) async throws -> Reply {
            var body = other
            body["value"] = arguments
            return try await send("/run", body: JSONValue.object(body).encodedString)
        }
    }
}

/// Test functions in WAT, for the JSON I/O ABI of docs/functions.md (parameters on stdin, result
/// on stdout, logs on stderr).
enum Functions {
    /// The bytes of `text` as a WAT string.
    static func escaped(_ text: String) -> String {
        text.utf8.map { String(format: "\\%02x", $0) }.joined()
    }

    /// Echoes its parameters, after writing `log` (if any) on stderr; the entry is `main`.
    static func echo(main: String = "main", log: String = "") -> String {
        let logging = log.isEmpty ? "" : """
            (i32.store (i32.const 16) (i32.const 1024))
            (i32.store (i32.const 20) (i32.const \(log.utf8.count)))
            (drop (call $fd_write (i32.const 2) (i32.const 16) (i32.const 1) (i32.const 8)))
            """
        return """
            (module
              (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
              (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
              (memory (export "memory") 33)
              (data (i32.const 1024) "\(escaped(log))")
              (func (export "\(main)")
                (local $total i32)
                (block $done (loop $more
                  (i32.store (i32.const 0) (i32.add (i32.const 65536) (local.get $total)))
                  (i32.store (i32.const 4) (i32.sub (i32.const 2097152) (local.get $total)))
                  (br_if $done (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
                  (br_if $done (i32.eqz (i32.load (i32.const 8))))
                  (local.set $total (i32.add (local.get $total) (i32.load (i32.const 8))))
                  (br $more)))
                \(logging)
                (i32.store (i32.const 0) (i32.const 65536))
                (i32.store (i32.const 4) (local.get $total))
                (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
            """
    }

    /// Writes `text` on stdout, whatever its parameters.
    static func printing(_ text: String) -> String {
        """
        (module
          (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 64) "\(escaped(text))")
          (func (export "main")
            (i32.store (i32.const 0) (i32.const 64))
            (i32.store (i32.const 4) (i32.const \(text.utf8.count)))
            (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
        """
    }

    /// OpenWhisk's unicode test action for `{"delimiter": d}`: returns `{"winter": "d ☃ d"}` and
    /// logs `d ☃ d` (the delimiter is the text between the third and fourth quote of the input).
    static let unicode = """
        (module
          (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 2)
          (data (i32.const 1024) "{\\"winter\\":\\"")
          (data (i32.const 1040) " \(escaped("☃")) ")
          (data (i32.const 1048) "\\"}")
          (data (i32.const 1050) "\\n")
          (func (export "main")
            (local $total i32) (local $i i32) (local $q i32) (local $start i32) (local $end i32) (local $len i32) (local $o i32)
            (block $done (loop $more
              (i32.store (i32.const 0) (i32.add (i32.const 65536) (local.get $total)))
              (i32.store (i32.const 4) (i32.sub (i32.const 65536) (local.get $total)))
              (br_if $done (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
              (br_if $done (i32.eqz (i32.load (i32.const 8))))
              (local.set $total (i32.add (local.get $total) (i32.load (i32.const 8))))
              (br $more)))
            (block $found (loop $scan
              (br_if $found (i32.ge_u (local.get $i) (local.get $total)))
              (if (i32.eq (i32.load8_u (i32.add (i32.const 65536) (local.get $i))) (i32.const 34))
                (then
                  (local.set $q (i32.add (local.get $q) (i32.const 1)))
                  (if (i32.eq (local.get $q) (i32.const 3)) (then (local.set $start (i32.add (local.get $i) (i32.const 1)))))
                  (if (i32.eq (local.get $q) (i32.const 4)) (then (local.set $end (local.get $i)) (br $found)))))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br $scan)))
            (local.set $len (i32.sub (local.get $end) (local.get $start)))
            (memory.copy (i32.const 2048) (i32.const 1024) (i32.const 11))
            (local.set $o (i32.const 2059))
            (memory.copy (local.get $o) (i32.add (i32.const 65536) (local.get $start)) (local.get $len))
            (local.set $o (i32.add (local.get $o) (local.get $len)))
            (memory.copy (local.get $o) (i32.const 1040) (i32.const 5))
            (local.set $o (i32.add (local.get $o) (i32.const 5)))
            (memory.copy (local.get $o) (i32.add (i32.const 65536) (local.get $start)) (local.get $len))
            (local.set $o (i32.add (local.get $o) (local.get $len)))
            (memory.copy (local.get $o) (i32.const 1048) (i32.const 2))
            (local.set $o (i32.add (local.get $o) (i32.const 2)))
            (i32.store (i32.const 0) (i32.const 2048))
            (i32.store (i32.const 4) (i32.sub (local.get $o) (i32.const 2048)))
            (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
            (i32.store (i32.const 16) (i32.const 2059))
            (i32.store (i32.const 20) (i32.sub (i32.sub (local.get $o) (i32.const 2)) (i32.const 2059)))
            (i32.store (i32.const 24) (i32.const 1050))
            (i32.store (i32.const 28) (i32.const 1))
            (drop (call $fd_write (i32.const 2) (i32.const 16) (i32.const 2) (i32.const 8)))))
        """

    /// Returns its environment as a JSON array of "NAME=value" strings (the test values carry no
    /// quotes or backslashes).
    static let environment = """
        (module
          (import "wasi_snapshot_preview1" "environ_sizes_get" (func $sizes (param i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "environ_get" (func $get (param i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 3)
          (func (export "main")
            (local $size i32) (local $i i32) (local $o i32) (local $b i32) (local $previous i32)
            (drop (call $sizes (i32.const 0) (i32.const 4)))
            (local.set $size (i32.load (i32.const 4)))
            (drop (call $get (i32.const 1024) (i32.const 65536)))
            (local.set $o (i32.const 131072))
            (i32.store8 (local.get $o) (i32.const 91))
            (local.set $o (i32.add (local.get $o) (i32.const 1)))
            (local.set $previous (i32.const 0))
            (block $done (loop $next
              (br_if $done (i32.ge_u (local.get $i) (local.get $size)))
              (local.set $b (i32.load8_u (i32.add (i32.const 65536) (local.get $i))))
              (if (i32.eqz (local.get $previous)) (then
                (i32.store8 (local.get $o) (i32.const 34))
                (local.set $o (i32.add (local.get $o) (i32.const 1)))))
              (if (i32.eqz (local.get $b))
                (then
                  (i32.store8 (local.get $o) (i32.const 34))
                  (local.set $o (i32.add (local.get $o) (i32.const 1)))
                  (if (i32.lt_u (i32.add (local.get $i) (i32.const 1)) (local.get $size)) (then
                    (i32.store8 (local.get $o) (i32.const 44))
                    (local.set $o (i32.add (local.get $o) (i32.const 1))))))
                (else
                  (i32.store8 (local.get $o) (local.get $b))
                  (local.set $o (i32.add (local.get $o) (i32.const 1)))))
              (local.set $previous (i32.ne (local.get $b) (i32.const 0)))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br $next)))
            (i32.store8 (local.get $o) (i32.const 93))
            (local.set $o (i32.add (local.get $o) (i32.const 1)))
            (i32.store (i32.const 0) (i32.const 131072))
            (i32.store (i32.const 4) (i32.sub (local.get $o) (i32.const 131072)))
            (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
        """

    /// Counts its invocations in a global and in memory and returns `{"count":N}` (N < 10): 1 on
    /// every invocation when the sandbox is rewound after each.
    static let counter = """
        (module
          (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (global $count (mut i32) (i32.const 0))
          (data (i32.const 100) "{\\"count\\":0}")
          (func (export "main")
            (global.set $count (i32.add (global.get $count) (i32.const 1)))
            (i32.store8 (i32.const 109) (i32.add (i32.load8_u (i32.const 109)) (i32.const 1)))
            (i32.store (i32.const 0) (i32.const 100))
            (i32.store (i32.const 4) (i32.const 11))
            (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
        """

    /// Traps on every invocation.
    static let trap = #"(module (memory (export "memory") 1) (func (export "main") unreachable))"#
}

/// The `{"NAME=value", …}` array of ``Functions/environment`` as a dictionary.
func variables(_ reply: RuntimeHarness.Client.Reply) -> [String: String] {
    guard case .array(let items)? = reply.json else { return [:] }
    var result: [String: String] = [:]
    for case .string(let item) in items {
        guard let equals = item.firstIndex(of: "=") else { continue }
        result[String(item[..<equals])] = String(item[item.index(after: equals)...])
    }
    return result
}

let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("examples")
