import Testing
import TabulaEnclave
import TabulaWire

/// How stdout and the way a run ends become OpenWhisk's activation response.
@Suite("Function ABI")
struct ABITests {
    private func response(_ module: [UInt8]) async throws -> ActivationResponse {
        try await withEnclave { enclave in
            let name = try await enclave.load(module)
            return try await enclave.invoke(name, parameters: [:]).response
        }
    }

    @Test func objectIsSuccess() async throws {
        let response = try await response(printer(#" {"answer": 42} "#))
        #expect(response == ActivationResponse(status: .success, result: ["answer": 42]))
        #expect(response.jsonLine == #"{"status":"success","success":true,"result":{"answer":42}}"#)
    }

    @Test func arrayIsSuccess() async throws {
        #expect(try await response(printer("[1,2]")) == ActivationResponse(status: .success, result: [1, 2]))
    }

    @Test func topLevelErrorIsApplicationError() async throws {
        let response = try await response(printer(#"{"error":"no such customer"}"#))
        #expect(response.status == .applicationError)
        #expect(response.jsonLine == #"{"status":"application error","success":false,"result":{"error":"no such customer"}}"#)
    }

    @Test(arguments: ["", "hello", "42", "\"text\"", "{\"a\":1} {\"b\":2}", "{\"a\":"])
    func anythingElseIsADeveloperError(output: String) async throws {
        #expect(try await response(printer(output)) == .developerError("The action did not return a dictionary or array."))
    }

    @Test func stderrBecomesLogs() async throws {
        try await withEnclave { enclave in
            let name = try await enclave.load(try example("hello.wat"))
            let invocation = try await enclave.invoke(name, parameters: [:])
            #expect(invocation.logs == ["hello: invoked"])
            #expect(invocation.activationID.count == 32)
        }
    }

    @Test func nonZeroExitWithAResultKeepsTheResult() async throws {
        let module = probe("""
            (func (export "main") (call $begin) (call $num (i32.const 1)) (call $end) (call $proc_exit (i32.const 2)))
            """)
        #expect(try await response(module) == ActivationResponse(status: .success, result: ["v": [1]]))
    }

    @Test func reactorReturningNonZeroWithoutOutput() async throws {
        let module = Array(#"(module (func (export "main") (result i32) (i32.const 4)))"#.utf8)
        #expect(try await response(module) == .developerError("The action did not produce a valid response and exited unexpectedly (exit status 4)."))
    }

    @Test func commandModulesRunStartOnEveryInvocation() async throws {
        try await withEnclave { enclave in
            let name = try await enclave.load(try example("hello.wat"))
            for _ in 0..<3 {
                #expect(try await enclave.call(name) == #"{"status":"success","success":true,"result":{"greeting":"Hello from Tabula!"}}"#)
            }
        }
    }

    @Test func wizerInitializeRunsOnceBeforeTheSnapshot() async throws {
        let module = probe("""
            (global $calls (mut i32) (i32.const 0))
            (func (export "wizer.initialize") (global.set $calls (i32.add (global.get $calls) (i32.const 1))))
            (func (export "main") (call $begin) (call $num (global.get $calls)) (call $end))
            """)
        try await withEnclave { enclave in
            let name = try await enclave.load(module)
            for _ in 0..<3 {
                #expect(try await enclave.call(name) == #"{"status":"success","success":true,"result":{"v":[1]}}"#)
            }
        }
    }
}

/// A result must stay readable once it is wrapped in its activation record (and a list of records):
/// the enclave refuses results that nest so deep that the record could not be read back.
@Suite("Result depth")
struct ResultDepthTests {
    /// `{"x": [[…[1]…]]}`, nesting `depth` levels in all.
    private func nested(_ depth: Int) -> JSONValue {
        var value: JSONValue = 1
        for _ in 0..<(depth - 1) { value = .array([value]) }
        return ["x": value]
    }

    @Test("an echoed result one level deeper than allowed is a developer error that says so; at the limit it is returned")
    func deepResults() async throws {
        try await withEnclave { enclave in
            let name = try await enclave.load(try example("echo.wat"))
            let limit = JSONValue.maximumDepth - 12
            let atLimit = try await enclave.invoke(name, parameters: nested(limit)).response
            #expect(atLimit.status == .success)
            #expect(atLimit.result == nested(limit))
            let over = try await enclave.invoke(name, parameters: nested(limit + 1)).response
            #expect(over.status == .developerError)
            #expect(over.result == ["error": .string("The action's result nests deeper than \(limit) levels.")])
        }
    }

    @Test("a record holding a result at the limit, in a list of records, reads back")
    func recordsReadBack() throws {
        let result = nested(JSONValue.maximumDepth - 12)
        let record = Activation(
            namespace: "guest", name: "echo", version: "0.0.1", subject: "guest", activationId: String(repeating: "0", count: 32),
            start: 0, end: 1, response: Activation.Response(ActivationResponse(status: .success, result: result)), logs: [], annotations: [])
        let list = JSONValue.encode(["activations": [record]] as [String: [Activation]])
        let read = try JSONValue.decode([String: [Activation]].self, from: list)
        #expect(read["activations"]?.first?.response?.result == result)
    }
}
