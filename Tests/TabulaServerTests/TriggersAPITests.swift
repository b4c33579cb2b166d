import Foundation
import Testing
import TabulaPlatform
import TabulaWire

/// Triggers and rules, with OpenWhisk's documented answers as the expected values (its
/// Triggers.scala, Rules.scala and their API tests).
@Suite("Triggers and rules API")
struct TriggersAPITests {
    @Test func fireRunsTheActiveRulesActions() async throws {
        try await Harness().run { client async throws in
            try await client.deploy("echo", module: try example("echo.wat"))
            let trigger = try await client.send(.put, "/api/v1/namespaces/_/triggers/uploaded", body: #"{"parameters":[{"key":"bucket","value":"b1"},{"key":"size","value":0}]}"#)
            #expect(trigger.status == .ok, "\(trigger.body)")
            #expect(trigger.json["limits"] == [:])
            #expect(trigger.json["rules"] == nil, "no rules field before a rule names it")

            // No rule: 204, nothing recorded.
            let nothing = try await client.send(.post, "/api/v1/namespaces/_/triggers/uploaded", body: #"{"size":1}"#)
            #expect(nothing.status == .noContent)

            let rule = try await client.send(.put, "/api/v1/namespaces/_/rules/onUpload", body: #"{"trigger":"/_/uploaded","action":"/_/echo"}"#)
            #expect(rule.status == .ok, "\(rule.body)")
            #expect(rule.json["status"] == "active")
            #expect(rule.json["trigger"] == ["name": "uploaded", "path": "guest"])
            #expect(rule.json["action"] == ["name": "echo", "path": "guest"])
            let linked = try await client.send(.get, "/api/v1/namespaces/_/triggers/uploaded")
            #expect(linked.json["rules"] == ["guest/onUpload": ["action": ["name": "echo", "path": "guest"], "status": "active"]])

            let fired = try await client.send(.post, "/api/v1/namespaces/_/triggers/uploaded", body: #"{"size":7}"#)
            #expect(fired.status == .accepted, "\(fired.body)")
            guard case .string(let id)? = fired.json["activationId"] else { Issue.record("no id: \(fired.body)"); return }
            #expect(fired.headers[.init("x-openwhisk-activation-id")!] == id)
            let record = try await client.send(.get, "/api/v1/namespaces/_/activations/\(id)")
            #expect(record.json["name"] == "uploaded")
            #expect(record.json["response"]?["result"] == ["size": 7], "the trigger's record holds the payload as sent")
            guard case .string(let line)? = record.json["logs"]?[0], let log = try? JSONValue(parsing: line) else { Issue.record("no rule log"); return }
            #expect(log["rule"] == "guest/onUpload")
            #expect(log["action"] == "guest/echo")
            #expect(log["success"] == true)
            #expect(log["statusCode"] == 0)
            // The action ran with the trigger's parameters under the payload, and the headers.
            guard case .string(let actionID)? = log["activationId"] else { Issue.record("no action id"); return }
            let ran = try await poll(client, actionID)
            #expect(ran?["response"]?["result"]?["bucket"] == "b1")
            #expect(ran?["response"]?["result"]?["size"] == 7)
            #expect(ran?["response"]?["result"]?["__ow_headers"]?["content-type"] == "application/json")
            #expect(ran?["response"]?["result"]?["__ow_headers"]?["authorization"] == nil, "the caller's key is not passed on")

            // Disabled: a fire is 204 again; enabling needs the trigger.
            let disabled = try await client.send(.post, "/api/v1/namespaces/_/rules/onUpload", body: #"{"status":"inactive"}"#)
            #expect(disabled.status == .ok)
            #expect(try await client.send(.get, "/api/v1/namespaces/_/rules/onUpload").json["status"] == "inactive")
            #expect(try await client.send(.post, "/api/v1/namespaces/_/triggers/uploaded", body: "{}").status == .noContent)
            #expect(try await client.send(.post, "/api/v1/namespaces/_/rules/onUpload", body: #"{"status":"xxx"}"#).status == .badRequest)
            #expect(try await client.send(.post, "/api/v1/namespaces/_/rules/onUpload", body: #"{"status":"active"}"#).status == .ok)

            // A second rule, inactive: its line says so; the active one still runs.
            try await client.send(.put, "/api/v1/namespaces/_/rules/second", body: #"{"trigger":"/_/uploaded","action":"guest/echo"}"#)
            try await client.send(.post, "/api/v1/namespaces/_/rules/second", body: #"{"status":"inactive"}"#)
            let both = try await client.send(.post, "/api/v1/namespaces/_/triggers/uploaded", body: "{}")
            guard case .string(let bothID)? = both.json["activationId"] else { Issue.record("no id"); return }
            let lines = try await client.send(.get, "/api/v1/namespaces/_/activations/\(bothID)").json["logs"]
            #expect(lines?.arrayCount == 2)
            #expect(lines?.encodedString.contains("Rule 'guest/second' is inactive, action 'guest/echo' was not activated.") == true)

            // Listing rules omits their status; deleting shows inactive.
            let listed = try await client.send(.get, "/api/v1/namespaces/_/rules")
            #expect(listed.json.arrayCount == 2)
            #expect(listed.json[0]?["status"] == nil)
            #expect(try await client.send(.delete, "/api/v1/namespaces/_/rules/second").json["status"] == "inactive")

            // The trigger deleted: the rule stays, inactive, and cannot be enabled.
            #expect(try await client.send(.delete, "/api/v1/namespaces/_/triggers/uploaded").status == .ok)
            #expect(try await client.send(.get, "/api/v1/namespaces/_/rules/onUpload").json["status"] == "inactive")
            let orphan = try await client.send(.post, "/api/v1/namespaces/_/rules/onUpload", body: #"{"status":"active"}"#)
            #expect(orphan.status == .notFound)
            #expect(orphan.json["error"] == "Only rules with existing triggers can be activated")
            #expect(try await client.send(.post, "/api/v1/namespaces/_/triggers/uploaded", body: "{}").status == .notFound)
            // Created again: its old rule stays inactive until enabled, as OpenWhisk's new trigger has none.
            try await client.send(.put, "/api/v1/namespaces/_/triggers/uploaded", body: "{}")
            #expect(try await client.send(.get, "/api/v1/namespaces/_/rules/onUpload").json["status"] == "inactive")
            #expect(try await client.send(.post, "/api/v1/namespaces/_/triggers/uploaded", body: "{}").status == .noContent)
            #expect(try await client.send(.post, "/api/v1/namespaces/_/rules/onUpload", body: #"{"status":"active"}"#).status == .ok)
            #expect(try await client.send(.post, "/api/v1/namespaces/_/triggers/uploaded", body: "{}").status == .accepted)
        }
    }

    @Test func ruleChecks() async throws {
        try await Harness().run { client async throws in
            try await client.deploy("echo", module: try example("echo.wat"))
            try await client.send(.put, "/api/v1/namespaces/_/triggers/t", body: "{}")
            let neither = try await client.send(.put, "/api/v1/namespaces/_/rules/r", body: "{}")
            #expect(neither.json["error"] == "rule requires a valid trigger and a valid action")
            #expect(try await client.send(.put, "/api/v1/namespaces/_/rules/r", body: #"{"trigger":"/guest/none","action":"/guest/echo"}"#).json["error"] == "trigger /guest/none does not exist")
            #expect(try await client.send(.put, "/api/v1/namespaces/_/rules/r", body: #"{"trigger":"/guest/t","action":"/guest/none"}"#).json["error"] == "action /guest/none does not exist")
            #expect(try await client.send(.put, "/api/v1/namespaces/_/rules/r", body: #"{"trigger":"t","action":"/guest/echo"}"#).status == .badRequest)
            // Another namespace's private actions cannot be probed: 403 whether they exist or not.
            let code = JSONValue.string(String(decoding: try example("echo.wat"), as: UTF8.self)).encodedString
            try await client.send(.put, "/api/v1/namespaces/_/actions/theirs", body: #"{"exec":{"kind":"wasm","code":\#(code)}}"#, as: .other)
            let existing = try await client.send(.put, "/api/v1/namespaces/_/rules/r", body: #"{"trigger":"/guest/t","action":"/other/theirs"}"#)
            let missing = try await client.send(.put, "/api/v1/namespaces/_/rules/r", body: #"{"trigger":"/guest/t","action":"/other/nothing"}"#)
            #expect(existing.status == .forbidden)
            #expect(missing.status == .forbidden)
            #expect(try await client.send(.put, "/api/v1/namespaces/_/actions/s", body: #"{"exec":{"kind":"sequence","components":["/other/theirs"]}}"#).status == .forbidden)
            #expect(try await client.send(.put, "/api/v1/namespaces/_/actions/s", body: #"{"exec":{"kind":"sequence","components":["/other/nothing"]}}"#).status == .forbidden)
            // Another namespace's trigger is not this namespace's to link.
            try await client.send(.put, "/api/v1/namespaces/_/triggers/theirs", body: "{}", as: .other)
            #expect(try await client.send(.put, "/api/v1/namespaces/_/rules/r", body: #"{"trigger":"/other/theirs","action":"/guest/echo"}"#).status == .forbidden)
            // An update keeps the status.
            #expect(try await client.send(.put, "/api/v1/namespaces/_/rules/r", body: #"{"trigger":"/_/t","action":"/_/echo"}"#).status == .ok)
            try await client.send(.post, "/api/v1/namespaces/_/rules/r", body: #"{"status":"inactive"}"#)
            try await client.send(.put, "/api/v1/namespaces/_/triggers/t2", body: "{}")
            let moved = try await client.send(.put, "/api/v1/namespaces/_/rules/r?overwrite=true", body: #"{"trigger":"/_/t2"}"#)
            #expect(moved.json["status"] == "inactive")
            #expect(moved.json["version"] == "0.0.3")
            #expect(moved.json["trigger"] == ["name": "t2", "path": "guest"])
            #expect(try await client.send(.get, "/api/v1/namespaces/_/triggers/t").json["rules"] == nil)
            // Other namespaces see none of it.
            #expect(try await client.send(.get, "/api/v1/namespaces/guest/rules", as: .other).status == .forbidden)
            #expect(try await client.send(.post, "/api/v1/namespaces/guest/triggers/t", body: "{}", as: .other).status == .forbidden)
        }
    }

    /// An action's activation record, once stored (bounded wait: a non-blocking run).
    private func poll(_ client: Harness.Client, _ id: String) async throws -> JSONValue? {
        for _ in 0..<200 {
            let reply = try await client.send(.get, "/api/v1/namespaces/_/activations/\(id)")
            if reply.status == .ok { return reply.json }
            try await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }
}

/// `GET …/limits` and the 429s of a namespace's limits.
@Suite("Namespace limits API")
struct LimitsAPITests {
    @Test func limitsAreShownAndEnforced() async throws {
        var configuration = PlatformConfiguration(concurrency: 2)
        configuration.namespaceLimits = NamespaceLimits(invocationsPerMinute: 3, concurrentInvocations: 30, firesPerMinute: 2)
        let harness = try await Harness(configuration: configuration)
        try await harness.run { client async throws in
            let limits = try await client.send(.get, "/api/v1/namespaces/_/limits")
            #expect(limits.status == .ok)
            #expect(limits.json["invocationsPerMinute"] == 3)
            #expect(limits.json["concurrentInvocations"] == 30)
            #expect(limits.json["firesPerMinute"] == 2)
            #expect(limits.json["maxActionTimeout"] == 300_000)
            #expect(try await client.send(.get, "/api/v1/namespaces/other/limits").status == .forbidden)

            try await client.deploy("echo", module: try example("echo.wat"))
            // The minute may turn between calls: at most one extra round, bounded.
            var refused: Harness.Client.Reply?
            for _ in 0..<8 where refused == nil {
                let reply = try await client.send(.post, "/api/v1/namespaces/_/actions/echo?blocking=true", body: "{}")
                if reply.status == .tooManyRequests { refused = reply }
            }
            #expect(refused?.json["error"] == "Too many requests in the last minute (count: 4, allowed: 3).")
            // Another namespace is counted on its own.
            let code = JSONValue.string(String(decoding: try example("echo.wat"), as: UTF8.self)).encodedString
            #expect(try await client.send(.put, "/api/v1/namespaces/_/actions/echo", body: #"{"exec":{"kind":"wasm","code":\#(code)}}"#, as: .other).status == .ok)
            #expect(try await client.send(.post, "/api/v1/namespaces/_/actions/echo?blocking=true", body: "{}", as: .other).status == .ok)

            // A namespace's own limits, set by the operator, replace the defaults.
            try await harness.platform.setLimits(NamespaceLimits(invocationsPerMinute: 1_000, concurrentInvocations: 0), namespace: "other")
            try await Task.sleep(for: .seconds(6))  // past NamespaceThrottle.recheck
            let own = try await client.send(.get, "/api/v1/namespaces/_/limits", as: .other)
            #expect(own.json["invocationsPerMinute"] == 1_000)
            #expect(own.json["firesPerMinute"] == 2)
            let busy = try await client.send(.post, "/api/v1/namespaces/_/actions/echo?blocking=true", body: "{}", as: .other)
            #expect(busy.status == .tooManyRequests)
            #expect(busy.json["error"] == "Too many concurrent requests in flight (count: 0, allowed: 0).")

            // Fires have their own count.
            try await client.send(.put, "/api/v1/namespaces/_/triggers/t", body: "{}")
            try await client.deploy("noop", module: try example("echo.wat"))
            try await client.send(.put, "/api/v1/namespaces/_/rules/r", body: #"{"trigger":"/_/t","action":"/_/noop"}"#)
            var fireRefused: Harness.Client.Reply?
            for _ in 0..<6 where fireRefused == nil {
                let reply = try await client.send(.post, "/api/v1/namespaces/_/triggers/t", body: "{}")
                if reply.status == .tooManyRequests { fireRefused = reply }
            }
            #expect(fireRefused?.json["error"] == "Too many requests in the last minute (count: 3, allowed: 2).")
        }
    }
}
