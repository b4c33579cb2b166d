import Crypto
import Foundation
import Testing
import TabulaPlatform
import TabulaWire

/// Sequences, with OpenWhisk's documented behaviour as the expected values (its SequenceActions
/// and SequenceApiTests).
@Suite("Sequences API")
struct SequencesAPITests {
    /// Deploys `transform` with default parameters, as guest.
    private func transform(_ client: Harness.Client, _ name: String, parameters: String) async throws {
        let code = JSONValue.string(Data(try example("c/transform.wasm")).base64EncodedString()).encodedString
        let put = try await client.send(.put, "/api/v1/namespaces/_/actions/\(name)?overwrite=true", body: #"{"exec":{"kind":"wasm","code":\#(code),"binary":true},"parameters":\#(parameters)}"#)
        #expect(put.status == .ok, "\(put.body)")
    }

    @Test func eachOutputFeedsTheNext() async throws {
        try await Harness().run { client async throws in
            try await transform(client, "upper", parameters: #"[{"key":"uppercase","value":["name"]}]"#)
            try await transform(client, "sorter", parameters: #"[{"key":"sortBy","value":"age"}]"#)
            let created = try await client.send(.put, "/api/v1/namespaces/_/actions/pipeline", body: #"{"exec":{"kind":"sequence","components":["/_/upper","guest/sorter"]}}"#)
            #expect(created.status == .ok, "\(created.body)")
            #expect(created.json["exec"] == ["kind": "sequence", "components": ["/guest/upper", "/guest/sorter"]])

            let records = #"{"records":[{"name":"bob","age":40},{"name":"alice","age":30}]}"#
            let run = try await client.send(.post, "/api/v1/namespaces/_/actions/pipeline?blocking=true", body: records)
            #expect(run.status == .ok, "\(run.body)")
            #expect(run.json["response"]?["result"]?["records"] == [["name": "ALICE", "age": 30], ["name": "BOB", "age": 40]])
            #expect(run.json["annotations"]?.keyValue("kind") == "sequence")
            #expect(run.json["annotations"]?.keyValue("topmost") == true)
            let steps = run.json["logs"]
            #expect(steps?.arrayCount == 2)
            // Each component's record names the sequence as its cause.
            for index in 0..<2 {
                guard case .string(let id)? = steps?[index] else { Issue.record("no component id"); continue }
                let step = try await client.send(.get, "/api/v1/namespaces/_/activations/\(id)")
                #expect(step.json["cause"] == run.json["activationId"])
                #expect(step.json["name"] == (index == 0 ? "upper" : "sorter"))
                #expect(step.json["annotations"]?.keyValue("causedBy") == "sequence")
            }
        }
    }

    @Test func anErrorEndsTheChain() async throws {
        try await Harness().run { client async throws in
            try await transform(client, "first", parameters: "[]")
            try await transform(client, "second", parameters: "[]")
            try await client.send(.put, "/api/v1/namespaces/_/actions/chain", body: #"{"exec":{"kind":"sequence","components":["/guest/first","/guest/second"]}}"#)
            // No records: the first component answers an error, and the second never runs.
            let run = try await client.send(.post, "/api/v1/namespaces/_/actions/chain?blocking=true", body: "{}")
            #expect(run.status == .badGateway, "\(run.body)")
            #expect(run.json["response"]?["success"] == false)
            #expect(run.json["response"]?["result"]?["error"] != nil)
            #expect(run.json["logs"]?.arrayCount == 1)

            // A component deleted after the sequence was made.
            try await client.send(.delete, "/api/v1/namespaces/_/actions/first")
            let gone = try await client.send(.post, "/api/v1/namespaces/_/actions/chain?blocking=true", body: #"{"records":[]}"#)
            #expect(gone.status == .badGateway)
            #expect(gone.json["response"]?["result"] == ["error": "Sequence component does not exist."])
        }
    }

    @Test func checksWhenCreated() async throws {
        try await Harness().run { client async throws in
            try await transform(client, "step", parameters: "[]")
            func put(_ name: String, _ exec: String) async throws -> Harness.Client.Reply {
                try await client.send(.put, "/api/v1/namespaces/_/actions/\(name)?overwrite=true", body: #"{"exec":\#(exec)}"#)
            }
            let none = try await put("s", #"{"kind":"sequence"}"#)
            #expect(none.status == .badRequest)
            #expect(none.json["error"] == "The request content was malformed:\n'components' must be defined for sequence kind")
            #expect(try await put("s", #"{"kind":"sequence","components":[]}"#).json["error"] == "No component specified for the sequence.")
            #expect(try await put("s", #"{"kind":"sequence","components":["/guest/missing"]}"#).json["error"] == "Sequence component does not exist.")
            #expect(try await put("s", #"{"kind":"sequence","components":["step"]}"#).status == .badRequest)
            let many = JSONValue.array(Array(repeating: "/guest/step", count: 51)).encodedString
            #expect(try await put("s", #"{"kind":"sequence","components":\#(many)}"#).json["error"] == "Too many actions in the sequence.")
            // Nested sequences count their atomic actions, and none may lead back to itself.
            let twenty = JSONValue.array(Array(repeating: "/guest/step", count: 30)).encodedString
            #expect(try await put("inner", #"{"kind":"sequence","components":\#(twenty)}"#).status == .ok)
            #expect(try await put("outer", #"{"kind":"sequence","components":["/guest/inner","/guest/inner"]}"#).json["error"] == "Too many actions in the sequence.")
            #expect(try await put("a", #"{"kind":"sequence","components":["/guest/step"]}"#).status == .ok)
            #expect(try await put("b", #"{"kind":"sequence","components":["/guest/a"]}"#).status == .ok)
            let loop = try await put("a", #"{"kind":"sequence","components":["/guest/b"]}"#)
            #expect(loop.status == .badRequest)
            #expect(loop.json["error"] == "Sequence may not refer to itself.")
        }
    }

    /// A confidential sequence runs inside the enclave: one sealed request in, one sealed answer
    /// out, no intermediate result anywhere outside, and a receipt naming every action.
    @Test func confidentialSequenceRunsInsideTheEnclave() async throws {
        try await Harness().run { client async throws in
            try await transform(client, "upper", parameters: #"[{"key":"uppercase","value":["name"]}]"#)
            try await transform(client, "sorter", parameters: #"[{"key":"sortBy","value":"age"}]"#)
            try await client.send(.put, "/api/v1/namespaces/_/actions/pipeline", body: #"{"exec":{"kind":"sequence","components":["/guest/upper","/guest/sorter"]}}"#)
            let sealing = try await SealingClient(client)
            let records = #"{"records":[{"name":"zed-secret","age":40},{"name":"amy-secret","age":30}]}"#
            let call = try sealing.seal(records, path: "/api/v1/namespaces/guest/actions/pipeline")
            let reply = try await client.send(.post, "/api/v1/namespaces/_/actions/pipeline?blocking=true", bytes: call.sealed, contentType: ObliviousHTTP.requestMediaType)
            #expect(reply.status == .ok)
            let inner = try call.open(reply.body)
            #expect(inner.status == 200)
            let result = try JSONValue(parsing: inner.content)
            #expect(result["result"]?["records"] == [["name": "AMY-SECRET", "age": 30], ["name": "ZED-SECRET", "age": 40]])
            let receiptBytes = try #require(inner.headerFields.first { $0.name == Confidential.receiptField }.flatMap { Data(base64Encoded: $0.value) })
            let receipt = try JSONValue.decode(Receipt.self, from: Array(receiptBytes))
            let components = try #require(receipt.components)
            #expect(components.map(\.name) == ["upper", "sorter"])
            #expect(components.allSatisfy { $0.ran })
            let module = Array(SHA256.hash(data: try example("c/transform.wasm"))).hex
            #expect(components.allSatisfy { $0.moduleDigest == module })
            #expect(receipt.moduleDigest == Receipt.sequenceDigest(components))
            #expect(receipt.name == "pipeline")

            // One record, no component records, nothing in the clear.
            let listed = try await client.send(.get, "/api/v1/namespaces/_/activations?docs=true")
            #expect(listed.json.arrayCount == 1)
            #expect(!listed.body.contains("secret") && !listed.body.contains("SECRET"))
            #expect(listed.json[0]?["annotations"]?.keyValue("kind") == "sequence")

            // Pinned by its composition: a changed component is refused inside the seal.
            let pinned = try sealing.seal(records, path: "/api/v1/namespaces/guest/actions/pipeline", fields: [BinaryHTTPField(Confidential.expectDigestField, "sha-256=\(receipt.moduleDigest)")])
            let same = try await client.send(.post, "/api/v1/namespaces/_/actions/pipeline?blocking=true", bytes: pinned.sealed, contentType: ObliviousHTTP.requestMediaType)
            #expect(try pinned.open(same.body).status == 200)
            try await transform(client, "sorter", parameters: #"[{"key":"sortBy","value":"name"}]"#)
            try await client.deploy("sorter", module: try example("echo.wat"))
            let again = try sealing.seal(records, path: "/api/v1/namespaces/guest/actions/pipeline", fields: [BinaryHTTPField(Confidential.expectDigestField, "sha-256=\(receipt.moduleDigest)")])
            let changed = try await client.send(.post, "/api/v1/namespaces/_/actions/pipeline?blocking=true", bytes: again.sealed, contentType: ObliviousHTTP.requestMediaType)
            #expect(try again.open(changed.body).status == 409)

            // A sealed request for another action is refused, sealed.
            let wrong = try sealing.seal(records, path: "/api/v1/namespaces/guest/actions/upper")
            let misrouted = try await client.send(.post, "/api/v1/namespaces/_/actions/pipeline?blocking=true", bytes: wrong.sealed, contentType: ObliviousHTTP.requestMediaType)
            #expect(try wrong.open(misrouted.body).status == 400)
        }
    }

    /// A cycle made after the check at creation (a binding repointed) ends at OpenWhisk's dynamic
    /// limit rather than running forever.
    @Test func aCycleThroughARepointedBindingIsBounded() async throws {
        try await Harness().run { client async throws in
            try await client.deploy("echo", module: try example("echo.wat"))
            try await client.send(.put, "/api/v1/namespaces/_/packages/p1", body: "{}")
            try await client.send(.put, "/api/v1/namespaces/_/packages/p2", body: "{}")
            #expect(try await client.send(.put, "/api/v1/namespaces/_/actions/p1/s", body: #"{"exec":{"kind":"sequence","components":["/guest/echo"]}}"#).status == .ok)
            #expect(try await client.send(.put, "/api/v1/namespaces/_/packages/b", body: #"{"binding":{"namespace":"guest","name":"p1"}}"#).status == .ok)
            #expect(try await client.send(.put, "/api/v1/namespaces/_/actions/a", body: #"{"exec":{"kind":"sequence","components":["/guest/b/s","/guest/echo"]}}"#).status == .ok)
            #expect(try await client.send(.put, "/api/v1/namespaces/_/actions/p2/s", body: #"{"exec":{"kind":"sequence","components":["/guest/a"]}}"#).status == .ok)
            // Repointed: a → b/s = p2/s → a → …
            #expect(try await client.send(.put, "/api/v1/namespaces/_/packages/b?overwrite=true", body: #"{"binding":{"namespace":"guest","name":"p2"}}"#).status == .ok)
            let run = try await client.send(.post, "/api/v1/namespaces/_/actions/a?blocking=true", body: "{}")
            #expect(run.status == .badGateway, "\(run.body)")
            let listed = try await client.send(.get, "/api/v1/namespaces/_/activations?limit=200")
            #expect((listed.json.arrayCount ?? 0) <= 2 * 50 + 1, "bounded records")
            // The innermost record that gave up says why; the chain passed it up.
            #expect(run.json["response"]?["result"] == ["error": "Too many actions in the sequence."])
        }
    }

    /// A nested sequence gets its own record, caused by the outer one.
    @Test func nestedSequences() async throws {
        try await Harness().run { client async throws in
            try await client.deploy("echo", module: try example("echo.wat"))
            try await client.send(.put, "/api/v1/namespaces/_/actions/inner", body: #"{"exec":{"kind":"sequence","components":["/guest/echo"]}}"#)
            try await client.send(.put, "/api/v1/namespaces/_/actions/outer", body: #"{"exec":{"kind":"sequence","components":["/guest/inner","/guest/echo"]}}"#)
            let run = try await client.send(.post, "/api/v1/namespaces/_/actions/outer?blocking=true", body: #"{"x":1}"#)
            #expect(run.json["response"]?["result"] == ["x": 1])
            guard case .string(let inner)? = run.json["logs"]?[0] else { Issue.record("no inner id"); return }
            let record = try await client.send(.get, "/api/v1/namespaces/_/activations/\(inner)")
            #expect(record.json["cause"] == run.json["activationId"])
            #expect(record.json["annotations"]?.keyValue("topmost") == false)
            #expect(record.json["logs"]?.arrayCount == 1)
            // Non-blocking: 202, and the id resolves to the sequence's record.
            let accepted = try await client.send(.post, "/api/v1/namespaces/_/actions/outer", body: "{}")
            #expect(accepted.status == .accepted)
        }
    }
}

extension JSONValue {
    /// The value of `key` in an OpenWhisk key-value array.
    func keyValue(_ key: String) -> JSONValue? {
        guard case .array(let pairs) = self else { return nil }
        return pairs.first { $0["key"] == .string(key) }?["value"]
    }
}

extension JSONValue {
    subscript(index: Int) -> JSONValue? {
        guard case .array(let elements) = self, elements.indices.contains(index) else { return nil }
        return elements[index]
    }
}
