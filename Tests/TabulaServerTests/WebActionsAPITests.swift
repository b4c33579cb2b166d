import Foundation
import HTTPTypes
import NIOCore
import Testing
import TabulaPlatform
import TabulaWire

/// Web actions, with OpenWhisk's documented answers as the expected values (its WebActions.scala
/// and WebActionsApiTests).
@Suite("Web actions API")
struct WebActionsAPITests {
    /// Deploys echo.wat as guest's `name` with annotations (JSON array) and parameters.
    private func deployEcho(_ client: Harness.Client, _ name: String, annotations: String, parameters: String = "[]") async throws {
        let code = JSONValue.string(String(decoding: try example("echo.wat"), as: UTF8.self)).encodedString
        let put = try await client.send(.put, "/api/v1/namespaces/_/actions/\(name)?overwrite=true", body: #"{"exec":{"kind":"wasm","code":\#(code)},"annotations":\#(annotations),"parameters":\#(parameters)}"#)
        #expect(put.status == .ok, "\(put.body)")
    }

    @Test func requestsBecomeParametersAndResultsBecomeResponses() async throws {
        try await Harness().run { client async throws in
            try await deployEcho(client, "echo", annotations: #"[{"key":"web-export","value":true}]"#, parameters: #"[{"key":"fixed","value":"default"}]"#)

            // .json: the parameters the action saw, with the __ow_ fields.
            let json = try await client.web(.post, "/api/v1/web/guest/default/echo.json/some/path?q=1&name=query", headers: [.contentType: "application/json", .init("X-Custom")!: "yes"], body: #"{"name":"body"}"#)
            #expect(json.status == .ok)
            #expect(json.headers[.contentType] == "application/json")
            #expect(json.headers[.init("Access-Control-Allow-Origin")!] == "*")
            #expect(json.headers[.init("x-openwhisk-activation-id")!] != nil)
            let seen = try JSONValue(parsing: json.body)
            #expect(seen["__ow_method"] == "post")
            #expect(seen["__ow_path"] == "/some/path")
            #expect(seen["__ow_headers"]?["x-custom"] == "yes")
            #expect(seen["name"] == "body", "the body wins over the query")
            #expect(seen["q"] == "1")
            #expect(seen["fixed"] == "default")
            #expect(seen["__ow_user"] == nil, "no credentials, no user")

            // .http: the result's statusCode, headers and body.
            let http = try await client.web(.get, "/api/v1/web/guest/default/echo.http?statusCode=201&body=hello", headers: [:], body: "")
            #expect(http.status == .created)
            #expect(http.headers[.contentType] == "text/html; charset=UTF-8")
            #expect(String(decoding: http.body, as: UTF8.self) == "hello")
            // No extension is .http too.
            #expect(try await client.web(.get, "/api/v1/web/guest/default/echo?statusCode=202&body=x", headers: [:], body: "").status == .accepted)
            // A binary content type: the body is base64 of the bytes.
            let png = try await client.web(.post, "/api/v1/web/guest/default/echo.http", headers: [.contentType: "application/json"], body: #"{"headers":{"Content-Type":"image/png"},"body":"iVBORw=="}"#)
            #expect(png.headers[.contentType] == "image/png")
            #expect(png.body == [0x89, 0x50, 0x4E, 0x47])
            let badBase64 = try await client.web(.post, "/api/v1/web/guest/default/echo.http", headers: [.contentType: "application/json"], body: #"{"headers":{"Content-Type":"image/png"},"body":"%%%"}"#)
            #expect(badBase64.status == .badRequest)
            #expect(try JSONValue(parsing: badBase64.body)["error"] == "Response type in header did not match generated content type.")
            let badStatus = try await client.web(.get, "/api/v1/web/guest/default/echo.http?statusCode=abc", headers: [:], body: "")
            #expect(try JSONValue(parsing: badStatus.body)["error"] == "Response is not valid 'message/http'.")
            // The action cannot frame the answer: framing headers are dropped, no 1xx, no body on 204.
            let framed = try await client.web(.post, "/api/v1/web/guest/default/echo.http", headers: [.contentType: "application/json"], body: #"{"headers":{"Content-Length":"2","Transfer-Encoding":"chunked","Connection":"close","X-Kept":"yes","X-OpenWhisk-Activation-Id":"forged"},"body":"hello, longer than two"}"#)
            #expect(framed.status == .ok)
            #expect(String(decoding: framed.body, as: UTF8.self) == "hello, longer than two")
            #expect(framed.headers[.init("X-Kept")!] == "yes")
            #expect(framed.headers[.transferEncoding] == nil)
            #expect(framed.headers[values: .init("x-openwhisk-activation-id")!].count == 1)
            #expect(framed.headers[.init("x-openwhisk-activation-id")!]?.count == 32, "the platform's id, not the function's")
            #expect(framed.headers[.contentLength] == nil || framed.headers[.contentLength] == "22")
            #expect(try await client.web(.get, "/api/v1/web/guest/default/echo.http?statusCode=101&body=x", headers: [:], body: "").status == .badRequest)
            let noContent = try await client.web(.get, "/api/v1/web/guest/default/echo.http?statusCode=204&body=smuggled", headers: [:], body: "")
            #expect(noContent.status == .noContent)
            #expect(noContent.body.isEmpty)
            // No body: 204.
            #expect(try await client.web(.get, "/api/v1/web/guest/default/echo.http?body=", headers: [:], body: "").status == .noContent)

            // .text, .html, .svg.
            let text = try await client.web(.get, "/api/v1/web/guest/default/echo.text?text=plain", headers: [:], body: "")
            #expect(text.headers[.contentType] == "text/plain; charset=UTF-8")
            #expect(String(decoding: text.body, as: UTF8.self) == "plain")
            #expect(try await client.web(.get, "/api/v1/web/guest/default/echo.text", headers: [:], body: "").status == .notFound)
            let html = try await client.web(.get, "/api/v1/web/guest/default/echo.html?html=%3Cp%3Ehi%3C%2Fp%3E", headers: [:], body: "")
            #expect(String(decoding: html.body, as: UTF8.self) == "<p>hi</p>")
            #expect(try JSONValue(parsing: try await client.web(.get, "/api/v1/web/guest/default/echo.html", headers: [:], body: "").body)["error"] == "Response is not valid 'text/html'.")
            #expect(try await client.web(.get, "/api/v1/web/guest/default/echo.svg?svg=%3Csvg%2F%3E", headers: [:], body: "").headers[.contentType] == "image/svg+xml")

            // Form bodies, text bodies.
            let form = try await client.web(.post, "/api/v1/web/guest/default/echo.json", headers: [.contentType: "application/x-www-form-urlencoded"], body: "a=1&b=two+words")
            #expect(try JSONValue(parsing: form.body)["b"] == "two words")
            let plain = try await client.web(.post, "/api/v1/web/guest/default/echo.json", headers: [.contentType: "text/plain"], body: "just text")
            #expect(try JSONValue(parsing: plain.body)["__ow_body"] == "just text")

            // The request may not set the platform's fields.
            let reserved = try await client.web(.get, "/api/v1/web/guest/default/echo.json?__ow_method=get", headers: [:], body: "")
            #expect(reserved.status == .badRequest)
            #expect(try JSONValue(parsing: reserved.body)["error"] == "Request defines parameters that are not allowed (e.g., reserved properties).")
            #expect(reserved.headers[.init("Access-Control-Allow-Origin")!] == "*", "errors carry the CORS headers too")

            // The action's error is its answer, rendered as a result would be.
            let failed = try await client.web(.post, "/api/v1/web/guest/default/echo.http", headers: [.contentType: "application/json"], body: #"{"error":{"statusCode":404,"body":"nope"}}"#)
            #expect(failed.status == .notFound)
            #expect(String(decoding: failed.body, as: UTF8.self) == "nope")

            // A preflight: answered without running the action.
            let preflight = try await client.web(.options, "/api/v1/web/guest/default/echo.json", headers: [.init("Access-Control-Request-Headers")!: "X-Mine"], body: "")
            #expect(preflight.status == .ok)
            #expect(preflight.headers[.init("Access-Control-Allow-Headers")!] == "X-Mine")
        }
    }

    @Test func exportAuthenticationAndRawRequests() async throws {
        try await Harness().run { client async throws in
            try await deployEcho(client, "hidden", annotations: "[]")
            let hidden = try await client.web(.get, "/api/v1/web/guest/default/hidden.json", headers: [:], body: "")
            #expect(hidden.status == .notFound)
            #expect(try JSONValue(parsing: hidden.body)["error"] == "The requested resource does not exist.")
            #expect(try await client.web(.get, "/api/v1/web/nobody/default/hidden.json", headers: [:], body: "").status == .notFound)
            #expect(try await client.web(.get, "/api/v1/web/guest/default/hidden.xyz", headers: [:], body: "").status == .notFound)

            // require-whisk-auth: a string the X-Require-Whisk-Auth header must equal.
            try await deployEcho(client, "guarded", annotations: #"[{"key":"web-export","value":true},{"key":"require-whisk-auth","value":"s3cret"}]"#)
            let refused = try await client.web(.get, "/api/v1/web/guest/default/guarded.json", headers: [:], body: "")
            #expect(refused.status == .unauthorized)
            #expect(try JSONValue(parsing: refused.body)["error"] == "Authentication is possible but has failed or not yet been provided.")
            #expect(try await client.web(.get, "/api/v1/web/guest/default/guarded.json", headers: [.init("X-Require-Whisk-Auth")!: "wrong"], body: "").status == .unauthorized)
            #expect(try await client.web(.get, "/api/v1/web/guest/default/guarded.json", headers: [.init("X-Require-Whisk-Auth")!: "s3cret"], body: "").status == .ok)

            // require-whisk-auth true: any valid credentials, and __ow_user names them.
            try await deployEcho(client, "members", annotations: #"[{"key":"web-export","value":true},{"key":"require-whisk-auth","value":true}]"#)
            #expect(try await client.web(.get, "/api/v1/web/guest/default/members.json", headers: [:], body: "").status == .unauthorized)
            let basic = "Basic " + Data("\(client.other.uuid):\(client.other.key)".utf8).base64EncodedString()
            let member = try await client.web(.get, "/api/v1/web/guest/default/members.json", headers: [.authorization: basic], body: "")
            #expect(member.status == .ok)
            #expect(try JSONValue(parsing: member.body)["__ow_user"] == "other")
            #expect(try JSONValue(parsing: member.body)["__ow_headers"]?["authorization"] == nil, "the caller's key is not passed on")

            // raw-http: the query and body as they came.
            try await deployEcho(client, "raw", annotations: #"[{"key":"web-export","value":true},{"key":"raw-http","value":true}]"#)
            let raw = try await client.web(.post, "/api/v1/web/guest/default/raw.json?a=1&b=2", headers: [.contentType: "application/json"], body: #"{"x":1}"#)
            let rawSeen = try JSONValue(parsing: raw.body)
            #expect(rawSeen["__ow_query"] == "a=1&b=2")
            #expect(rawSeen["__ow_body"] == .string(Data(#"{"x":1}"#.utf8).base64EncodedString()))
            #expect(rawSeen["x"] == nil)

            // final: a default the request may not override.
            try await deployEcho(client, "fixed", annotations: #"[{"key":"web-export","value":true},{"key":"final","value":true}]"#, parameters: #"[{"key":"price","value":10}]"#)
            #expect(try await client.web(.get, "/api/v1/web/guest/default/fixed.json?price=0", headers: [:], body: "").status == .badRequest)
            #expect(try await client.web(.get, "/api/v1/web/guest/default/fixed.json?other=1", headers: [:], body: "").status == .ok)

            // In a package.
            try await client.send(.put, "/api/v1/namespaces/_/packages/site", body: "{}")
            try await deployEcho(client, "site/page", annotations: #"[{"key":"web-export","value":true}]"#)
            let page = try await client.web(.get, "/api/v1/web/guest/site/page.text?body=in-package", headers: [:], body: "")
            #expect(String(decoding: page.body, as: UTF8.self) == "in-package")
        }
    }

    /// A web request whose action outlasts the wait gets OpenWhisk's 202, and its id resolves (the
    /// stand-in is stored before the 202, as for every 202).
    @Test func aSlowWebActionAnswers202AndItsIDResolves() async throws {
        try await Harness(configuration: PlatformConfiguration(concurrency: 2, blockingTimeout: .milliseconds(50))).run { client async throws in
            let module = printing("{}", spin: 3_000_000)
            let code = JSONValue.string(String(decoding: module, as: UTF8.self)).encodedString
            #expect(try await client.send(.put, "/api/v1/namespaces/_/actions/slow", body: #"{"exec":{"kind":"wasm","code":\#(code)},"annotations":[{"key":"web-export","value":true}]}"#).status == .ok)
            let reply = try await client.web(.get, "/api/v1/web/guest/default/slow.json", headers: [:], body: "")
            #expect(reply.status == .accepted)
            #expect(try JSONValue(parsing: reply.body)["error"] == "Response not yet ready.")
            let id = try #require(reply.headers[.init("x-openwhisk-activation-id")!])
            var found = false
            for _ in 0..<300 where !found {
                found = try await client.send(.get, "/api/v1/namespaces/_/activations/\(id)").status == .ok
                if !found { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(found)
        }
    }

    /// A browser or any OHTTP client seals its request to the enclave: the answer comes back
    /// sealed, and the store holds no plaintext.
    @Test func confidentialWebAction() async throws {
        try await Harness().run { client async throws in
            try await deployEcho(client, "private", annotations: #"[{"key":"web-export","value":true}]"#)
            let sealing = try await SealingClient(client)
            let call = try sealing.seal(#"{"diagnosis":"secret-web-value"}"#, path: "/api/v1/namespaces/guest/actions/private")
            let reply = try await client.send(.post, "/api/v1/web/guest/default/private", bytes: call.sealed, contentType: ObliviousHTTP.requestMediaType, as: .anonymous)
            #expect(reply.status == .ok)
            #expect(reply.headers[.contentType] == ObliviousHTTP.responseMediaType)
            let inner = try call.open(reply.body)
            #expect(inner.status == 200)
            let result = try JSONValue(parsing: inner.content)
            #expect(result["result"]?["diagnosis"] == "secret-web-value")
            let listed = try await client.send(.get, "/api/v1/namespaces/_/activations?docs=true")
            #expect(!listed.body.contains("secret-web-value"))
        }
    }
}

extension Harness.Client {
    /// A web request: any method, headers as given (no credentials unless given), a text body.
    func web(_ method: HTTPRequest.Method, _ uri: String, headers: HTTPFields, body: String) async throws -> (status: HTTPResponse.Status, headers: HTTPFields, body: [UInt8]) {
        try await client.execute(uri: uri, method: method, headers: headers, body: body.isEmpty ? nil : ByteBuffer(string: body)) { response in
            (response.status, response.headers, Array(buffer: response.body))
        }
    }
}
