import Foundation
import Testing
import TabulaPlatform
import TabulaWire

@Suite("Actions API")
struct ActionsAPITests {
    /// A listing stops early rather than grow past the configured bytes (at least one entry).
    @Test func listingsAreBoundedInBytes() async throws {
        let harness = try await Harness(configuration: PlatformConfiguration(concurrency: 2, listingByteLimit: 250_000))
        try await harness.run { client async throws in
            let padding = String(repeating: "p", count: 100_000)
            for index in 0..<4 {
                let put = try await client.deploy("big\(index)", module: printing("{}"), extra: #","parameters":[{"key":"padding","value":"\#(padding)"}]"#)
                #expect(put.status == .ok, "\(put.body)")
            }
            let page = try await client.send(.get, "/api/v1/namespaces/_/actions?limit=30")
            #expect(page.status == .ok)
            #expect(page.json.arrayCount == 2, "about 100 KB each under a 250 KB limit")
            let next = try await client.send(.get, "/api/v1/namespaces/_/actions?limit=30&skip=2")
            #expect(next.json.arrayCount == 2)
        }
    }

    @Test func infoHealthAndNamespaces() async throws {
        try await Harness().run { client async throws in
            #expect(try await client.send(.get, "/", as: .anonymous).json["api_paths"] == ["/api/v1"])
            #expect(try await client.send(.get, "/api/v1", as: .anonymous).json["api_version"] == "1.0.0")
            #expect(try await client.send(.get, "/health", as: .anonymous).json == ["status": "ok"])
            #expect(try await client.send(.get, "/api/v1/namespaces").json == ["guest"])
            #expect(try await client.send(.get, "/api/v1/namespaces", as: .other).json == ["other"])
        }
    }

    @Test func authentication() async throws {
        try await Harness().run { client async throws in
            let missing = try await client.send(.get, "/api/v1/namespaces", as: .anonymous)
            #expect(missing.status == .unauthorized)
            #expect(missing.headers[.wwwAuthenticate] == #"Basic realm="tabula""#)
            #expect(missing.json["code"] == .string(missing.headers[values: .init("X-Request-ID")!].first ?? ""))
            let wrong = try await client.send(.get, "/api/v1/namespaces", as: .basic("\(client.guest.uuid):wrong"))
            #expect(wrong.status == .unauthorized)
            #expect(wrong.json["error"] == "The supplied authentication is invalid.")
            #expect(try await client.send(.get, "/api/v1/namespaces", as: .basic("garbage")).status == .unauthorized)
        }
    }

    @Test func createGetListDelete() async throws {
        try await Harness().run { client async throws in
            let created = try await client.deploy("hello", module: try example("hello.wat"))
            #expect(created.status == .ok)
            #expect(created.json["version"] == "0.0.1")
            #expect(created.json["exec"] == ["kind": "wasm", "binary": false])
            #expect(created.json["limits"] == ["timeout": 60000, "memory": 256, "logs": 10, "concurrency": 1])

            let conflict = try await client.send(.put, "/api/v1/namespaces/_/actions/hello", body: #"{"exec":{"kind":"wasm","code":"(module)"}}"#)
            #expect(conflict.status == .conflict)
            #expect(conflict.json["error"] == "resource already exists")

            let updated = try await client.deploy("hello", module: try example("hello.wat"))
            #expect(updated.json["version"] == "0.0.2")

            try await client.deploy("hasher", module: try example("c/hasher.wasm"))
            let withCode = try await client.send(.get, "/api/v1/namespaces/guest/actions/hasher")
            #expect(withCode.json["exec"]?["code"] == .string(Data(try example("c/hasher.wasm")).base64EncodedString()))
            #expect(try await client.send(.get, "/api/v1/namespaces/_/actions/hasher?code=false").json["exec"]?["code"] == nil)

            let list = try await client.send(.get, "/api/v1/namespaces/_/actions").json
            guard case .array(let actions) = list else { Issue.record("not a list: \(list)"); return }
            #expect(Set(actions.compactMap { $0["name"]?.stringValue }) == ["hello", "hasher"])
            #expect(try await client.send(.get, "/api/v1/namespaces/_/actions?limit=1").json.arrayCount == 1)
            #expect(try await client.send(.get, "/api/v1/namespaces/_/actions?skip=1").json.arrayCount == 1)
            #expect(try await client.send(.get, "/api/v1/namespaces/_/actions?count=true").json == ["actions": 2])

            #expect(try await client.send(.delete, "/api/v1/namespaces/_/actions/hello").status == .ok)
            let gone = try await client.send(.get, "/api/v1/namespaces/_/actions/hello")
            #expect(gone.status == .notFound)
            #expect(gone.json["error"] == "The requested resource does not exist.")
            #expect(try await client.send(.delete, "/api/v1/namespaces/_/actions/hello").status == .notFound)
        }
    }

    @Test func badInputIsAnsweredClearly() async throws {
        try await Harness(configuration: PlatformConfiguration(concurrency: 1, maxBodySize: 4096)).run { client async throws in
            let malformed = try await client.send(.put, "/api/v1/namespaces/_/actions/x", body: "{not json")
            #expect(malformed.status == .badRequest)
            #expect(malformed.json["error"]?.stringValue?.hasPrefix("The request content was malformed") == true)

            let name = try await client.send(.put, "/api/v1/namespaces/_/actions/-bad*name", body: #"{"exec":{"kind":"wasm","code":"(module)"}}"#)
            #expect(name.status == .badRequest)
            #expect(name.json["error"]?.stringValue?.contains("is not valid") == true)

            let kind = try await client.send(.put, "/api/v1/namespaces/_/actions/x", body: #"{"exec":{"kind":"nodejs:20","code":"function main(){}"}}"#)
            #expect(kind.status == .badRequest)
            #expect(kind.json["error"] == #"The kind "nodejs:20" is not supported: Tabula runs WebAssembly actions, of kind "wasm"."#)

            let module = try await client.send(.put, "/api/v1/namespaces/_/actions/x", body: #"{"exec":{"kind":"wasm","code":"(module (import \"env\" \"socket\" (func)) (func (export \"main\")))"}}"#)
            #expect(module.status == .badRequest)
            #expect(module.json["error"]?.stringValue?.contains("env.socket") == true)

            let limits = try await client.send(.put, "/api/v1/namespaces/_/actions/x", body: #"{"exec":{"kind":"wasm","code":"(module)"},"limits":{"timeout":10}}"#)
            #expect(limits.status == .badRequest)

            let large = try await client.send(.put, "/api/v1/namespaces/_/actions/x", body: "{\"exec\":{\"kind\":\"wasm\",\"code\":\"\(String(repeating: "A", count: 8000))\"}}")
            #expect(large.status == .contentTooLarge)

            #expect(try await client.send(.get, "/api/v1/namespaces/_/actions/missing").status == .notFound)
            #expect(try await client.send(.get, "/api/v1/nowhere").status == .notFound)
            // The server still serves.
            #expect(try await client.send(.get, "/api/v1/namespaces").status == .ok)
        }
    }

    @Test func namespacesAreIsolated() async throws {
        try await Harness().run { client async throws in
            try await client.deploy("secret", module: try example("echo.wat"))
            #expect(try await client.send(.get, "/api/v1/namespaces/guest/actions/secret", as: .other).status == .forbidden)
            #expect(try await client.send(.post, "/api/v1/namespaces/guest/actions/secret?blocking=true", body: "{}", as: .other).status == .forbidden)
            #expect(try await client.send(.delete, "/api/v1/namespaces/guest/actions/secret", as: .other).status == .forbidden)
            #expect(try await client.send(.get, "/api/v1/namespaces/guest/activations", as: .other).status == .forbidden)
            #expect(try await client.send(.get, "/api/v1/namespaces/_/actions/secret", as: .other).status == .notFound)
            #expect(try await client.send(.get, "/api/v1/namespaces/_/actions", as: .other).json == [])
        }
    }
}

extension JSONValue {
    var arrayCount: Int? {
        if case .array(let elements) = self { return elements.count }
        return nil
    }
}
