import Foundation
import Testing
import TabulaEnclave
import TabulaPlatform
import TabulaWire

/// Names are one spelling, compared as bytes: canonically equivalent and confusable spellings of
/// a tenant's or an action's name never reach it (issue #12, point 4).
@Suite("Tenant identity")
struct TenantIdentityTests {
    /// Spellings that Swift's `==` takes for `guest` or a name like it, or that a person would.
    static let confusables = [
        "caf\u{E9}",            // precomposed é
        "cafe\u{301}",          // e + combining acute: == the line above in Swift
        "\u{212A}ate",          // KELVIN SIGN: == "Kate" in Swift
        "\u{FF47}uest",         // fullwidth g
        "gu\u{435}st",          // Cyrillic е
        "guest ",               // trailing space
        " guest",               // leading space
        "gu\u{0}est",           // NUL
        "gu/est",
        String(repeating: "a", count: 257),
    ]

    /// A path segment as a client would send it.
    static func segment(_ name: String) -> String {
        name.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? name
    }

    @Test func theRuleIsOpenWhisksInASCII() {
        // The premise: Swift's String equality is canonical equivalence.
        #expect("caf\u{E9}" == "cafe\u{301}")
        #expect("\u{212A}ate" == "Kate")
        #expect(!EntityName.same("\u{212A}ate", "Kate"))
        for valid in ["a", "_", "guest", "a b", "x@y.z-1", "_private", "a@", "a.", "a-", String(repeating: "a", count: 256)] {
            #expect(EntityName.isValid(valid), "\(valid)")
        }
        for invalid in Self.confusables + ["", "-a", ".a", "@a", "a ", "a\tb", "a\nb", "a%b", "a:b"] {
            #expect(!EntityName.isValid(invalid), "\(invalid.debugDescription)")
        }
    }

    @Test func everyCheckComparesBytes() {
        // The warm pool, the enclave's function table and the action cache are keyed by FunctionName.
        let kate = FunctionName(namespace: "Kate", name: "k")
        let kelvin = FunctionName(namespace: "\u{212A}ate", name: "k")
        #expect(kate != kelvin)
        #expect(Set([kate, kelvin]).count == 2)
        #expect(FunctionName(namespace: "n", name: "caf\u{E9}") != FunctionName(namespace: "n", name: "cafe\u{301}"))
        // The enclave's policy: owner and invokers.
        #expect(!Policy().allows(caller: "\u{212A}ate", owner: "Kate"))
        #expect(!Policy(invokers: ["Kate"]).allows(caller: "\u{212A}ate", owner: "guest"))
        #expect(Policy(invokers: ["Kate"]).allows(caller: "Kate", owner: "guest"))
    }

    @Test func namespacesOutsideTheRuleAreRefused() async throws {
        let harness = try await Harness()
        for name in Self.confusables + ["_", ""] {
            await #expect(throws: PlatformError.self, "\(name.debugDescription)") { _ = try await harness.store.createNamespace(name) }
        }
        do {
            _ = try await harness.store.createNamespace("_")
        } catch let error as PlatformError {
            #expect(error.code == .badRequest)
            #expect(error.message.contains("reserved"))
        }
        _ = try await harness.store.createNamespace("a b@c.d-e_f")
        #expect(try await harness.store.namespaces().contains("a b@c.d-e_f"))
        try await harness.run { _ in }
    }

    @Test func actionNamesAndInvokersOutsideTheRuleAreRefused() async throws {
        try await Harness().run { client async throws in
            for name in Self.confusables where !name.contains("/") {
                let reply = try await client.send(.put, "/api/v1/namespaces/_/actions/\(Self.segment(name))", body: #"{"exec":{"kind":"wasm","code":"(module (func (export \"main\")))"}}"#)
                #expect(reply.status == .badRequest, "\(name.debugDescription): \(reply.body)")
                #expect(reply.json["error"]?.stringValue?.contains("is not valid") == true, "\(reply.body)")
            }
            let invokers = try await client.deploy("shared", module: printing("{}"), extra: #","annotations":[{"key":"invokers","value":["othe\u0440"]}]"#)
            #expect(invokers.status == .badRequest)
            #expect(invokers.json["error"]?.stringValue?.contains("invokers") == true)
            #expect(try await client.send(.get, "/api/v1/namespaces/_/actions?count=true").json == ["actions": 0])
        }
    }

    /// guest's action, parameters, activations and logs stay guest's whatever spelling another
    /// tenant (or guest itself) uses.
    @Test func confusableSpellingsReachNothing() async throws {
        let harness = try await Harness()
        let kate = try await harness.store.createNamespace("Kate")
        try await harness.run { client async throws in
            let secretModule = printing(#"{"from":"guest"}"#)
            let deployed = try await client.deploy("hello", module: secretModule, extra: #","parameters":[{"key":"secret","value":"guest-only"}],"annotations":[{"key":"invokers","value":["Kate"]}]"#)
            #expect(deployed.status == .ok)
            let invoked = try await client.send(.post, "/api/v1/namespaces/_/actions/hello?blocking=true", body: "{}")
            #expect(invoked.status == .ok)
            let id = try #require(invoked.json["activationId"]?.stringValue)

            // Kate may invoke it (she is listed); a spelling of Kate that Swift takes for hers is no one.
            let asKate = Harness.Client.Caller.basic("\(kate.uuid):\(kate.key)")
            #expect(try await client.send(.post, "/api/v1/namespaces/guest/actions/hello?blocking=true", body: "{}", as: asKate).status == .ok)
            #expect(try await client.send(.get, "/api/v1/namespaces/\(Self.segment("\u{212A}ate"))/actions", as: asKate).status == .forbidden)

            for spelling in Self.confusables + ["GUEST", "Guest"] {
                let ns = Self.segment(spelling)
                for caller in [Harness.Client.Caller.other, asKate, .guest] {
                    let replies = [
                        try await client.send(.get, "/api/v1/namespaces/\(ns)/actions/hello", as: caller),
                        try await client.send(.get, "/api/v1/namespaces/\(ns)/actions", as: caller),
                        try await client.send(.post, "/api/v1/namespaces/\(ns)/actions/hello?blocking=true", body: "{}", as: caller),
                        try await client.send(.put, "/api/v1/namespaces/\(ns)/actions/hello?overwrite=true", body: #"{"exec":{"kind":"wasm","code":"(module (func (export \"main\")))"}}"#, as: caller),
                        try await client.send(.delete, "/api/v1/namespaces/\(ns)/actions/hello", as: caller),
                        try await client.send(.get, "/api/v1/namespaces/\(ns)/activations", as: caller),
                        try await client.send(.get, "/api/v1/namespaces/\(ns)/activations/\(id)", as: caller),
                        try await client.send(.get, "/api/v1/namespaces/\(ns)/activations/\(id)/logs", as: caller),
                        try await client.send(.get, "/api/v1/attestation/namespaces/\(ns)/actions/hello", as: caller),
                    ]
                    for reply in replies {
                        #expect([.badRequest, .forbidden, .notFound].contains(reply.status), "\(spelling.debugDescription): \(reply.status) \(reply.body)")
                        #expect(!reply.body.contains("guest-only") && !reply.body.contains(#"\"from\""#))
                    }
                }
                // And guest's own action, under another spelling of its name.
                for name in [spelling, "hell\u{F6}", "hello ", "h\u{435}llo", "\u{FF48}ello"] where !name.contains("/") {
                    let reply = try await client.send(.post, "/api/v1/namespaces/_/actions/\(Self.segment(name))?blocking=true", body: "{}")
                    #expect([.badRequest, .notFound].contains(reply.status), "\(name.debugDescription): \(reply.status)")
                }
            }
            // Nothing was replaced or deleted, and guest's record is intact.
            let action = try await client.send(.get, "/api/v1/namespaces/_/actions/hello")
            #expect(action.json["version"] == "0.0.1")
            #expect(action.json["parameters"] == [["key": "secret", "value": "guest-only"]])
            #expect(try await client.send(.get, "/api/v1/namespaces/_/activations/\(id)").status == .ok)
        }
    }

    /// A namespace deleted and created again by the admin command (another process, on the same
    /// database) goes to its new owner empty: the old owner's code, parameters and warm sandboxes
    /// are never served to it, even for an action of the same name and module (issue #12, point 5).
    @Test func aRecreatedNamespaceNeverServesItsOldOwnersActions() async throws {
        let harness = try await Harness()
        let team = try await harness.store.createNamespace("team")
        // What `tabula namespace delete --data-dir` opens: its own Store on the same file.
        let admin = try Store(path: harness.directory.appendingPathComponent("tabula.db").path)
        try await harness.run { client async throws in
            let echo = JSONValue.string(String(decoding: try example("echo.wat"), as: UTF8.self)).encodedString
            let put = #"{"exec":{"kind":"wasm","code":\#(echo)},"parameters":[{"key":"secret","value":"OWNER-ONE"}]}"#
            let asOld = Harness.Client.Caller.basic("\(team.uuid):\(team.key)")
            #expect(try await client.send(.put, "/api/v1/namespaces/_/actions/f", body: put, as: asOld).status == .ok)
            let first = try await client.send(.post, "/api/v1/namespaces/_/actions/f?blocking=true&result=true", body: "{}", as: asOld)
            #expect(first.json["secret"] == "OWNER-ONE")

            #expect(try await admin.deleteNamespace("team"))
            let new = try await admin.createNamespace("team")
            let asNew = Harness.Client.Caller.basic("\(new.uuid):\(new.key)")
            // The new owner sees nothing of the old one's.
            let invoked = try await client.send(.post, "/api/v1/namespaces/_/actions/f?blocking=true&result=true", body: "{}", as: asNew)
            #expect(invoked.status == .notFound, "\(invoked.body)")
            #expect(!invoked.body.contains("OWNER-ONE"))
            #expect(try await client.send(.get, "/api/v1/namespaces/_/actions/f", as: asNew).status == .notFound)
            #expect(try await client.send(.get, "/api/v1/namespaces/_/activations", as: asNew).json == [])
            // The same module under the same name: its own parameters, not the warm sandbox's owner's.
            let mine = #"{"exec":{"kind":"wasm","code":\#(echo)},"parameters":[{"key":"secret","value":"OWNER-TWO"}]}"#
            #expect(try await client.send(.put, "/api/v1/namespaces/_/actions/f", body: mine, as: asNew).status == .ok)
            let second = try await client.send(.post, "/api/v1/namespaces/_/actions/f?blocking=true", body: "{}", as: asNew)
            #expect(second.json["response"]?["result"]?["secret"] == "OWNER-TWO")
            // A fresh load for the new owner, not the old owner's warm sandbox.
            guard case .array(let annotations) = second.json["annotations"] else { Issue.record("no annotations"); return }
            #expect(annotations.contains { $0["key"] == "initTime" })
            // And the old credentials, once the new owner was seen, open nothing.
            let old = try await client.send(.post, "/api/v1/namespaces/_/actions/f?blocking=true&result=true", body: "{}", as: asOld)
            #expect(old.status == .unauthorized, "\(old.body)")
        }
    }
}
