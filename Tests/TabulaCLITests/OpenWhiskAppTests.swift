import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import TabulaAttestation
import TabulaClient
import TabulaWire

/// An OpenWhisk application (a package with shared parameters, two actions, a sequence, a trigger
/// with a rule and a web action) deployed through the REST API of a real `tabula serve` exactly as
/// an OpenWhisk client sends it, then run plainly, through the web, by an event, and
/// confidentially.
@Suite("OpenWhisk application, live", .serialized)
struct OpenWhiskAppTests {
    /// One HTTP exchange with the server, as `wsk` or any OpenWhisk client makes it.
    struct API {
        let server: ServerProcess
        let authorization: String

        init(_ server: ServerProcess) throws {
            self.server = server
            authorization = "Basic " + Data(try server.auth.utf8).base64EncodedString()
        }

        @discardableResult
        func call(_ method: String, _ path: String, _ body: String? = nil, authenticated: Bool = true, contentType: String = "application/json") async throws -> (status: Int, json: JSONValue, headers: [AnyHashable: Any]) {
            var request = URLRequest(url: URL(string: server.apiHost.absoluteString + path)!)
            request.httpMethod = method
            if authenticated { request.setValue(authorization, forHTTPHeaderField: "Authorization") }
            if let body {
                request.httpBody = Data(body.utf8)
                request.setValue(contentType, forHTTPHeaderField: "Content-Type")
            }
            let (data, response) = try await URLSession.shared.data(for: request)
            let http = try #require(response as? HTTPURLResponse)
            return (http.statusCode, (try? JSONValue(parsing: data)) ?? .string(String(decoding: data, as: UTF8.self)), http.allHeaderFields)
        }

        /// An activation record, once stored (bounded: 20 s).
        func record(_ id: String) async throws -> JSONValue? {
            for _ in 0..<200 {
                let reply = try await call("GET", "/api/v1/namespaces/_/activations/\(id)")
                if reply.status == 200 { return reply.json }
                try await Task.sleep(for: .milliseconds(100))
            }
            return nil
        }
    }

    @Test func anApplicationDeploysAndRunsUnchanged() async throws {
        let server = try await ServerProcess()
        defer { _ = server.terminate(); server.removeData() }
        let api = try API(server)
        let transform = JSONValue.string(Data(try example("c/transform.wasm")).base64EncodedString()).encodedString

        // The deployment, as an OpenWhisk client sends it.
        #expect(try await api.call("PUT", "/api/v1/namespaces/_/packages/shop", #"{"parameters":[{"key":"uppercase","value":["customer"]}],"publish":false}"#).status == 200)
        #expect(try await api.call("PUT", "/api/v1/namespaces/_/actions/shop/normalize", #"{"exec":{"kind":"wasm","code":\#(transform),"binary":true}}"#).status == 200)
        #expect(try await api.call("PUT", "/api/v1/namespaces/_/actions/shop/rank", #"{"exec":{"kind":"wasm","code":\#(transform),"binary":true},"parameters":[{"key":"sortBy","value":"total"}]}"#).status == 200)
        let sequence = try await api.call("PUT", "/api/v1/namespaces/_/actions/shop/process", #"{"exec":{"kind":"sequence","components":["/_/shop/normalize","/_/shop/rank"]},"annotations":[{"key":"web-export","value":true}]}"#)
        #expect(sequence.status == 200, "\(sequence.json)")
        #expect(sequence.json["namespace"] == "guest/shop")
        #expect(try await api.call("PUT", "/api/v1/namespaces/_/triggers/orderPlaced", #"{"parameters":[{"key":"channel","value":"shop"}]}"#).status == 200)
        #expect(try await api.call("PUT", "/api/v1/namespaces/_/rules/onOrder", #"{"trigger":"/_/orderPlaced","action":"/_/shop/process"}"#).status == 200)
        let listed = try await api.call("GET", "/api/v1/namespaces/_/packages/shop")
        #expect(listed.json["actions"].map { "\($0)" }?.contains("process") == true)

        let orders = #"{"records":[{"customer":"zoe","total":30},{"customer":"adam","total":12}]}"#
        let expected: JSONValue = [["customer": "ADAM", "total": 12], ["customer": "ZOE", "total": 30]]

        // A plain, blocking invocation of the sequence.
        let plain = try await api.call("POST", "/api/v1/namespaces/_/actions/shop/process?blocking=true&result=true", orders)
        #expect(plain.status == 200, "\(plain.json)")
        #expect(plain.json["records"] == expected)

        // The web action: anyone may call it, no credentials.
        let web = try await api.call("POST", "/api/v1/web/guest/shop/process.json", orders, authenticated: false)
        #expect(web.status == 200, "\(web.json)")
        #expect(web.json["records"] == expected)
        #expect(try await api.call("POST", "/api/v1/web/guest/shop/normalize.json", orders, authenticated: false).status == 404, "only exported actions are on the web")

        // An event: the trigger fires, the rule runs the sequence.
        let fired = try await api.call("POST", "/api/v1/namespaces/_/triggers/orderPlaced", orders)
        #expect(fired.status == 202, "\(fired.json)")
        let firedID = try #require(fired.json["activationId"]?.stringValue)
        let triggerRecord = try #require(try await api.record(firedID))
        let logLine = try #require(triggerRecord["logs"]?.arrayValue?.first?.stringValue)
        let line = try JSONValue(parsing: logLine)
        #expect(line["rule"] == "guest/onOrder")
        let ruleRunID = try #require(line["activationId"]?.stringValue)
        let ruleRun = try #require(try await api.record(ruleRunID))
        #expect(ruleRun["response"]?["result"]?["records"] == expected)
        #expect(ruleRun["logs"]?.arrayValue?.count == 2, "the sequence's record lists its two actions' activations")

        // Confidentially, with the SDK: the sequence runs inside the enclave.
        let client = Client(apiHost: server.apiHost, auth: try Credentials(parsing: try server.auth))
        let enclave = try await client.attest(policy: AppraisalPolicy(allowSimulated: true))
        let function = try await client.verifyFunction(name: "shop/process", enclave: enclave)
        guard case .completed(let reply) = try await client.invokeConfidential(name: "shop/process", parameters: try JSONValue(parsing: orders), enclave: enclave, function: function) else {
            Issue.record("expected a completed confidential invocation")
            return
        }
        #expect(reply.result?.result["records"] == expected)
        #expect(reply.receipt?.components?.map(\.name) == ["shop/normalize", "shop/rank"])
        let activations = try await api.call("GET", "/api/v1/namespaces/_/activations?limit=1&docs=true")
        #expect(activations.json[0]?["response"]?["result"]?[Confidential.sealedResultKey] != nil, "the newest record holds only the sealed answer")
    }
}

extension JSONValue {
    var arrayValue: [JSONValue]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    subscript(index: Int) -> JSONValue? {
        guard case .array(let elements) = self, elements.indices.contains(index) else { return nil }
        return elements[index]
    }
}
