import Testing
import TabulaEnclave
import TabulaWire

/// The enclave as a host of many functions of many tenants.
@Suite("Enclave")
struct EnclaveTests {
    @Test func parallelInvocationsOfDifferentFunctionsGetTheirOwnResults() async throws {
        try await withEnclave(threads: 4) { enclave in
            let echoA = try await enclave.load(try example("echo.wat"), name: "echo", tenant: "alpha", maxSandboxes: 2)
            let echoB = try await enclave.load(try example("echo.wat"), name: "echo", tenant: "beta")
            let hasher = try await enclave.load(try example("c/hasher.wasm"), name: "hasher", tenant: "alpha", maxSandboxes: 2)
            let transform = try await enclave.load(try example("c/transform.wasm"), name: "transform", tenant: "beta")
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<24 {
                    group.addTask {
                        switch index % 4 {
                        case 0:
                            #expect(try await enclave.invoke(echoA, parameters: ["n": .integer(Int64(index))]).response.result == ["n": .integer(Int64(index))])
                        case 1:
                            #expect(try await enclave.invoke(echoB, parameters: ["tenant": "beta", "n": .integer(Int64(index))]).response.result == ["tenant": "beta", "n": .integer(Int64(index))])
                        case 2:
                            let result = try await enclave.invoke(hasher, parameters: ["text": "abc"]).response.result
                            #expect(result["sha256"] == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
                        default:
                            let result = try await enclave.invoke(transform, parameters: ["records": [["v": .integer(Int64(index))]]]).response.result
                            #expect(result["count"] == 1)
                            #expect(result["records"] == [["v": .integer(Int64(index))]])
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
    }

    @Test func tenantsNeverShareASandbox() async throws {
        try await withEnclave { enclave in
            let a = try await enclave.load(try example("echo.wat"), name: "echo", tenant: "alpha")
            let b = try await enclave.load(try example("echo.wat"), name: "echo", tenant: "beta")
            let first = try await enclave.invoke(a, parameters: [:])
            let second = try await enclave.invoke(b, parameters: [:])
            let third = try await enclave.invoke(a, parameters: [:])
            #expect(first.sandbox != second.sandbox)
            #expect(first.sandbox == third.sandbox)
            #expect(third.sequence == 2)
        }
    }

    @Test func oneInvocationAtATimePerSandbox() async throws {
        // With a single sandbox, concurrent invocations queue up; every one gets its own sequence number.
        try await withEnclave(threads: 4) { enclave in
            let name = try await enclave.load(try example("echo.wat"))
            let sequences = try await withThrowingTaskGroup(of: UInt64.self) { group in
                for _ in 0..<12 {
                    group.addTask { try await enclave.invoke(name, parameters: [:]).sequence }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(sequences.sorted() == Array(1...12))
        }
    }

    @Test func unknownFunctionAndUnloading() async throws {
        try await withEnclave { enclave in
            let name = try await enclave.load(try example("hello.wat"))
            #expect(enclave.loadedFunctions == [name])
            enclave.unload(name)
            await #expect(throws: EnclaveError.self) { try await enclave.invoke(name, parameters: [:]) }
        }
    }

    @Test func parametersMustBeAnObject() async throws {
        try await withEnclave { enclave in
            let name = try await enclave.load(try example("hello.wat"))
            await #expect(throws: EnclaveError.self) { try await enclave.invoke(name, parameters: [1, 2]) }
        }
    }
}
