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

    /// A reactor whose `main` answers `{"v":<value>}`.
    private func answering(_ value: Int) -> [UInt8] {
        Array(#"""
        (module
          (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
          (memory 1)
          (data (i32.const 16) "{\"v\":\#(value)}")
          (func (export "main")
            (i32.store (i32.const 0) (i32.const 16))
            (i32.store (i32.const 4) (i32.const 7))
            (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
        """#.utf8)
    }

    @Test func aLoadThatFinishesLateNeverReplacesANewerVersion() async throws {
        // Version 1 loads, version 2 loads and is installed, then version 1's load finishes: an
        // order a slow cold start produces, set here step by step.
        try await withEnclave { enclave in
            let name = FunctionName(namespace: "test", name: "versioned")
            func version(_ value: Int) -> FunctionDefinition {
                FunctionDefinition(name: name, module: answering(value), capabilities: [], revision: "owner/r\(value)/digest")
            }
            let late = try await enclave.prepareLoad(version(1))
            try await enclave.load(version(2))
            #expect(throws: EnclaveError(.superseded, "/test/versioned was loaded again or unloaded while this version loaded, so this version was not installed; invoke it again")) {
                try enclave.install(late)
            }
            #expect(try await enclave.call(name) == #"{"status":"success","success":true,"result":{"v":2}}"#)
            #expect(try await enclave.invoke(name, revision: "owner/r2/digest", parameters: [:]).response.result == ["v": 2])
            // The revision checked out is the one that runs, or none.
            await #expect(throws: EnclaveError.self) { try await enclave.invoke(name, revision: "owner/r1/digest", parameters: [:]) }
            #expect(throws: EnclaveError.self) { try enclave.functionCertificate(name, revision: "owner/r1/digest", version: "0.0.1") }

            // An unload in between (an update or delete retiring the function) also wins.
            let retired = try await enclave.prepareLoad(version(3))
            enclave.unload(name)
            #expect(throws: EnclaveError.self) { try enclave.install(retired) }
            #expect(enclave.loadedFunctions.isEmpty)

            // Without interference, the two halves are a load.
            _ = try enclave.install(try await enclave.prepareLoad(version(4)))
            #expect(try await enclave.call(name) == #"{"status":"success","success":true,"result":{"v":4}}"#)
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
