import Foundation
import Testing
import TabulaEnclave
import TabulaRuntime
import TabulaWire

/// A port of OpenWhisk's `BasicActionRunnerTests` (tests/src/test/scala/actionContainers), with the
/// expected statuses, bodies and sentinel counts of OpenWhisk's own tests, and the runtime-specific
/// cases of its Node.js, Go and docker-skeleton runtimes that apply to WebAssembly.
///
/// Deviation, by design: a Tabula function's stdout is its result (docs/functions.md), so what
/// OpenWhisk's test actions print on stdout, a Tabula function logs on stderr; the tests look for
/// those lines there.
@Suite("ActionRuntime")
struct ActionRuntimeTests {
    typealias Streams = RuntimeHarness.Streams

    // MARK: BasicActionRunnerTests

    @Test("handle initialization with no code")
    func initializationWithNoCode() async throws {
        let harness = try await RuntimeHarness()
        try await harness.run { client in
            let reply = try await client.send("/init", body: #"{"value":{"code":"","main":"","binary":false,"env":null}}"#)
            #expect(reply.status != 200)
            #expect(reply.status == 403)
        }
    }

    @Test("handle initialization with no content")
    func initializationWithNoContent() async throws {
        let harness = try await RuntimeHarness()
        try await harness.run { client in
            let reply = try await client.send("/init", body: "{}")
            #expect(reply.status == 403)
            #expect(reply.body == #"{"error":"Missing main/no code to execute."}"#)
            #expect(reply.header("x-tabula-error-code") == "no_code")
        }
    }

    @Test("run and report an error for function not returning a json object")
    func notReturningJSON() async throws {
        let harness = try await RuntimeHarness()
        try await harness.run { client in
            #expect(try await client.initialize(Functions.printing("not json")).status == 200)
            // OpenWhisk's test sends run({}), without a value.
            let reply = try await client.send("/run", body: "{}")
            #expect(reply.status == 502)
            #expect(reply.body == #"{"error":"The action did not return a dictionary or array."}"#)
        }
        #expect(harness.streams.sentinels == (1, 1))
        #expect(Streams.withoutSentinels(harness.streams.out).isEmpty)
        #expect(Streams.withoutSentinels(harness.streams.err).isEmpty)
    }

    @Test("fail to initialize a second time")
    func secondInitialization() async throws {
        let harness = try await RuntimeHarness()
        try await harness.run { client in
            #expect(try await client.initialize(Functions.echo()).status == 200)
            let again = try await client.initialize(Functions.echo())
            #expect(again.status == 403)
            #expect(again.body == #"{"error":"Cannot initialize the action more than once."}"#)
            // The first initialisation stays: the action still runs.
            #expect(try await client.run(["a": 1]).json == ["a": 1])
        }
        #expect((harness.streams.out + harness.streams.err).contains("Cannot initialize the action more than once."))
        // One run, no sentinel for either initialisation.
        #expect(harness.streams.sentinels == (1, 1))
    }

    @Test("invoke non-standard entry point")
    func nonStandardEntryPoint() async throws {
        let harness = try await RuntimeHarness()
        try await harness.run { client in
            #expect(try await client.initialize(Functions.echo(main: "niam"), main: "niam").status == 200)
            let reply = try await client.run(["string": "hello"])
            #expect(reply.status == 200)
            #expect(reply.json == ["string": "hello"])
        }
        #expect(Streams.withoutSentinels(harness.streams.err).isEmpty)
        #expect(Streams.withoutSentinels(harness.streams.out).isEmpty)
        #expect(harness.streams.sentinels == (1, 1))
    }

    @Test("echo arguments and print message to stdout/stderr")
    func echo() async throws {
        let harness = try await RuntimeHarness()
        let arguments: [JSONValue] = [["string": "hello"], ["string": "❄ ☃ ❄"], ["numbers": [42, 1]], ["object": ["a": "A"]]]
        try await harness.run { client in
            #expect(try await client.initialize(Functions.echo(log: "hello stderr\n")).status == 200)
            for argument in arguments {
                let reply = try await client.run(argument)
                #expect(reply.status == 200)
                #expect(reply.json == argument)
            }
        }
        #expect(harness.streams.err.contains("hello stderr"))
        #expect(harness.streams.sentinels == (4, 4))
        // Each activation's logs come before its sentinel.
        #expect(harness.streams.err == String(repeating: "hello stderr\n\(ActionRuntime.sentinel)\n", count: 4))
    }

    @Test("handle unicode in source, input params, logs, and result")
    func unicode() async throws {
        let harness = try await RuntimeHarness()
        try await harness.run { client in
            #expect(try await client.initialize(Functions.unicode).status == 200)
            let reply = try await client.run(["delimiter": "❄"])
            #expect(reply.json?.objectValue?["winter"] == "❄ ☃ ❄")
        }
        #expect(harness.streams.err.lowercased().contains("❄ ☃ ❄"))
        #expect(harness.streams.sentinels == (1, 1))
    }

    @Test("export environment variables before initialization")
    func initializationEnvironment() async throws {
        let harness = try await RuntimeHarness()
        try await harness.run { client in
            #expect(try await client.initialize(Functions.environment, env: ["SOME_VAR": "xyz", "ANOTHER_VAR": ""]).status == 200)
            let reply = try await client.run([:])
            #expect(reply.status == 200)
            let environment = variables(reply)
            #expect(environment["SOME_VAR"] == "xyz")
            #expect(environment["ANOTHER_VAR"] == "")
        }
        #expect(harness.streams.sentinels == (1, 1))
    }

    @Test("confirm expected environment variables")
    func activationEnvironment() async throws {
        // OpenWhisk starts the container with -e __OW_API_HOST=xyz.
        let harness = try await RuntimeHarness(configuration: RuntimeConfiguration(environment: ["__OW_API_HOST": "xyz"]))
        try await harness.run { client in
            #expect(try await client.initialize(Functions.environment).status == 200)
            let reply = try await client.run([:], other: [
                "api_key": "abc", "namespace": "zzz", "action_name": "xxx", "action_version": "0.0.1",
                "activation_id": "iii", "deadline": "123",
            ])
            #expect(reply.status == 200)
            let environment = variables(reply)
            #expect(environment["__OW_API_HOST"] == "xyz")
            #expect(environment["__OW_API_KEY"] == "abc")
            #expect(environment["__OW_NAMESPACE"] == "zzz")
            #expect(environment["__OW_ACTION_NAME"] == "xxx")
            #expect(environment["__OW_ACTION_VERSION"] == "0.0.1")
            #expect(environment["__OW_ACTIVATION_ID"] == "iii")
            #expect(environment["__OW_DEADLINE"] == "123")
            // One value per name: the activation's replaces the enclave's own.
            #expect(try #require(reply.json?.arrayCount) == environment.count)
        }
        #expect(harness.streams.sentinels == (1, 1))
    }

    @Test("echo a large input")
    func largeInput() async throws {
        let harness = try await RuntimeHarness()
        try await harness.run { client in
            #expect(try await client.initialize(Functions.echo()).status == 200)
            let argument: JSONValue = ["arg": .string(String(repeating: "a", count: 1_048_561))]
            let reply = try await client.run(argument)
            #expect(reply.status == 200)
            #expect(reply.json == argument)
        }
    }

    // MARK: Runtime-specific cases (Node.js, Go, docker skeleton)

    @Test("run before init is refused, without sentinels")
    func runBeforeInitialization() async throws {
        let harness = try await RuntimeHarness()
        try await harness.run { client in
            let reply = try await client.run([:])
            #expect(reply.status == 403)
            #expect(reply.body == #"{"error":"System not initialized."}"#)
        }
        #expect(harness.streams.sentinels == (0, 0))
    }

    @Test("a module that does not load fails initialisation with 502, and the runtime can be initialised after")
    func initializationFailures() async throws {
        let harness = try await RuntimeHarness()
        try await harness.run { client in
            let invalid = try await client.initialize("(module (func $f (export \"main\") (i32.add)))")
            #expect(invalid.status == 502)
            #expect(invalid.json?.objectValue?["error"]?.stringValue?.hasPrefix("The action failed to initialize:") == true)
            #expect(invalid.header("x-tabula-error-code") == "initialization_failed")
            let notBase64 = try await client.initialize("this is not base64!", binary: true)
            #expect(notBase64.status == 502)
            let noEntry = try await client.initialize(Functions.echo(), main: "nope")
            #expect(noEntry.status == 502)
            #expect(noEntry.body.contains("nope"))
            // A failed initialisation leaves the runtime uninitialised: OpenWhisk would discard the
            // container, but a retry must not be refused as a second initialisation.
            #expect(try await client.initialize(Functions.echo()).status == 200)
            #expect(try await client.run(["x": 1]).json == ["x": 1])
        }
        // Each failed initialisation logged its reason and the sentinels, like the Node.js runtime.
        #expect(harness.streams.sentinels == (4, 4))
        #expect(harness.streams.err.contains("The action failed to initialize"))
    }

    @Test("a binary module sent base64 with binary true")
    func binaryModule() async throws {
        let module = try Data(contentsOf: examples.appendingPathComponent("c/transform.wasm"))
        let harness = try await RuntimeHarness()
        try await harness.run { client in
            let initialized = try await client.initialize(module.base64EncodedString(), binary: true)
            #expect(initialized.status == 200)
            let reply = try await client.run(["records": [["a": 1], ["a": 3]]])
            #expect(reply.status == 200)
            #expect(reply.json?.objectValue?["count"] == 2)
            // The same base64 without the flag is recognised by its WebAssembly magic.
        }
        let again = try await RuntimeHarness()
        try await again.run { client in
            let initialized = try await client.initialize(module.base64EncodedString())
            #expect(initialized.status == 200)
        }
    }

    @Test("the module digest on /init and /run is the module's SHA-256")
    func moduleDigest() async throws {
        let code = Functions.echo()
        let checker = Enclave()
        let expected = try await checker.validate(FunctionDefinition(name: ActionRuntime.functionName, module: Array(code.utf8))).moduleDigest.hex
        try await checker.shutdown()
        let harness = try await RuntimeHarness()
        try await harness.run { client in
            let initialized = try await client.initialize(code)
            #expect(initialized.header("x-tabula-module-digest") == expected)
            #expect(try await client.run([:]).header("x-tabula-module-digest") == expected)
        }
        #expect(harness.runtime.moduleDigest == expected)
    }

    @Test("run errors: a trap is a 502 developer error, an application error a 200")
    func runErrors() async throws {
        let trapping = try await RuntimeHarness()
        try await trapping.run { client in
            #expect(try await client.initialize(Functions.trap).status == 200)
            let reply = try await client.run([:])
            #expect(reply.status == 502)
            #expect(reply.json?.objectValue?["error"]?.stringValue?.hasPrefix("The action trapped: unreachable") == true)
            // The sandbox is rewound: the next activation runs (and traps) the same way.
            #expect(try await client.run([:]).status == 502)
        }
        #expect(trapping.streams.sentinels == (2, 2))
        let failing = try await RuntimeHarness()
        try await failing.run { client in
            #expect(try await client.initialize(Functions.printing(#"{"error":"sorry"}"#)).status == 200)
            let reply = try await client.run([:])
            #expect(reply.status == 200)
            #expect(reply.json == ["error": "sorry"])
        }
    }

    @Test("an array result is a success")
    func arrayResult() async throws {
        let harness = try await RuntimeHarness()
        try await harness.run { client in
            #expect(try await client.initialize(Functions.printing(#"["a", "b"]"#)).status == 200)
            let reply = try await client.run([:])
            #expect(reply.status == 200)
            #expect(reply.json == ["a", "b"])
        }
    }

    @Test("bad bodies get 400 with OpenWhisk's error body, and the runtime keeps serving")
    func badBodies() async throws {
        let harness = try await RuntimeHarness()
        try await harness.run { client in
            let badInit = try await client.send("/init", body: "{\"value\": {")
            #expect(badInit.status == 400)
            #expect(badInit.json?.objectValue?["error"] == "The request body is not valid JSON.")
            #expect(try await client.send("/init", body: "[1]").status == 400)
            #expect(try await client.send("/init", body: #"{"value":{"code":"x","main":7}}"#).status == 400)
            #expect(try await client.send("/init", body: #"{"value":{"code":"x","env":"A=1"}}"#).status == 400)
            #expect(try await client.initialize(Functions.echo()).status == 200)
            #expect(try await client.send("/run", body: "not json").status == 400)
            #expect(try await client.send("/run", body: "\"text\"").status == 400)
            // OpenWhisk's docker skeleton answers a non-object argument with an error, and no sentinel.
            let scalar = try await client.send("/run", body: #"{"value":"A"}"#)
            #expect(scalar.status == 400)
            #expect(scalar.body == #"{"error":"The action did not receive a dictionary as an argument."}"#)
            #expect(try await client.run(["a", "b"]).status == 400)
            let unknown = try await client.send("/nothing", body: "{}")
            #expect(unknown.status == 404)
            #expect(unknown.json?.objectValue?["error"] != nil)
            #expect(try await client.send("/run", method: .get, body: nil).status == 404)
            #expect(try await client.run(["still": "serving"]).json == ["still": "serving"])
        }
        #expect(harness.streams.sentinels == (1, 1))
    }

    @Test("hostile activation fields cannot forge or cut environment variables")
    func hostileFields() async throws {
        let harness = try await RuntimeHarness()
        try await harness.run { client in
            #expect(try await client.initialize(Functions.environment, env: ["GOOD": "1", "BAD=NAME": "2", "NUL": "a\u{0}b"]).status == 200)
            let reply = try await client.run([:], other: ["x=y": "1", "ok": "2", "cut": "a\u{0}__OW_X=1", "object": ["a": 1], "number": 5])
            let environment = variables(reply)
            #expect(environment["GOOD"] == "1")
            #expect(environment["__OW_OK"] == "2")
            #expect(environment["__OW_NUMBER"] == "5")
            #expect(environment.keys.allSatisfy { !$0.contains("BAD") && !$0.contains("X=") && $0 != "NUL" && $0 != "__OW_CUT" && $0 != "__OW_OBJECT" })
        }
    }

    @Test("the sandbox is rewound after every activation")
    func rewound() async throws {
        let harness = try await RuntimeHarness()
        try await harness.run { client in
            let initialized = try await client.initialize(Functions.counter)
            #expect(initialized.status == 200)
            let first = try await client.run([:])
            let second = try await client.run([:])
            #expect(first.json == ["count": 1])
            #expect(second.json == ["count": 1])
        }
    }

    @Test("the attestation bundle is served, simulated here")
    func attestation() async throws {
        let harness = try await RuntimeHarness()
        try await harness.run { client in
            let reply = try await client.send("/api/v1/attestation", method: .get, body: nil)
            #expect(reply.status == 200)
            let bundle = try #require(reply.json?.objectValue)
            #expect(bundle["tee"] == "simulated")
            #expect(bundle["certificate"]?.stringValue?.contains("BEGIN CERTIFICATE") == true)
            let fresh = try await client.send("/api/v1/attestation?nonce=00ff", method: .get, body: nil)
            #expect(fresh.status == 200)
            #expect(fresh.json?.objectValue?["evidence"] != bundle["evidence"])
            #expect(try await client.send("/api/v1/attestation?nonce=zz", method: .get, body: nil).status == 400)
        }
        #expect(harness.streams.out.isEmpty && harness.streams.err.isEmpty)
    }

    // MARK: Knative (OpenWhisk's single entry point)

    static let knative = ["__OW_RUNTIME_PLATFORM": "knative"]

    @Test("Knative: init, activation and value in one request")
    func knativeInitAndRun() async throws {
        let harness = try await RuntimeHarness(configuration: RuntimeConfiguration(environment: Self.knative))
        try await harness.run { client in
            let body: JSONValue = [
                "init": ["name": "hello", "main": "main", "binary": false, "code": .string(Functions.echo())],
                "activation": [
                    "namespace": "default", "action_name": "hello", "api_host": "", "api_key": "",
                    "activation_id": "", "transaction_id": "", "deadline": "4102498800000",
                ],
                "value": ["name": "Joe", "place": "TX"],
            ]
            let reply = try await client.send("/", body: body.encodedString)
            #expect(reply.status == 200)
            let result = try #require(reply.json?.objectValue)
            #expect(result["name"] == "Joe")
            #expect(result["place"] == "TX")
            #expect(result["__ow_method"] == "POST")
            #expect(result["__ow_path"] == "")
            #expect(result["__ow_user"] == "default")
            #expect(result["__ow_headers"]?.objectValue?["content-type"] == "application/json")
            #expect(reply.header("x-tabula-module-digest")?.count == 64)
            // Then a run alone; and a second init is refused.
            let again = try await client.send("/", body: #"{"activation":{"namespace":"default"},"value":{"name":"Ann"}}"#)
            #expect(again.json?.objectValue?["name"] == "Ann")
            let reinit = try await client.send("/", body: JSONValue.object(["init": ["code": .string(Functions.echo())]]).encodedString)
            #expect(reinit.status == 403)
            #expect(reinit.body == #"{"error":"Cannot initialize the action more than once."}"#)
            // Knative mode serves only /.
            #expect(try await client.send("/init", body: "{}").status == 404)
            #expect(try await client.send("/run", body: "{}").status == 404)
        }
        #expect(harness.streams.sentinels == (2, 2))
    }

    @Test("Knative: init alone, then activations; the environment names the action")
    func knativeInitThenRun() async throws {
        let harness = try await RuntimeHarness(configuration: RuntimeConfiguration(environment: Self.knative))
        try await harness.run { client in
            #expect(try await client.send("/", body: #"{"value":{}}"#).status == 403)
            let initialized = try await client.send("/", body: JSONValue.object(["init": ["name": "envy", "code": .string(Functions.environment)]]).encodedString)
            #expect(initialized.status == 200)
            #expect(initialized.body == #"{"ok":true}"#)
            let reply = try await client.send("/", body: #"{"activation":{"namespace":"default","deadline":"4102498800000"},"value":{}}"#)
            let environment = variables(reply)
            #expect(environment["__OW_NAMESPACE"] == "default")
            #expect(environment["__OW_DEADLINE"] == "4102498800000")
            #expect(environment["__OW_ACTION_NAME"] == "envy")
        }
        #expect(harness.streams.sentinels == (1, 1))
    }

    @Test("Knative: a dedicated runtime initialised from the environment refuses init")
    func knativeDedicated() async throws {
        var environment = Self.knative
        environment["__OW_ACTION_CODE"] = Functions.echo(main: "hello")
        environment["__OW_ACTION_MAIN"] = "hello"
        let harness = try await RuntimeHarness(configuration: RuntimeConfiguration(environment: environment))
        try await harness.runtime.start()
        try await harness.run { client in
            let reply = try await client.send("/", body: #"{"value":{"name":"Joe"}}"#)
            #expect(reply.status == 200)
            #expect(reply.json == ["name": "Joe"])
            let refused = try await client.send("/", body: JSONValue.object(["init": ["code": .string(Functions.echo())]]).encodedString)
            #expect(refused.status == 403)
            #expect(refused.body == #"{"error":"Cannot initialize a runtime with a dedicated function."}"#)
        }
    }

    @Test("Knative: a web-style result is the HTTP answer")
    func knativeWebResult() async throws {
        let harness = try await RuntimeHarness(configuration: RuntimeConfiguration(environment: Self.knative))
        try await harness.run { client in
            let code = Functions.printing(#"{"statusCode":201,"headers":{"X-Greeting":"hi"},"body":"<html><body><h3>hello Joe</h3></body></html>"}"#)
            let reply = try await client.send("/", body: JSONValue.object(["init": ["code": .string(code)], "value": [:]]).encodedString)
            #expect(reply.status == 201)
            #expect(reply.header("x-greeting") == "hi")
            #expect(reply.header("content-type") == "text/html; charset=UTF-8")
            #expect(reply.body == "<html><body><h3>hello Joe</h3></body></html>")
        }
    }

    /// The function cannot frame the answer (OpenWhisk's `.http` rule, shared with tabula serve's
    /// web actions): no 1xx, no body on 204, no framing headers, none of the runtime's headers.
    @Test("Knative: a web-style result cannot split the answer or forge the runtime's headers")
    func knativeWebResultCannotFrame() async throws {
        var environment = Self.knative
        environment["__OW_ACTION_CODE"] = Functions.echo()
        let harness = try await RuntimeHarness(configuration: RuntimeConfiguration(environment: environment))
        try await harness.runtime.start()
        try await harness.run { client in
            let smuggled = try await client.send("/", body: #"{"value":{"statusCode":204,"body":"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nPWNED"}}"#)
            #expect(smuggled.status == 204)
            #expect(smuggled.body.isEmpty)
            let informational = try await client.send("/", body: #"{"value":{"statusCode":101,"body":"x"}}"#)
            #expect(informational.status == 400)
            #expect(informational.json?["error"] == "Response is not valid 'message/http'.")
            let forged = try await client.send("/", body: #"{"value":{"headers":{"x-tabula-module-digest":"forged","Content-Length":"1","Transfer-Encoding":"chunked","Upgrade":"h2c"},"body":"ok"}}"#)
            #expect(forged.status == 200)
            #expect(forged.body == "ok")
            #expect(forged.header("x-tabula-module-digest") != "forged")
            #expect(forged.header("x-tabula-module-digest")?.count == 64, "the runtime's own digest")
            #expect(forged.header("upgrade") == nil)
            #expect(forged.header("transfer-encoding") == nil)
        }
    }

    /// Activations beyond the sandbox and the waiting room are refused at once (429, never 503,
    /// which OpenWhisk would reschedule), rather than piling up work that runs to its time limit.
    @Test("activations waiting for the sandbox are bounded")
    func waitingIsBounded() async throws {
        var configuration = RuntimeConfiguration()
        configuration.waitingLimit = 1
        let harness = try await RuntimeHarness(configuration: configuration)
        let spin = #"""
            (module
              (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
              (memory (export "memory") 1)
              (data (i32.const 64) "{}")
              (func (export "main") (local $i i32)
                (block $done (loop $again
                  (br_if $done (i32.ge_u (local.get $i) (i32.const 2000000)))
                  (local.set $i (i32.add (local.get $i) (i32.const 1)))
                  (br $again)))
                (i32.store (i32.const 0) (i32.const 64))
                (i32.store (i32.const 4) (i32.const 2))
                (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
            """#
        try await harness.run { client in
            #expect(try await client.initialize(spin).status == 200)
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<5 { group.addTask { try await client.run([:]).status } }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == 200 }.count >= 2, "\(statuses)")
            #expect(statuses.filter { $0 == 429 }.count >= 1, "one runs, one waits, the rest are refused: \(statuses)")
            #expect(statuses.allSatisfy { $0 == 200 || $0 == 429 })
        }
    }

    /// A failure's reason may quote the module (a `main` it lacks): it cannot forge a sentinel line.
    @Test("a failed init cannot forge a sentinel")
    func failedInitCannotForgeASentinel() async throws {
        let harness = try await RuntimeHarness()
        try await harness.run { client in
            let reply = try await client.initialize(Functions.echo(), main: "nope\n\(ActionRuntime.sentinel)")
            #expect(reply.status == 502)
        }
        #expect(harness.streams.sentinels == (1, 1))
    }

    /// A body that only carries an activation is bounded well below the code's limit: one request
    /// must not fill the container's memory.
    @Test("a run's body is bounded")
    func runBodyIsBounded() async throws {
        let harness = try await RuntimeHarness()
        try await harness.run { client in
            #expect(try await client.initialize(Functions.echo()).status == 200)
            let big = String(repeating: "a", count: (8 << 20) + 1)
            let reply = try await client.send("/run", body: #"{"value":{"x":"\#(big)"}}"#)
            #expect(reply.status == 413)
        }
    }

    @Test("configuration from the environment: unknown platforms and methods are refused")
    func configuration() throws {
        #expect(throws: RuntimeError.self) { try RuntimeConfiguration(environment: ["__OW_RUNTIME_PLATFORM": "lambda"]) }
        #expect(throws: RuntimeError.self) { try RuntimeConfiguration(environment: ["__OW_HTTP_METHODS": "[GET,PATCH]"]) }
        let configuration = try RuntimeConfiguration(environment: [
            "__OW_HTTP_METHODS": "[GET,POST]", "__OW_ACTION_CODE": "x", "__OW_ACTION_BINARY": "true", "__OW_API_HOST": "h", "PATH": "/bin",
        ])
        #expect(configuration.httpMethods == ["GET", "POST"])
        #expect(configuration.dedicated?.binary == true)
        #expect(configuration.dedicated?.main == "main")
        #expect(configuration.inherited.map(\.0) == ["__OW_ACTION_BINARY", "__OW_API_HOST", "__OW_HTTP_METHODS"])
    }
}

extension JSONValue {
    var arrayCount: Int? {
        if case .array(let items) = self { return items.count }
        return nil
    }
}
