import Foundation
import Testing
import TabulaClient
import TabulaWire

/// Packages, bindings, sequences, triggers, rules and limits through the CLI, as a `wsk` user
/// drives them, against a real `tabula serve`; and the same entities through the Swift SDK.
@Suite("tabula package, trigger, rule, --sequence, live", .serialized)
struct OpenWhiskCLITests {
    /// A CLI user of `server` with its own configuration directory (no state shared with the
    /// server's data directory, which the tests read as the operator's).
    struct User {
        let directory: URL
        let environment: [String: String]

        init(_ server: ServerProcess, auth: String) throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("tabula-user-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            environment = ["TABULA_CONFIG_DIR": directory.path, "TABULA_APIHOST": server.apiHost.absoluteString, "TABULA_AUTH": auth]
        }

        @discardableResult
        func tabula(_ arguments: [String]) async throws -> RunCommandTests.Output {
            try await RunCommandTests.tabula(arguments, environment: environment)
        }

        /// Runs a command that must succeed, and answers its stdout.
        @discardableResult
        func ok(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
            let output = try await tabula(arguments)
            #expect(output.status == 0, "tabula \(arguments.joined(separator: " ")): \(output.stdout) \(output.stderr)", sourceLocation: sourceLocation)
            return output.stdout
        }

        /// An activation record, once stored (bounded: 20 s).
        func record(_ id: String) async throws -> JSONValue? {
            for _ in 0..<100 {
                let output = try await tabula(["activation", "get", id, "--json"])
                if output.status == 0 { return try JSONValue(parsing: output.stdout) }
                try await Task.sleep(for: .milliseconds(200))
            }
            return nil
        }

        func remove() {
            try? FileManager.default.removeItem(at: directory)
        }
    }

    /// The records every pipeline run here sorts by age and uppercases; `city` is dropped by the
    /// package's `select` parameter.
    static func records(_ first: String, _ second: String) -> String {
        #"[{"name":"\#(first)","age":40,"city":"Lyon"},{"name":"\#(second)","age":30,"city":"Oslo"}]"#
    }

    /// A package `shop` that selects name and age, `shop/sorter` (transform sorting by age), `upper`
    /// (transform uppercasing names) and the sequence `pipeline` of both, all made by the CLI.
    static func deployPipeline(_ user: User) async throws {
        #expect(try await user.ok(["package", "create", "shop", "-p", "select", #"["name","age"]"#]).contains("ok: created package shop"))
        #expect(try await user.ok(["action", "create", "shop/sorter", "examples/c/transform.wasm", "-p", "sortBy", "age"]).contains("ok: created action shop/sorter"))
        try await user.ok(["action", "create", "upper", "examples/c/transform.wasm", "-p", "uppercase", #"["name"]"#])
        #expect(try await user.ok(["action", "create", "pipeline", "--sequence", "shop/sorter,upper"]).contains("ok: created action pipeline"))
    }

    @Test func aSequenceOfPackagedActionsRunsPlainlyAndConfidentially() async throws {
        let server = try await ServerProcess()
        defer { _ = server.terminate(); server.removeData() }
        let user = try User(server, auth: try server.auth)
        defer { user.remove() }
        try await Self.deployPipeline(user)

        // The components as the CLI qualified them and the server resolved them.
        let sequence = try JSONValue(parsing: try await user.ok(["action", "get", "pipeline", "--json"]))
        #expect(sequence["exec"] == ["kind": "sequence", "components": ["/guest/shop/sorter", "/guest/upper"]])
        #expect(try await user.ok(["action", "list"]).contains("sequence"))
        let package = try JSONValue(parsing: try await user.ok(["package", "get", "shop", "--json"]))
        #expect(package["parameters"] == [["key": "select", "value": ["name", "age"]]])
        #expect(package["actions"]?[0]?["name"] == "sorter")

        // FILE and --sequence: exactly one; a sequence takes no parameters of its own.
        let neither = try await user.tabula(["action", "create", "x"])
        #expect(neither.status != 0 && neither.stderr.contains("exactly one of FILE"), "\(neither.stderr)")
        let both = try await user.tabula(["action", "create", "x", "examples/echo.wat", "--sequence", "upper"])
        #expect(both.status != 0 && both.stderr.contains("exactly one of FILE"), "\(both.stderr)")
        let parameters = try await user.tabula(["action", "create", "x", "--sequence", "upper", "-p", "a", "1"])
        #expect(parameters.status != 0 && parameters.stderr.contains("no parameters"), "\(parameters.stderr)")
        let missing = try await user.tabula(["action", "create", "x", "--sequence", "upper,nothere"])
        #expect(missing.status == 1 && missing.stderr.contains("Sequence component does not exist."), "\(missing.stderr)")
        let again = try await user.tabula(["action", "create", "pipeline", "--sequence", "upper"])
        #expect(again.status == 1 && again.stderr.contains("tabula action update"), "\(again.stderr)")
        #expect(try await user.ok(["action", "update", "pipeline", "--sequence", "shop/sorter,/_/upper"]).contains("ok: updated action pipeline"))

        // Plain: sorted by age, names uppercased, city dropped by the package's parameter.
        let plain = try await user.ok(["action", "invoke", "pipeline", "--plain", "--result", "--json", "-p", "records", Self.records("bob", "alice")])
        #expect(try JSONValue(parsing: plain)["records"] == [["name": "ALICE", "age": 30], ["name": "BOB", "age": 40]], "\(plain)")

        // Confidential (the default): the same result, opened and verified by the CLI only.
        let sealed = try await user.ok(["action", "invoke", "pipeline", "--blocking", "--json", "--allow-simulated", "-p", "records", Self.records("quintus", "octavia")])
        let opened = try JSONValue(parsing: sealed)
        #expect(opened["result"]?["records"] == [["name": "OCTAVIA", "age": 30], ["name": "QUINTUS", "age": 40]], "\(sealed)")
        let id = try #require(opened["activationId"]?.stringValue)
        #expect(opened["receipt"] != nil && opened["receipt"] != .null, "the answer carries its receipt")
        let stored = try #require(try await user.record(id), "the confidential activation is stored")
        #expect(stored["name"] == "pipeline")

        // The store and the server's output hold the plain run's names and none of the sealed
        // one's: the scan reads what the store keeps (ALICE is there), so its silence counts.
        var store = Data()
        let files = FileManager.default.enumerator(at: server.dataDirectory, includingPropertiesForKeys: [.isRegularFileKey])
        while let file = files?.nextObject() as? URL {
            if (try? file.resourceValues(forKeys: [.isRegularFileKey]))?.isRegularFile == true { store += (try? Data(contentsOf: file)) ?? Data() }
        }
        #expect(store.range(of: Data("ALICE".utf8)) != nil, "the scan does not see the store")
        for secret in ["quintus", "QUINTUS", "octavia", "OCTAVIA"] {
            #expect(store.range(of: Data(secret.utf8)) == nil, "\(secret) is in the server's data directory")
            #expect(!(server.stdout + server.stderr).contains(secret), "\(secret) is in the server's output")
        }

        // Deleting the package: refused while it holds sorter, then forced; the sequence then
        // names a component that is gone.
        let refused = try await user.tabula(["package", "delete", "shop"])
        #expect(refused.status == 1 && refused.stderr.contains("Package not empty (contains 1 entity)") && refused.stderr.contains("--force"), "\(refused.stderr)")
        #expect(try await user.tabula(["action", "get", "shop/sorter"]).status == 0, "a refused delete deletes nothing")
        #expect(try await user.ok(["package", "delete", "shop", "--force"]).contains("ok: deleted package shop"))
        #expect(try await user.tabula(["action", "get", "shop/sorter"]).status == 1)
        #expect(try await user.tabula(["package", "get", "shop"]).status == 1)
        let broken = try await user.tabula(["action", "invoke", "pipeline", "--plain", "--result", "-p", "records", "[]"])
        #expect(broken.status == 2 && broken.stdout.contains("Sequence component does not exist."), "\(broken.stdout) \(broken.stderr)")
    }

    @Test func aTriggerRunsTheSequenceThroughARuleUntilItIsDisabled() async throws {
        let server = try await ServerProcess()
        defer { _ = server.terminate(); server.removeData() }
        let user = try User(server, auth: try server.auth)
        defer { user.remove() }
        try await Self.deployPipeline(user)

        #expect(try await user.ok(["trigger", "create", "uploaded", "-p", "source", "cli"]).contains("ok: created trigger uploaded"))
        let none = try await user.ok(["trigger", "fire", "uploaded"])
        #expect(none.contains("no rule of it is active") && !none.contains("with id"), "\(none)")
        #expect(try await user.ok(["rule", "create", "onUpload", "uploaded", "pipeline"]).contains("ok: created rule onUpload"))
        let rule = try JSONValue(parsing: try await user.ok(["rule", "get", "onUpload", "--json"]))
        #expect(rule["status"] == "active")
        #expect(rule["trigger"] == ["name": "uploaded", "path": "guest"])
        #expect(rule["action"] == ["name": "pipeline", "path": "guest"])
        let trigger = try JSONValue(parsing: try await user.ok(["trigger", "get", "uploaded", "--json"]))
        #expect(trigger["rules"]?["guest/onUpload"]?["status"] == "active")
        #expect(try await user.ok(["trigger", "list"]).contains("/guest/uploaded"))
        #expect(try await user.ok(["rule", "list"]).contains("/guest/uploaded -> /guest/pipeline"))

        // Fired: the trigger's activation names the rule's, which ran the sequence on the event.
        let fired = try await user.ok(["trigger", "fire", "uploaded", "-p", "records", Self.records("bob", "alice")])
        let prefix = "ok: triggered /_/uploaded with id "
        let line = try #require(fired.split(separator: "\n").first { $0.hasPrefix(prefix) }, "\(fired)")
        let id = String(line.dropFirst(prefix.count))
        let record = try #require(try await user.record(id))
        #expect(record["name"] == "uploaded")
        let log = try JSONValue(parsing: try #require(record["logs"]?[0]?.stringValue, "no rule line: \(record)"))
        #expect(log["rule"] == "guest/onUpload")
        #expect(log["action"] == "guest/pipeline")
        #expect(log["success"] == true)
        let actionID = try #require(log["activationId"]?.stringValue)
        let ran = try #require(try await user.record(actionID), "the rule's activation is stored")
        #expect(ran["name"] == "pipeline")
        #expect(ran["response"]?["result"]?["records"] == [["name": "ALICE", "age": 30], ["name": "BOB", "age": 40]], "\(ran)")
        let json = try JSONValue(parsing: try await user.ok(["trigger", "fire", "uploaded", "--json", "-p", "records", "[]"]))
        #expect(json["activationId"]?.stringValue?.count == 32)

        // Disabled: a fire runs nothing; enabled again, it does.
        #expect(try await user.ok(["rule", "disable", "onUpload"]).contains("ok: disabled rule onUpload"))
        #expect(try JSONValue(parsing: try await user.ok(["rule", "get", "onUpload", "--json"]))["status"] == "inactive")
        #expect(try await user.ok(["trigger", "fire", "uploaded"]).contains("no rule of it is active"))
        #expect(try JSONValue(parsing: try await user.ok(["trigger", "fire", "uploaded", "--json"])) == ["activationId": .null])
        #expect(try JSONValue(parsing: try await user.ok(["rule", "enable", "onUpload", "--json"]))["status"] == "active")
        #expect(try await user.ok(["trigger", "fire", "uploaded", "-p", "records", "[]"]).contains(prefix))

        // Clear errors: a missing trigger, a trigger name with a package, an existing rule.
        let noTrigger = try await user.tabula(["rule", "create", "r2", "nothere", "pipeline"])
        #expect(noTrigger.status == 1 && noTrigger.stderr.contains("trigger /guest/nothere does not exist"), "\(noTrigger.stderr)")
        let packaged = try await user.tabula(["rule", "create", "r2", "a/b", "pipeline"])
        #expect(packaged.status == 1 && packaged.stderr.contains("a trigger is not in a package"), "\(packaged.stderr)")
        let twice = try await user.tabula(["rule", "create", "onUpload", "uploaded", "upper"])
        #expect(twice.status == 1 && twice.stderr.contains("tabula rule update"), "\(twice.stderr)")
        let moved = try JSONValue(parsing: try await user.ok(["rule", "update", "onUpload", "uploaded", "upper", "--json"]))
        #expect(moved["action"] == ["name": "upper", "path": "guest"])

        #expect(try await user.ok(["rule", "delete", "onUpload"]).contains("ok: deleted rule onUpload"))
        #expect(try await user.ok(["trigger", "fire", "uploaded"]).contains("no rule of it is active"))
        #expect(try await user.ok(["trigger", "delete", "uploaded"]).contains("ok: deleted trigger uploaded"))
        let gone = try await user.tabula(["trigger", "fire", "uploaded"])
        #expect(gone.status == 1 && gone.stderr.contains("HTTP 404"), "\(gone.stderr)")
    }

    @Test func aBindingReachesAnotherNamespacesSharedPackageAndLimitsShowTheNamespaces() async throws {
        let server = try await ServerProcess()
        defer { _ = server.terminate(); server.removeData() }
        let guest = try User(server, auth: try server.auth)
        defer { guest.remove() }
        let made = try await RunCommandTests.tabula(["namespace", "create", "partner", "--data-dir", server.dataDirectory.path])
        #expect(made.status == 0, "\(made.stderr)")
        // Its own limits, set before the server first reads them.
        let set = try await RunCommandTests.tabula(["namespace", "limits", "partner", "--fires-per-minute", "7", "--data-dir", server.dataDirectory.path])
        #expect(set.status == 0, "\(set.stderr)")
        let partner = try User(server, auth: made.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        defer { partner.remove() }

        // partner shares tools, whose echo every namespace may run; secret stays private.
        try await partner.ok(["package", "create", "tools", "--shared", "yes", "-p", "greeting", "hi", "-p", "who", "partner"])
        try await partner.ok(["package", "create", "secret"])
        try await partner.ok(["action", "create", "tools/echo", "examples/echo.wat", "-a", "invokers", #"["*"]"#])
        let shared = try await guest.ok(["package", "list", "/partner"])
        #expect(shared.contains("/partner/tools") && shared.contains("shared") && !shared.contains("secret"), "\(shared)")

        #expect(try await guest.ok(["package", "bind", "/partner/tools", "mytools", "-p", "who", "guest"]).contains("ok: created binding mytools"))
        let result = try JSONValue(parsing: try await guest.ok(["action", "invoke", "mytools/echo", "--plain", "--result", "--json", "-p", "n", "1"]))
        #expect(result == ["greeting": "hi", "who": "guest", "n": 1], "the binding's parameters over the package's")
        let listed = try await guest.ok(["package", "list"])
        #expect(listed.contains("/guest/mytools") && listed.contains("binding of /partner/tools"), "\(listed)")
        let binding = try JSONValue(parsing: try await guest.ok(["package", "get", "mytools", "--json"]))
        #expect(binding["binding"] == ["namespace": "partner", "name": "tools"])
        #expect(binding["actions"]?[0]?["name"] == "echo")

        let private_ = try await guest.tabula(["package", "bind", "/partner/secret", "b1"])
        #expect(private_.status == 1 && private_.stderr.contains("not authorized to access 'partner/secret'") && private_.stderr.contains("not shared"), "\(private_.stderr)")
        let missing = try await guest.tabula(["package", "bind", "nothing", "b2"])
        #expect(missing.status == 1 && missing.stderr.contains("Binding references a package that does not exist."), "\(missing.stderr)")
        let twice = try await guest.tabula(["package", "bind", "/partner/tools", "mytools"])
        #expect(twice.status == 1 && twice.stderr.contains("resource already exists"), "\(twice.stderr)")
        #expect(try await guest.ok(["package", "delete", "mytools"]).contains("ok: deleted package mytools"), "a binding is deleted without --force")

        // The limits each key's namespace is held to, the partner's own included.
        let limits = try JSONValue(parsing: try await partner.ok(["limits", "--json"]))
        #expect(limits["firesPerMinute"] == 7)
        #expect(limits["maxActionTimeout"]?.stringValue == nil && limits["maxActionTimeout"] != nil)
        #expect(try JSONValue(parsing: try await guest.ok(["limits", "--json"]))["firesPerMinute"] != 7)
        #expect(try await guest.ok(["limits"]).contains("ok: got the limits of your namespace"))
    }

    /// The SDK's calls, against the live server: what each sends and decodes.
    @Test func theSDKManagesPackagesTriggersRulesAndSequences() async throws {
        let server = try await ServerProcess()
        defer { _ = server.terminate(); server.removeData() }
        let client = Client(apiHost: server.apiHost, auth: try Credentials(parsing: try server.auth))

        let package = try await client.putPackage(name: "utils", parameters: [KeyValue(key: "greeting", value: "hello")], publish: true)
        #expect(package.namespace == "guest" && package.publish && !package.binding.isBinding)
        try await client.putAction(name: "utils/echo", module: try example("echo.wat"), isText: true)
        #expect(try await client.package(name: "utils").actions?.map(\.name) == ["echo"])
        let conflict = await #expect(throws: ClientError.self) { try await client.putPackage(name: "utils") }
        #expect(conflict?.code == .conflict)
        let updated = try await client.putPackage(name: "utils", publish: false, overwrite: true)
        #expect(!updated.publish && updated.parameters == [KeyValue(key: "greeting", value: "hello")], "an update without parameters keeps them")
        try await client.putPackage(name: "mine", binding: "utils", parameters: [KeyValue(key: "greeting", value: "hi")])
        let packages = try await client.packages()
        #expect(Set(packages.map(\.name)) == ["utils", "mine"])
        #expect(packages.first { $0.name == "utils" }?.binding.isBinding == false, "a listing's binding false reads as no binding")
        #expect(packages.first { $0.name == "mine" }?.binding == Package.Binding(namespace: "guest", name: "utils"))
        guard case .result(let greeted, _, _) = try await client.invoke(name: "mine/echo", blocking: true, result: true) else {
            Issue.record("no result")
            return
        }
        #expect(greeted == ["greeting": "hi"])

        // Components qualified as wsk does.
        let sequence = try await client.putSequence(name: "twice", components: ["utils/echo", "/_/utils/echo", "mine/echo"])
        #expect(sequence.exec.components == ["/guest/utils/echo", "/guest/utils/echo", "/guest/mine/echo"])
        let empty = await #expect(throws: ClientError.self) { try await client.putSequence(name: "none", components: []) }
        #expect(empty?.code == .invalidArgument)

        let trigger = try await client.putTrigger(name: "tick", parameters: [KeyValue(key: "from", value: "trigger")])
        #expect(trigger.parameters.count == 1)
        #expect(try await client.fireTrigger(name: "tick") == nil, "no rule: 204")
        let rule = try await client.putRule(name: "onTick", trigger: "tick", action: "utils/echo")
        #expect(rule.status == Rule.active && rule.action == EntityReference(name: "echo", path: "guest/utils"))
        #expect(try await client.rules().map(\.status) == [""], "listed without status")
        let fired = try #require(try await client.fireTrigger(name: "tick", payload: ["n": 1]))
        #expect(fired.count == 32)
        try await client.setRuleStatus(name: "onTick", active: false)
        #expect(try await client.rule(name: "onTick").status == Rule.inactive)
        #expect(try await client.fireTrigger(name: "tick") == nil)
        #expect(try await client.trigger(name: "tick").rules?["guest/onTick"]?.status == Rule.inactive)
        #expect(try await client.deleteRule(name: "onTick").status == Rule.inactive)
        #expect(try await client.triggers().map(\.name) == ["tick"])
        try await client.deleteTrigger(name: "tick")
        let gone = await #expect(throws: ClientError.self) { try await client.trigger(name: "tick") }
        #expect(gone?.code == .notFound)

        let refused = await #expect(throws: ClientError.self) { try await client.deletePackage(name: "utils") }
        #expect(refused?.code == .conflict)
        #expect(try await client.deletePackage(name: "utils", force: true).name == "utils")
        #expect(try await client.limits()["maxActionMemory"] != nil)

        // Names the client refuses before sending anything.
        for bad in ["a/b", "/guest/a/b", "", "../x"] {
            let error = await #expect(throws: ClientError.self) { try await client.package(name: bad) }
            #expect(error?.code == .invalidArgument, "\(bad)")
        }
        let rulePath = await #expect(throws: ClientError.self) { try await client.putRule(name: "r", trigger: "p/t", action: "a") }
        #expect(rulePath?.code == .invalidArgument)
        let namespace = await #expect(throws: ClientError.self) { try await client.packages(namespace: "a/b") }
        #expect(namespace?.code == .invalidArgument)
    }
}
