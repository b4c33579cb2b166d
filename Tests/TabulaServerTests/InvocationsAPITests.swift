import Foundation
import Testing
import TabulaPlatform
import TabulaWire

@Suite("Invocations and activations API")
struct InvocationsAPITests {
    @Test func blockingInvokeWithAndWithoutResult() async throws {
        try await Harness().run { client async throws in
            try await client.deploy("hasher", module: try example("c/hasher.wasm"))
            let result = try await client.send(.post, "/api/v1/namespaces/_/actions/hasher?blocking=true&result=true", body: #"{"text":"abc"}"#)
            #expect(result.status == .ok)
            #expect(result.json == ["length": 3, "rounds": 1, "sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"])
            let id = try #require(result.headers[.init("x-openwhisk-activation-id")!])
            #expect(id.count == 32)

            let record = try await client.send(.post, "/api/v1/namespaces/_/actions/hasher?blocking=true", body: #"{"text":"abc"}"#).json
            #expect(record["response"]?["status"] == "success")
            #expect(record["response"]?["statusCode"] == 0)
            #expect(record["statusCode"] == 0)
            #expect(record["subject"] == "guest")
            guard case .array(let annotations) = record["annotations"] else { Issue.record("no annotations"); return }
            let keys = annotations.compactMap { $0["key"]?.stringValue }
            #expect(keys.contains("path") && keys.contains("kind") && keys.contains("limits") && keys.contains("waitTime"))
            #expect(!keys.contains("initTime"), "the second invocation is warm")
            guard case .array(let logs) = record["logs"], let line = logs.first?.stringValue else { Issue.record("no logs"); return }
            #expect(line.hasSuffix(" stderr: hasher: hashed 3 bytes, 1 rounds"))
            #expect(line.count > 24 && line.contains("T") && line.contains("Z stderr"))

            // The first invocation was the cold start.
            let first = try await client.send(.get, "/api/v1/namespaces/_/activations/\(id)").json
            guard case .array(let firstAnnotations) = first["annotations"] else { Issue.record("no annotations"); return }
            #expect(firstAnnotations.contains { $0["key"] == "initTime" })
        }
    }

    @Test func failuresAre502AndNonBlockingIs202() async throws {
        try await Harness().run { client async throws in
            try await client.deploy("app", module: printing(#"{"error":"no such customer"}"#))
            try await client.deploy("dev", module: printing("not json"))
            let app = try await client.send(.post, "/api/v1/namespaces/_/actions/app?blocking=true&result=true", body: "{}")
            #expect(app.status == .badGateway)
            #expect(app.json == ["error": "no such customer"])
            let dev = try await client.send(.post, "/api/v1/namespaces/_/actions/dev?blocking=true", body: "{}")
            #expect(dev.status == .badGateway)
            #expect(dev.json["response"]?["status"] == "action developer error")
            #expect(dev.json["response"]?["result"] == ["error": "The action did not return a dictionary or array."])

            let accepted = try await client.send(.post, "/api/v1/namespaces/_/actions/app", body: "{}")
            #expect(accepted.status == .accepted)
            let id = try #require(accepted.json["activationId"]?.stringValue)
            var stored = try await client.send(.get, "/api/v1/namespaces/_/activations/\(id)")
            for _ in 0..<100 where stored.status == .notFound {
                try await Task.sleep(for: .milliseconds(50))
                stored = try await client.send(.get, "/api/v1/namespaces/_/activations/\(id)")
            }
            #expect(stored.status == .ok)
            let result = try await client.send(.get, "/api/v1/namespaces/_/activations/\(id)/result").json
            #expect(result == ["status": "application error", "statusCode": 1, "success": false, "result": ["error": "no such customer"]])
            #expect(try await client.send(.get, "/api/v1/namespaces/_/activations/\(id)/logs").json == ["logs": []])
        }
    }

    @Test func blockingInvokeThatOutlastsItsWaitAnswers202() async throws {
        try await Harness().run { client async throws in
            // Runs far longer than the 50 ms wait, even on a machine slowed by the other suites
            // (with a 1 s limit it once timed out before the wait fired: 502, not 202).
            try await client.deploy("slow", module: printing("{}", spin: Int(Int32.max)), extra: #","limits":{"timeout":5000}"#)
            let reply = try await client.send(.post, "/api/v1/namespaces/_/actions/slow?blocking=true&timeout=50", body: "{}")
            #expect(reply.status == .accepted)
            #expect(reply.json["activationId"]?.stringValue?.count == 32)
        }
    }

    @Test func timeLimitIsRecordedInTheActivation() async throws {
        try await Harness().run { client async throws in
            try await client.deploy("spin", module: printing("{}", spin: Int(Int32.max)), extra: #","limits":{"timeout":200}"#)
            let record = try await client.send(.post, "/api/v1/namespaces/_/actions/spin?blocking=true", body: "{}")
            #expect(record.status == .badGateway)
            #expect(record.json["response"]?["result"] == ["error": "The action exceeded its time limits of 200 milliseconds."])
            guard case .array(let annotations) = record.json["annotations"] else { Issue.record("no annotations"); return }
            #expect(annotations.contains { $0["key"] == "timeout" && $0["value"] == true })
        }
    }

    @Test func defaultParametersAndFinal() async throws {
        try await Harness().run { client async throws in
            try await client.deploy("echo", module: try example("echo.wat"), extra: #","parameters":[{"key":"region","value":"eu"},{"key":"n","value":1}]"#)
            let merged = try await client.send(.post, "/api/v1/namespaces/_/actions/echo?blocking=true&result=true", body: #"{"n":2,"x":true}"#)
            #expect(merged.json == ["region": "eu", "n": 2, "x": true])
            try await client.deploy("fixed", module: try example("echo.wat"), extra: #","parameters":[{"key":"region","value":"eu"}],"annotations":[{"key":"final","value":true}]"#)
            let refused = try await client.send(.post, "/api/v1/namespaces/_/actions/fixed?blocking=true", body: #"{"region":"us"}"#)
            #expect(refused.status == .badRequest)
            #expect(try await client.send(.post, "/api/v1/namespaces/_/actions/fixed?blocking=true&result=true", body: #"{"other":1}"#).json == ["region": "eu", "other": 1])
            let notObject = try await client.send(.post, "/api/v1/namespaces/_/actions/echo?blocking=true", body: "[1]")
            #expect(notObject.status == .badRequest)
            let malformed = try await client.send(.post, "/api/v1/namespaces/_/actions/echo?blocking=true", body: "{")
            #expect(malformed.status == .badRequest)
            #expect(try await client.send(.post, "/api/v1/namespaces/_/actions/nothing?blocking=true", body: "{}").status == .notFound)
        }
    }

    @Test func updatingAnActionRetiresItsWarmSandboxes() async throws {
        try await Harness().run { client async throws in
            try await client.deploy("greet", module: printing(#"{"v":1}"#))
            #expect(try await client.send(.post, "/api/v1/namespaces/_/actions/greet?blocking=true&result=true", body: "{}").json == ["v": 1])
            #expect(try await client.send(.post, "/api/v1/namespaces/_/actions/greet?blocking=true&result=true", body: "{}").json == ["v": 1])
            try await client.deploy("greet", module: printing(#"{"v":2}"#))
            let record = try await client.send(.post, "/api/v1/namespaces/_/actions/greet?blocking=true", body: "{}").json
            #expect(record["response"]?["result"] == ["v": 2])
            #expect(record["version"] == "0.0.2")
            guard case .array(let annotations) = record["annotations"] else { Issue.record("no annotations"); return }
            #expect(annotations.contains { $0["key"] == "initTime" })
        }
    }

    @Test func fullQueueAnswers429() async throws {
        // The first run holds the only slot until the test ends it (no grace at shutdown), so the
        // second request finds it taken however slowly a loaded machine serves the test.
        try await Harness(configuration: PlatformConfiguration(concurrency: 1, queueLimit: 0, shutdownGrace: .zero)).run { client async throws in
            try await client.deploy("slow", module: printing("{}", spin: 2_000_000_000), extra: #","limits":{"timeout":60000}"#)
            #expect(try await client.send(.post, "/api/v1/namespaces/_/actions/slow", body: "{}").status == .accepted)
            let refused = try await client.send(.post, "/api/v1/namespaces/_/actions/slow", body: "{}")
            #expect(refused.status == .tooManyRequests)
            #expect(refused.json["error"]?.stringValue?.hasPrefix("Too many concurrent requests in flight") == true)
        }
    }

    @Test func listingActivations() async throws {
        try await Harness().run { client async throws in
            try await client.deploy("a", module: try example("echo.wat"))
            try await client.deploy("b", module: try example("echo.wat"))
            var ids: [String] = []
            for name in ["a", "b", "a"] {
                let reply = try await client.send(.post, "/api/v1/namespaces/_/actions/\(name)?blocking=true", body: "{}")
                ids.append(try #require(reply.json["activationId"]?.stringValue))
                try await Task.sleep(for: .milliseconds(5))
            }
            let all = try await client.send(.get, "/api/v1/namespaces/_/activations").json
            #expect(all.arrayElements?.compactMap { $0["activationId"]?.stringValue } == ids.reversed())
            #expect(all.arrayElements?.first?["response"] == nil, "summaries without docs=true")
            let docs = try await client.send(.get, "/api/v1/namespaces/_/activations?docs=true&limit=1").json
            #expect(docs.arrayElements?.count == 1)
            #expect(docs.arrayElements?.first?["response"]?["status"] == "success")
            #expect(try await client.send(.get, "/api/v1/namespaces/_/activations?name=a").json.arrayElements?.count == 2)
            #expect(try await client.send(.get, "/api/v1/namespaces/_/activations?skip=2").json.arrayElements?.count == 1)
            let second = try await client.send(.get, "/api/v1/namespaces/_/activations/\(ids[1])").json
            let start = try #require(second["start"].flatMap { if case .integer(let v) = $0 { v } else { nil } })
            #expect(try await client.send(.get, "/api/v1/namespaces/_/activations?since=\(start)").json.arrayElements?.count == 2)
            #expect(try await client.send(.get, "/api/v1/namespaces/_/activations?upto=\(start)").json.arrayElements?.count == 2)
            #expect(try await client.send(.get, "/api/v1/namespaces/_/activations?limit=500").status == .badRequest)
            #expect(try await client.send(.get, "/api/v1/namespaces/_/activations/0123456789abcdef0123456789abcdef").status == .notFound)
        }
    }

    @Test func metricsCountInvocations() async throws {
        try await Harness().run { client async throws in
            try await client.deploy("echo", module: try example("echo.wat"))
            for _ in 0..<3 { try await client.send(.post, "/api/v1/namespaces/_/actions/echo?blocking=true", body: "{}") }
            let metrics = try await client.send(.get, "/metrics", as: .anonymous).body
            #expect(metrics.contains(#"tabula_invocations_total{status="success"} 3"#))
            #expect(metrics.contains("tabula_cold_starts_total 1"))
            #expect(metrics.contains("tabula_warm_starts_total 2"))
            #expect(metrics.contains("tabula_invocation_duration_seconds_count 3"))
            #expect(metrics.contains("tabula_rewind_duration_seconds_count 3"))
            #expect(metrics.contains("tabula_queue_depth"))
        }
    }
}

extension JSONValue {
    var arrayElements: [JSONValue]? {
        if case .array(let elements) = self { return elements }
        return nil
    }
}

extension InvocationsAPITests {
    /// The logs limit counts the stored record: a function printing a megabyte of empty lines
    /// (a million lines, each some 40 bytes once prefixed) stores at most about the limit.
    /// Lines of nothing, and lines of control characters (six bytes each once escaped as JSON).
    @Test(arguments: ["0x0a0a0a0a", "0x0a010101"])
    func logsAreLimitedByTheirStoredSize(pattern: String) async throws {
        let newlines = Array("""
        (module
          (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 17)
          (func (export "main")
            (local $i i32)
            (block $done (loop $fill
              (br_if $done (i32.ge_u (local.get $i) (i32.const 1048576)))
              (i32.store (i32.add (i32.const 65536) (local.get $i)) (i32.const \(pattern)))
              (local.set $i (i32.add (local.get $i) (i32.const 4)))
              (br $fill)))
            (i32.store (i32.const 0) (i32.const 65536))
            (i32.store (i32.const 4) (i32.const 1048576))
            (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
            (i32.store (i32.const 0) (i32.const 16))
            (i32.store8 (i32.const 16) (i32.const 0x7b))
            (i32.store8 (i32.const 17) (i32.const 0x7d))
            (i32.store (i32.const 4) (i32.const 2))
            (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
        """.utf8)
        try await Harness().run { client async throws in
            #expect(try await client.deploy("newlines", module: newlines, extra: #","limits":{"logs":1}"#).status == .ok)
            let reply = try await client.send(.post, "/api/v1/namespaces/_/actions/newlines?blocking=true", body: "{}")
            #expect(reply.status == .ok)
            guard case .array(let logs) = reply.json["logs"] else { Issue.record("no logs"); return }
            let stored = JSONValue.array(logs).encoded.count
            #expect(stored <= (1 << 20) + 200, "\(stored) bytes of logs stored")
            #expect(logs.count > 1000)
            #expect(logs.last?.stringValue?.contains("Logs were truncated") == true)
            let id = try #require(reply.json["activationId"]?.stringValue)
            let fetched = try await client.send(.get, "/api/v1/namespaces/_/activations/\(id)/logs")
            #expect(fetched.body.utf8.count < (1 << 20) + 1000)
        }
    }
}
