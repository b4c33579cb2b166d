import Foundation
import Testing
import TabulaPlatform
import TabulaWire

/// Packages, bindings and packaged actions, with OpenWhisk's documented answers as the expected
/// values (its controller's Packages.scala and PackagesApiTests).
@Suite("Packages API")
struct PackagesAPITests {
    @Test func createGetListUpdateDelete() async throws {
        try await Harness().run { client async throws in
            let created = try await client.send(.put, "/api/v1/namespaces/_/packages/utils", body: #"{"parameters":[{"key":"greeting","value":"hello"}],"annotations":[{"key":"description","value":"tools"}]}"#)
            #expect(created.status == .ok, "\(created.body)")
            #expect(created.json["namespace"] == "guest")
            #expect(created.json["name"] == "utils")
            #expect(created.json["binding"] == [:])
            #expect(created.json["version"] == "0.0.1")
            #expect(created.json["publish"] == false)
            #expect(created.json["parameters"] == [["key": "greeting", "value": "hello"]])

            let again = try await client.send(.put, "/api/v1/namespaces/_/packages/utils", body: "{}")
            #expect(again.status == .conflict)
            #expect(again.json["error"] == "resource already exists")
            let updated = try await client.send(.put, "/api/v1/namespaces/_/packages/utils?overwrite=true", body: #"{"publish":true}"#)
            #expect(updated.json["version"] == "0.0.2")
            #expect(updated.json["publish"] == true)
            #expect(updated.json["parameters"] == [["key": "greeting", "value": "hello"]], "an absent field keeps its value")

            let reserved = try await client.send(.put, "/api/v1/namespaces/_/packages/default", body: "{}")
            #expect(reserved.status == .badRequest)
            #expect(reserved.json["error"] == "Package name 'default' is reserved.")

            // An action inside it, addressed as PACKAGE/NAME, shown with namespace NS/PACKAGE.
            let action = try await client.deploy("utils/echo", module: try example("echo.wat"))
            #expect(action.status == .ok, "\(action.body)")
            #expect(action.json["namespace"] == "guest/utils")
            #expect(action.json["name"] == "echo")
            let fetched = try await client.send(.get, "/api/v1/namespaces/_/packages/utils")
            #expect(fetched.json["actions"]?[0]?["name"] == "echo")
            #expect(fetched.json["feeds"] == [])
            let inPackage = try await client.send(.get, "/api/v1/namespaces/_/actions/utils/")
            #expect(inPackage.json.arrayCount == 1)
            #expect(inPackage.json[0]?["namespace"] == "guest/utils")
            try await client.deploy("plain", module: try example("echo.wat"))
            #expect(try await client.send(.get, "/api/v1/namespaces/_/actions").json.arrayCount == 2, "the namespace's listing includes packaged actions")
            #expect(try await client.send(.get, "/api/v1/namespaces/_/actions/utils/echo").json["name"] == "echo")
            // Activations filter by PACKAGE/NAME, as OpenWhisk's; NAME alone is the unpackaged one.
            try await client.send(.post, "/api/v1/namespaces/_/actions/utils/echo?blocking=true", body: "{}")
            try await client.send(.post, "/api/v1/namespaces/_/actions/plain?blocking=true", body: "{}")
            #expect(try await client.send(.get, "/api/v1/namespaces/_/activations?name=utils/echo").json.arrayCount == 1)
            #expect(try await client.send(.get, "/api/v1/namespaces/_/activations?name=echo").json.arrayCount == 0)
            #expect(try await client.send(.put, "/api/v1/namespaces/_/actions/nothere/echo", body: #"{"exec":{"kind":"wasm","code":"(module)"}}"#).status == .notFound)

            let listed = try await client.send(.get, "/api/v1/namespaces/_/packages")
            #expect(listed.json.arrayCount == 1)
            #expect(listed.json[0]?["binding"] == false, "a listing shows binding false for a package")
            #expect(try await client.send(.get, "/api/v1/namespaces/_/packages?count=true").json == ["packages": 1])

            // Not empty: 409 unless forced; forced, its actions go too.
            let refused = try await client.send(.delete, "/api/v1/namespaces/_/packages/utils")
            #expect(refused.status == .conflict)
            #expect(refused.json["error"] == "Package not empty (contains 1 entity). Set force param or delete package contents.")
            let deleted = try await client.send(.delete, "/api/v1/namespaces/_/packages/utils?force=true")
            #expect(deleted.status == .ok)
            #expect(deleted.json["name"] == "utils")
            #expect(try await client.send(.get, "/api/v1/namespaces/_/actions/utils/echo").status == .notFound)
            #expect(try await client.send(.post, "/api/v1/namespaces/_/actions/utils/echo?blocking=true", body: "{}").status == .notFound)
            #expect(try await client.send(.get, "/api/v1/namespaces/_/packages/utils").status == .notFound)
        }
    }

    /// Parameters merge package < binding < action < invocation; bindings follow a shared package
    /// across namespaces; actions run through a binding.
    @Test func bindingsAndParameterPrecedence() async throws {
        try await Harness().run { client async throws in
            // other's package, shared, with an action that invites every namespace.
            try await client.send(.put, "/api/v1/namespaces/_/packages/tools", body: #"{"publish":true,"parameters":[{"key":"a","value":"package"},{"key":"b","value":"package"},{"key":"c","value":"package"}]}"#, as: .other)
            let code = JSONValue.string(String(decoding: try example("echo.wat"), as: UTF8.self)).encodedString
            let put = try await client.send(
                .put, "/api/v1/namespaces/_/actions/tools/echo",
                body: #"{"exec":{"kind":"wasm","code":\#(code)},"parameters":[{"key":"c","value":"action"}],"annotations":[{"key":"invokers","value":["*"]}]}"#, as: .other)
            #expect(put.status == .ok, "\(put.body)")
            try await client.send(.put, "/api/v1/namespaces/_/packages/private", body: "{}", as: .other)

            // guest binds it, overriding a and adding d.
            let binding = try await client.send(.put, "/api/v1/namespaces/_/packages/mytools", body: #"{"binding":{"namespace":"other","name":"tools"},"parameters":[{"key":"a","value":"binding"},{"key":"d","value":"binding"}]}"#)
            #expect(binding.status == .ok, "\(binding.body)")
            #expect(binding.json["binding"] == ["namespace": "other", "name": "tools"])
            #expect(binding.json["annotations"] == [["key": "binding", "value": ["namespace": "other", "name": "tools"]]])

            let invoked = try await client.send(.post, "/api/v1/namespaces/_/actions/mytools/echo?blocking=true&result=true", body: #"{"d":"invocation"}"#)
            #expect(invoked.status == .ok, "\(invoked.body)")
            #expect(invoked.json == ["a": "binding", "b": "package", "c": "action", "d": "invocation"])
            // A binding is its namespace's alone: another namespace may not use it (and its parameters).
            let borrowed = try await client.send(.post, "/api/v1/namespaces/guest/actions/mytools/echo?blocking=true&result=true", body: "{}", as: .other)
            #expect(borrowed.status == .forbidden, "\(borrowed.body)")
            #expect(!borrowed.body.contains("binding\""))
            // The record names the action that ran and the binding the name went through.
            let record = try await client.send(.post, "/api/v1/namespaces/_/actions/mytools/echo?blocking=true", body: "{}")
            #expect(record.json["annotations"]?.keyValue("path") == "other/tools/echo")
            #expect(record.json["annotations"]?.keyValue("binding") == "guest/mytools")
            #expect(record.json["name"] == "echo")
            let shown = try await client.send(.get, "/api/v1/namespaces/_/packages/mytools")
            #expect(shown.json["actions"]?[0]?["name"] == "echo", "a binding lists the bound package's actions")
            #expect(try await client.send(.get, "/api/v1/namespaces/_/actions/mytools/").json.arrayCount == 1)

            // Binding rules.
            let missingOwn = try await client.send(.put, "/api/v1/namespaces/_/packages/b1", body: #"{"binding":{"namespace":"_","name":"nothing"}}"#)
            #expect(missingOwn.status == .badRequest)
            #expect(missingOwn.json["error"] == "Binding references a package that does not exist.")
            let privateOther = try await client.send(.put, "/api/v1/namespaces/_/packages/b2", body: #"{"binding":{"namespace":"other","name":"private"}}"#)
            #expect(privateOther.status == .forbidden)
            #expect(privateOther.json["error"] == "The supplied authentication is not authorized to access 'other/private'.")
            let missingOther = try await client.send(.put, "/api/v1/namespaces/_/packages/b3", body: #"{"binding":{"namespace":"other","name":"nothing"}}"#)
            #expect(missingOther.status == .forbidden, "existence in another namespace does not leak")
            let toBinding = try await client.send(.put, "/api/v1/namespaces/_/packages/b4", body: #"{"binding":{"namespace":"guest","name":"mytools"}}"#)
            #expect(toBinding.status == .badRequest)
            #expect(toBinding.json["error"] == "Cannot bind to another package binding.")
            try await client.send(.put, "/api/v1/namespaces/_/packages/plain", body: "{}")
            let convert = try await client.send(.put, "/api/v1/namespaces/_/packages/plain?overwrite=true", body: #"{"binding":{"namespace":"other","name":"tools"}}"#)
            #expect(convert.status == .conflict)
            #expect(convert.json["error"] == "Resource is a package and cannot be converted into a binding.")

            // No action is created or deleted through a binding.
            let through = try await client.send(.put, "/api/v1/namespaces/_/actions/mytools/new", body: #"{"exec":{"kind":"wasm","code":"(module)"}}"#)
            #expect(through.status == .badRequest)
            #expect(through.json["error"] == "Operation not permitted on package binding.")
            #expect(try await client.send(.delete, "/api/v1/namespaces/_/actions/mytools/echo").status == .badRequest)

            // `{}` on a binding's update names nothing: it stays a binding.
            let kept = try await client.send(.put, "/api/v1/namespaces/_/packages/mytools?overwrite=true", body: #"{"binding":{}}"#)
            #expect(kept.json["binding"] == ["namespace": "other", "name": "tools"])

            // Another namespace sees only published packages, and never bindings (listed or counted).
            try await client.send(.put, "/api/v1/namespaces/_/packages/ownbinding", body: #"{"binding":{"namespace":"_","name":"tools"},"publish":true}"#, as: .other)
            #expect(try await client.send(.get, "/api/v1/namespaces/other/packages").json.arrayCount == 1)
            #expect(try await client.send(.get, "/api/v1/namespaces/other/packages?count=true").json == ["packages": 1])
            #expect(try await client.send(.get, "/api/v1/namespaces/_/packages?count=true", as: .other).json == ["packages": 3])
            #expect(try await client.send(.get, "/api/v1/namespaces/other/packages/private").status == .forbidden)
            #expect(try await client.send(.get, "/api/v1/namespaces/guest/packages/mytools", as: .other).status == .forbidden)
            #expect(try await client.send(.get, "/api/v1/namespaces/other/packages/tools").status == .ok)
            // A binding is deletable even though its package is gone.
            #expect(try await client.send(.delete, "/api/v1/namespaces/_/packages/tools?force=true", as: .other).status == .ok)
            #expect(try await client.send(.post, "/api/v1/namespaces/_/actions/mytools/echo?blocking=true", body: "{}").status == .forbidden)
            #expect(try await client.send(.delete, "/api/v1/namespaces/_/packages/mytools").status == .ok)
        }
    }

    /// The owner's policy still decides who runs a shared package's action: without `invokers`,
    /// a binding does not make another namespace an invoker.
    @Test func sharingAPackageDoesNotGrantInvocation() async throws {
        try await Harness().run { client async throws in
            try await client.send(.put, "/api/v1/namespaces/_/packages/tools", body: #"{"publish":true}"#, as: .other)
            let code = JSONValue.string(String(decoding: try example("echo.wat"), as: UTF8.self)).encodedString
            try await client.send(.put, "/api/v1/namespaces/_/actions/tools/echo", body: #"{"exec":{"kind":"wasm","code":\#(code)}}"#, as: .other)
            try await client.send(.put, "/api/v1/namespaces/_/packages/mine", body: #"{"binding":{"namespace":"other","name":"tools"}}"#)
            let refused = try await client.send(.post, "/api/v1/namespaces/_/actions/mine/echo?blocking=true", body: "{}")
            #expect(refused.status == .forbidden)
            #expect(try await client.send(.post, "/api/v1/namespaces/_/actions/tools/echo?blocking=true", body: "{}", as: .other).status == .ok)
        }
    }

    /// Another namespace never sees a web action's `require-whisk-auth` secret, and documents are
    /// bounded.
    @Test func secretsAndSizes() async throws {
        try await Harness().run { client async throws in
            try await client.send(.put, "/api/v1/namespaces/_/packages/site", body: #"{"publish":true}"#, as: .other)
            let code = JSONValue.string(String(decoding: try example("echo.wat"), as: UTF8.self)).encodedString
            try await client.send(.put, "/api/v1/namespaces/_/actions/site/page", body: #"{"exec":{"kind":"wasm","code":\#(code)},"annotations":[{"key":"web-export","value":true},{"key":"require-whisk-auth","value":"hunter2"}]}"#, as: .other)
            #expect(try await client.send(.get, "/api/v1/namespaces/_/packages/site", as: .other).body.contains("hunter2"), "the owner sees it")
            #expect(!(try await client.send(.get, "/api/v1/namespaces/other/packages/site").body.contains("hunter2")))
            try await client.send(.put, "/api/v1/namespaces/_/packages/mine", body: #"{"binding":{"namespace":"other","name":"site"}}"#)
            #expect(!(try await client.send(.get, "/api/v1/namespaces/_/actions/mine/page").body.contains("hunter2")))
            #expect(!(try await client.send(.get, "/api/v1/namespaces/_/actions/mine/").body.contains("hunter2")))

            let big = String(repeating: "x", count: (1 << 20) + 10)
            let tooBig = try await client.send(.put, "/api/v1/namespaces/_/packages/big", body: #"{"parameters":[{"key":"k","value":"\#(big)"}]}"#)
            #expect(tooBig.status == .contentTooLarge)
            try await client.send(.put, "/api/v1/namespaces/_/triggers/t", body: "{}")
            try await client.deploy("echo", module: try example("echo.wat"))
            let bigRule = String(repeating: "y", count: 70_000)
            #expect(try await client.send(.put, "/api/v1/namespaces/_/rules/r", body: #"{"trigger":"/_/t","action":"/_/echo","annotations":[{"key":"k","value":"\#(bigRule)"}]}"#).status == .contentTooLarge)
        }
    }

    /// `final` protects the defaults that have a value, as OpenWhisk's immutable parameters.
    @Test func finalProtectsDefinedDefaults() async throws {
        try await Harness().run { client async throws in
            try await client.deploy("fixed", module: try example("echo.wat"), extra: #","parameters":[{"key":"price","value":10},{"key":"note","value":null}],"annotations":[{"key":"final","value":true}]"#)
            #expect(try await client.send(.post, "/api/v1/namespaces/_/actions/fixed?blocking=true", body: #"{"price":0}"#).status == .badRequest)
            let open = try await client.send(.post, "/api/v1/namespaces/_/actions/fixed?blocking=true&result=true", body: #"{"note":"set"}"#)
            #expect(open.json == ["price": 10, "note": "set"])
        }
    }

    @Test func hostileNames() async throws {
        try await Harness().run { client async throws in
            #expect(try await client.send(.put, "/api/v1/namespaces/_/packages/%20bad", body: "{}").status == .badRequest)
            #expect(try await client.send(.put, "/api/v1/namespaces/_/packages/p", body: #"{"binding":{"namespace":"../x","name":"y"}}"#).status == .forbidden)
            #expect(try await client.send(.put, "/api/v1/namespaces/_/packages/p", body: #"{"parameters":"nope"}"#).status == .badRequest)
            #expect(try await client.send(.put, "/api/v1/namespaces/other/packages/p", body: "{}").status == .forbidden)
            #expect(try await client.send(.get, "/api/v1/namespaces/_/actions/a/b/c").status == .notFound)
        }
    }
}
