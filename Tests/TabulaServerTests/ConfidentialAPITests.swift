import Crypto
import Foundation
import HTTPTypes
import Logging
import Synchronization
import TabulaAttestation
import TabulaPlatform
import TabulaTestSupport
import TabulaWire
import Testing

/// echo.wat, plus a copy of the parameters on stderr: its logs hold plaintext too.
let echoAndLog = Array(String(decoding: try! example("echo.wat"), as: UTF8.self)
    .replacingOccurrences(of: "(drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))", with: "(drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))\n    (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))").utf8)

/// What a client does by hand: fetch and verify the bundle, seal, open.
struct SealingClient {
    let identityKey: P256.Signing.PublicKey
    let configuration: KeyConfiguration

    init(_ client: Harness.Client) async throws {
        let reply = try await client.send(.get, "/api/v1/attestation?nonce=0102", as: .anonymous)
        #expect(reply.status == .ok)
        let bundle = try JSONDecoder().decode(AttestationBundle.self, from: Data(reply.body.utf8))
        let verified = try await IdentityCertificate.verify(Array(bundle.certificate.utf8), nonce: [1, 2], at: Date())
        #expect(verified.claims.tee == "simulated")
        identityKey = verified.publicKey
        configuration = try KeyConfiguration.decodeList(Array(try #require(Data(base64Encoded: bundle.keyConfigs))))[0]
    }

    struct Call {
        let sealed: [UInt8]
        let context: ObliviousHTTP.ClientContext

        func open(_ body: [UInt8]) throws -> BinaryHTTPResponse {
            try BinaryHTTPResponse(decoding: try context.openResponse(body))
        }
    }

    func seal(_ parameters: String, path: String, fields: [BinaryHTTPField] = []) throws -> Call {
        let request = try BinaryHTTPRequest(method: "POST", authority: "localhost", path: path, headerFields: fields, content: Array(parameters.utf8)).encoded()
        let (sealed, context) = try ObliviousHTTP.encapsulateRequest(request, to: configuration)
        return Call(sealed: sealed, context: context)
    }
}

/// Every log line, at every level, kept in memory.
final class LogRecorder: Sendable {
    let lines = Mutex<[String]>([])

    var logger: Logger {
        var logger = Logger(label: "recorded") { _ in Handler(recorder: self) }
        logger.logLevel = .trace
        return logger
    }

    struct Handler: LogHandler {
        let recorder: LogRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let all = metadata.merging(event.metadata ?? [:]) { _, new in new }
            recorder.lines.withLock { $0.append("\(event.level) \(event.message) \(all) \(event.error.map { "\($0)" } ?? "")") }
        }
    }
}

@Suite("Confidential invocation API")
struct ConfidentialAPITests {
    @Test("key configurations and the attestation bundle are public; the function certificate needs the namespace's key")
    func discovery() async throws {
        try await Harness().run { client async throws in
            let keys = try await client.send(.get, "/.well-known/ohttp-gateway", bytes: [], contentType: "application/json", as: .anonymous)
            #expect(keys.status == .ok)
            #expect(keys.headers[.contentType] == "application/ohttp-keys")
            #expect(try KeyConfiguration.decodeList(keys.body).count == 2)

            let bundle = try await client.send(.get, "/api/v1/attestation", as: .anonymous).json
            #expect(bundle["tee"] == "simulated")
            #expect(bundle["epoch"] == 0)
            #expect(bundle["certificate"]?.stringValue?.hasPrefix("-----BEGIN CERTIFICATE-----") == true)
            #expect(try await client.send(.get, "/api/v1/attestation?nonce=xyz", as: .anonymous).status == .badRequest)
            #expect(try await client.send(.get, "/api/v1/attestation?nonce=" + String(repeating: "ab", count: 65), as: .anonymous).status == .badRequest)

            try await client.deploy("echo", module: try example("echo.wat"))
            #expect(try await client.send(.get, "/api/v1/attestation/namespaces/_/actions/echo", as: .anonymous).status == .unauthorized)
            #expect(try await client.send(.get, "/api/v1/attestation/namespaces/guest/actions/echo", as: .other).status == .forbidden)
            #expect(try await client.send(.get, "/api/v1/attestation/namespaces/_/actions/missing").status == .notFound)
            let pem = try await client.send(.get, "/api/v1/attestation/namespaces/_/actions/echo")
            #expect(pem.headers[.contentType] == "application/x-pem-file")
            let sealing = try await SealingClient(client)
            let claims = try FunctionCertificate.verify(Array(pem.body.utf8), identityKey: sealing.identityKey, at: Date())
            #expect(claims.moduleDigest == Array(SHA256.hash(data: try example("echo.wat"))).hex)
            #expect(claims.namespace == "guest" && claims.name == "echo")
        }
    }

    @Test("a blocking confidential invoke answers sealed; the record keeps only the sealed bytes")
    func blocking() async throws {
        try await Harness().run { client async throws in
            try await client.deploy("echo", module: try example("echo.wat"))
            let sealing = try await SealingClient(client)
            let call = try sealing.seal(#"{"n":42}"#, path: "/api/v1/namespaces/guest/actions/echo")
            let reply = try await client.send(.post, "/api/v1/namespaces/_/actions/echo?blocking=true", bytes: call.sealed, contentType: "message/ohttp-req")
            #expect(reply.status == .ok)
            #expect(reply.headers[.contentType] == "message/ohttp-res")
            let inner = try call.open(reply.body)
            #expect(inner.status == 200)
            let result = try JSONDecoder().decode(ConfidentialResult.self, from: Data(inner.content))
            #expect(result.result == ["n": 42])

            let id = try #require(reply.headers[HTTPField.Name("x-openwhisk-activation-id")!])
            let record = try await client.send(.get, "/api/v1/namespaces/_/activations/\(id)").json
            #expect(record["response"]?["status"] == "success")
            guard case .string(let sealed)? = record["response"]?["result"]?["sealed"] else {
                Issue.record("the record holds no sealed result: \(record)")
                return
            }
            #expect(Array(try #require(Data(base64Encoded: sealed))) == reply.body)
            #expect(record["logs"] == [])
            guard case .array(let annotations) = record["annotations"] else { Issue.record("no annotations"); return }
            #expect(annotations.contains { $0["key"] == "confidential" && $0["value"] == true })
            #expect(annotations.contains { $0["key"] == "tee" && $0["value"] == "simulated" })
        }
    }

    @Test("a non-blocking confidential invoke answers 202; the result, fetched later, opens with the kept context")
    func nonBlocking() async throws {
        try await Harness().run { client async throws in
            try await client.deploy("echo", module: try example("echo.wat"))
            let sealing = try await SealingClient(client)
            let call = try sealing.seal(#"{"later":true}"#, path: "/api/v1/namespaces/guest/actions/echo")
            let accepted = try await client.send(.post, "/api/v1/namespaces/_/actions/echo", bytes: call.sealed, contentType: "message/ohttp-req")
            #expect(accepted.status == .accepted)
            let id = try #require(try JSONValue(parsing: accepted.body)["activationId"]?.stringValue)
            var result = try await client.send(.get, "/api/v1/namespaces/_/activations/\(id)/result")
            for _ in 0..<100 where result.status == .notFound {
                try await Task.sleep(for: .milliseconds(50))
                result = try await client.send(.get, "/api/v1/namespaces/_/activations/\(id)/result")
            }
            let sealed = try #require(result.json["result"]?["sealed"]?.stringValue.flatMap { Data(base64Encoded: $0) })
            let inner = try call.open(Array(sealed))
            #expect(try JSONValue(parsing: inner.content)["result"] == ["later": true])
        }
    }

    @Test("flipped bytes, a replay and an unknown key are 400s with a clear error, and the server keeps serving")
    func refusals() async throws {
        try await Harness().run { client async throws in
            try await client.deploy("echo", module: try example("echo.wat"))
            let sealing = try await SealingClient(client)
            let call = try sealing.seal("{}", path: "/api/v1/namespaces/guest/actions/echo")
            for index in stride(from: 0, to: call.sealed.count, by: 7) {
                var altered = call.sealed
                altered[index] ^= 0x80
                let reply = try await client.send(.post, "/api/v1/namespaces/_/actions/echo?blocking=true", bytes: altered, contentType: "message/ohttp-req")
                #expect(reply.status == .badRequest)
                let error = try JSONValue(parsing: reply.body)["error"]?.stringValue ?? ""
                #expect(error.hasPrefix("The sealed request was refused:"), "\(error)")
            }
            let first = try await client.send(.post, "/api/v1/namespaces/_/actions/echo?blocking=true", bytes: call.sealed, contentType: "message/ohttp-req")
            #expect(first.status == .ok)
            let replay = try await client.send(.post, "/api/v1/namespaces/_/actions/echo?blocking=true", bytes: call.sealed, contentType: "message/ohttp-req")
            #expect(replay.status == .badRequest)
            #expect(try JSONValue(parsing: replay.body)["error"]?.stringValue?.contains("already received") == true)

            var unknown = try sealing.seal("{}", path: "/api/v1/namespaces/guest/actions/echo").sealed
            unknown[0] &+= 100
            let stale = try await client.send(.post, "/api/v1/namespaces/_/actions/echo?blocking=true", bytes: unknown, contentType: "message/ohttp-req")
            #expect(stale.status == .badRequest)
            #expect(try JSONValue(parsing: stale.body)["error"]?.stringValue?.contains("fetch the attestation bundle again") == true)
        }
    }

    @Test("a sealed request for another function, or another module, is refused inside the seal")
    func wrongFunctionOrDigest() async throws {
        try await Harness().run { client async throws in
            try await client.deploy("echo", module: try example("echo.wat"))
            try await client.deploy("hasher", module: try example("c/hasher.wasm"))
            let sealing = try await SealingClient(client)
            let forHasher = try sealing.seal(#"{"text":"abc"}"#, path: "/api/v1/namespaces/guest/actions/hasher")
            let misrouted = try await client.send(.post, "/api/v1/namespaces/_/actions/echo?blocking=true", bytes: forHasher.sealed, contentType: "message/ohttp-req")
            #expect(misrouted.status == .ok)
            let refused = try forHasher.open(misrouted.body)
            #expect(refused.status == 400)
            #expect(String(decoding: refused.content, as: UTF8.self).contains("/guest/hasher but was sent to /guest/echo"))

            let hasherDigest = Array(SHA256.hash(data: try example("c/hasher.wasm")))
            let expecting = try sealing.seal("{}", path: "/api/v1/namespaces/guest/actions/echo", fields: [BinaryHTTPField(Confidential.expectDigestField, Confidential.digestValue(hasherDigest))])
            let mismatch = try expecting.open(try await client.send(.post, "/api/v1/namespaces/_/actions/echo?blocking=true", bytes: expecting.sealed, contentType: "message/ohttp-req").body)
            #expect(mismatch.status == 409)
        }
    }

    @Test("policies: requireConfidential refuses plain invokes with 403; invokers opens an action to another namespace")
    func policies() async throws {
        try await Harness().run { client async throws in
            try await client.deploy("secret", module: try example("echo.wat"), extra: #","annotations":[{"key":"requireConfidential","value":true}]"#)
            let plain = try await client.send(.post, "/api/v1/namespaces/_/actions/secret?blocking=true", body: "{}")
            #expect(plain.status == .forbidden)
            #expect(plain.json["error"]?.stringValue?.contains("accepts only confidential invocations") == true)
            let sealing = try await SealingClient(client)
            let call = try sealing.seal("{}", path: "/api/v1/namespaces/guest/actions/secret")
            #expect(try call.open(try await client.send(.post, "/api/v1/namespaces/_/actions/secret?blocking=true", bytes: call.sealed, contentType: "message/ohttp-req").body).status == 200)

            try await client.deploy("shared", module: try example("echo.wat"), extra: #","annotations":[{"key":"invokers","value":["other"]}]"#)
            try await client.deploy("private", module: try example("echo.wat"))
            #expect(try await client.send(.post, "/api/v1/namespaces/guest/actions/shared?blocking=true", body: "{}", as: .other).status == .ok)
            #expect(try await client.send(.post, "/api/v1/namespaces/guest/actions/private?blocking=true", body: "{}", as: .other).status == .forbidden)
            #expect(try await client.send(.get, "/api/v1/namespaces/guest/actions/shared", as: .other).status == .forbidden)

            let bad = try await client.deploy("bad", module: try example("echo.wat"), extra: #","annotations":[{"key":"capabilities","value":["network"]}]"#)
            #expect(bad.status == .badRequest)
            #expect(bad.json["error"]?.stringValue?.contains("network") == true)
        }
    }

    @Test("the store and the server logs of a confidential invocation hold none of its plaintext")
    func noPlaintextOutsideTheEnclave() async throws {
        let recorder = LogRecorder()
        let harness = try await Harness(logger: recorder.logger)
        let marker = "MARKER-\(UUID().uuidString)"
        let directory = harness.directory
        try await harness.run { client async throws in
            try await client.deploy("tee", module: echoAndLog)
            let sealing = try await SealingClient(client)
            for blocking in [true, false] {
                let call = try sealing.seal(#"{"payload":"\#(marker)"}"#, path: "/api/v1/namespaces/guest/actions/tee")
                let reply = try await client.send(.post, "/api/v1/namespaces/_/actions/tee?blocking=\(blocking)", bytes: call.sealed, contentType: "message/ohttp-req")
                if blocking {
                    let inner = try call.open(reply.body)
                    let result = try JSONDecoder().decode(ConfidentialResult.self, from: Data(inner.content))
                    #expect(result.result == ["payload": .string(marker)])
                    #expect(result.logs.contains { $0.contains(marker) }, "the function logged the marker inside the enclave")
                }
            }
            // The control: a plain invocation's parameters do reach the store, so the search works.
            let control = "PLAIN-\(UUID().uuidString)"
            #expect(try await client.send(.post, "/api/v1/namespaces/_/actions/tee?blocking=true", body: #"{"payload":"\#(control)"}"#).status == .ok)
            try await Task.sleep(for: .milliseconds(300))
            let listed = try await client.send(.get, "/api/v1/namespaces/_/activations?docs=true")
            #expect(listed.status == .ok)
            #expect(!listed.body.contains(marker))

            // The SQLite files as they are on disk, write-ahead log included.
            let files = try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
            #expect(files.contains { $0.lastPathComponent == "tabula.db" })
            var controlFound = false
            for file in files {
                let bytes = try Data(contentsOf: file)
                #expect(bytes.range(of: Data(marker.utf8)) == nil, "\(file.lastPathComponent) holds the plaintext")
                if bytes.range(of: Data(control.utf8)) != nil { controlFound = true }
            }
            #expect(controlFound, "the plain invocation's parameters are in the store")
            #expect(try await client.send(.get, "/api/v1/namespaces/_/activations?docs=true").body.contains("sealed"))
        }
        #expect(recorder.lines.withLock { !$0.isEmpty }, "the recorder saw the server's logs")
        #expect(recorder.lines.withLock { $0.allSatisfy { !$0.contains(marker) } })
    }

    @Test("flawed inner requests are refused without their plaintext in the answer, the store or the logs")
    func flawedRequestsLeaveNoPlaintext() async throws {
        let recorder = LogRecorder()
        let harness = try await Harness(logger: recorder.logger)
        let marker = "mk" + Array(SHA256.hash(data: Array(UUID().uuidString.utf8))).hex.prefix(24)
        let directory = harness.directory
        try await harness.run { client async throws in
            try await client.deploy("echo", module: try example("echo.wat"))
            let sealing = try await SealingClient(client)
            for flawed in MarkedInnerRequest.all(marker: marker, namespace: "guest", action: "echo") {
                let (sealed, context) = try ObliviousHTTP.encapsulateRequest(flawed.bytes, to: sealing.configuration)
                let reply = try await client.send(.post, "/api/v1/namespaces/_/actions/echo?blocking=true", bytes: sealed, contentType: "message/ohttp-req")
                #expect(!String(decoding: reply.body, as: UTF8.self).contains(marker), "\(flawed)")
                #expect(!reply.headers.contains { $0.value.contains(marker) }, "\(flawed)")
                if flawed.decodes {
                    #expect(reply.status == .ok, "\(flawed)")
                    let inner = try BinaryHTTPResponse(decoding: try context.openResponse(reply.body))
                    #expect((400..<500).contains(inner.status), "\(flawed): \(inner.status)")
                } else {
                    #expect(reply.status == .badRequest, "\(flawed)")
                    #expect(try JSONValue(parsing: reply.body)["error"]?.stringValue?.hasPrefix("The sealed request was refused:") == true, "\(flawed)")
                }
            }
            // Still serving.
            let call = try sealing.seal(#"{"after":true}"#, path: "/api/v1/namespaces/guest/actions/echo")
            let after = try await client.send(.post, "/api/v1/namespaces/_/actions/echo?blocking=true", bytes: call.sealed, contentType: "message/ohttp-req")
            #expect(try JSONValue(parsing: try call.open(after.body).content)["result"] == ["after": true])

            let listed = try await client.send(.get, "/api/v1/namespaces/_/activations?docs=true&limit=200")
            #expect(listed.status == .ok)
            #expect(!listed.body.contains(marker))
            for file in try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil) {
                #expect(try Data(contentsOf: file).range(of: Data(marker.utf8)) == nil, "\(file.lastPathComponent) holds the plaintext")
            }
        }
        #expect(recorder.lines.withLock { $0.allSatisfy { !$0.contains(marker) } })
    }
}
