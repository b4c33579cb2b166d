import Testing
import TabulaEnclave
import TabulaWire

/// Initialisation (the start function, `_initialize`, `wizer.initialize`) runs bounded like an
/// invocation, and without clocks or randomness.
@Suite("Initialisation")
struct InitializationTests {
    private func loadError(_ wat: String, limits: Limits = Limits(timeout: .milliseconds(200)), capabilities: Capabilities = .default) async -> EnclaveError? {
        await loadingError(Array(wat.utf8), limits: limits, capabilities: capabilities)
    }

    @Test func startFunctionThatNeverEndsTimesOut() async {
        let error = await loadError(#"(module (func $spin (loop $l (br $l))) (start $spin) (func (export "main")))"#)
        #expect(error == EnclaveError(.initializationFailed, "the start function failed: it exceeded the time limit of 200 ms"))
    }

    @Test func initializersThatNeverEndTimeOut() async {
        let initialize = await loadError(#"(module (func (export "_initialize") (loop $l (br $l))) (func (export "main")))"#)
        #expect(initialize == EnclaveError(.initializationFailed, "_initialize failed: it exceeded the time limit of 200 ms"))
        let wizer = await loadError(#"(module (func (export "wizer.initialize") (loop $l (br $l))) (func (export "main")))"#)
        #expect(wizer == EnclaveError(.initializationFailed, "wizer.initialize failed: it exceeded the time limit of 200 ms"))
    }

    @Test func theServerBoundsInitialisationWhateverTheFunctionsTimeout() async throws {
        // A function may ask for 300 s; its initialisation still gets at most the enclave's bound,
        // so that one deploy cannot hold a loader thread for minutes.
        let enclave = Enclave(initializationTimeout: .milliseconds(200))
        let spinners = [
            ("the start function", #"(module (func $spin (loop $l (br $l))) (start $spin) (func (export "main")))"#),
            ("_initialize", #"(module (func (export "_initialize") (loop $l (br $l))) (func (export "main")))"#),
            ("wizer.initialize", #"(module (func (export "wizer.initialize") (loop $l (br $l))) (func (export "main")))"#),
        ]
        for (phase, wat) in spinners {
            await #expect(throws: EnclaveError(.initializationFailed, "\(phase) failed: it exceeded the server's initialisation time limit of 200 ms (start function, _initialize and wizer.initialize together)")) {
                try await enclave.load(Array(wat.utf8), limits: Limits(timeout: .seconds(300)))
            }
        }
        // The enclave serves on.
        let name = try await enclave.load(Array(#"(module (func (export "main")))"#.utf8))
        #expect(try await enclave.invoke(name, parameters: [:]).response.status == .developerError)
        try await enclave.shutdown()
    }

    @Test func initialisationPhasesShareOneBudget() async throws {
        // Each phase is armed with what is left, so the phases together never exceed the total.
        let budget = InitializationBudget(limits: Limits(timeout: .seconds(300)), cap: .milliseconds(50))
        #expect(budget.total == .milliseconds(50) && budget.capped)
        #expect(budget.remaining <= .milliseconds(50))
        try await Task.sleep(for: .milliseconds(60))
        #expect(budget.remaining == .zero)
        let own = InitializationBudget(limits: Limits(timeout: .milliseconds(100)), cap: .seconds(10))
        #expect(own.total == .milliseconds(100) && !own.capped)
    }

    @Test func startFunctionRunsOnTheFunctionsFuel() async {
        let error = await loadError(#"(module (func $spin (loop $l (br $l))) (start $spin) (func (export "main")))"#, limits: Limits(fuel: 10_000))
        #expect(error == EnclaveError(.initializationFailed, "the start function failed: it ran out of fuel (its limit is 10000 units)"))
    }

    @Test func startFunctionTrapIsNamed() async {
        let error = await loadError(#"(module (func $t unreachable) (start $t) (func (export "main")))"#)
        #expect(error == EnclaveError(.initializationFailed, "the start function failed: unreachable"))
    }

    @Test func startFunctionUnderTheMemoryLimit() async {
        // memory.grow past the limit fails (-1) during initialisation as during an invocation.
        let error = await loadError(#"""
            (module (memory 1)
              (func $grow (if (i32.eq (memory.grow (i32.const 64)) (i32.const -1)) (then unreachable)))
              (start $grow) (func (export "main")))
            """#, limits: Limits(memory: 2 << 20))
        #expect(error == EnclaveError(.initializationFailed, "the start function failed: it exhausted its memory (2 MiB)"))
    }

    @Test func randomnessAndClocksAreRefusedDuringInitialisation() async {
        // Granted by default to invocations, never to initialisation: Rust's std traps like this.
        for (function, imports) in [
            ("random_get", #"(import "wasi_snapshot_preview1" "random_get" (func $f (param i32 i32) (result i32)))"#),
            ("clock_time_get", #"(import "wasi_snapshot_preview1" "clock_time_get" (func $f (param i32 i64 i32) (result i32)))"#),
        ] {
            let call = function == "random_get" ? "(call $f (i32.const 0) (i32.const 8))" : "(call $f (i32.const 0) (i64.const 1) (i32.const 0))"
            let error = await loadError("""
                (module \(imports) (memory (export "memory") 1)
                  (func (export "_initialize") (if \(call) (then unreachable)))
                  (func (export "main")))
                """)
            #expect(error?.code == .initializationFailed)
            #expect(error?.message.hasPrefix("_initialize failed: unreachable (after \(function) was refused: clocks and randomness are not available during initialisation") == true, "\(String(describing: error))")
        }
    }
}

/// Clocks and randomness for invocations: granted by default, deniable by policy, named when denied.
@Suite("Capabilities")
struct CapabilitiesTests {
    private let module = Array(#"""
        (module
          (import "wasi_snapshot_preview1" "random_get" (func $random (param i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "clock_time_get" (func $time (param i32 i64 i32) (result i32)))
          (import "wasi_snapshot_preview1" "clock_res_get" (func $res (param i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 64) "{}")
          (func (export "main")
            ;; Like Rust's std: a failed random_get is fatal.
            (if (call $random (i32.const 128) (i32.const 16)) (then unreachable))
            (if (call $res (i32.const 1) (i32.const 160)) (then unreachable))
            (if (i64.ne (i64.load (i32.const 160)) (i64.const 1000000)) (then unreachable))
            (if (call $time (i32.const 0) (i64.const 1) (i32.const 168)) (then unreachable))
            (if (i64.ne (i64.rem_u (i64.load (i32.const 168)) (i64.const 1000000)) (i64.const 0)) (then unreachable))
            (i32.store (i32.const 0) (i32.const 64))
            (i32.store (i32.const 4) (i32.const 2))
            (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
        """#.utf8)

    @Test func grantedByDefaultWithAMillisecondClock() async throws {
        #expect(Capabilities.default == [.clock, .random])
        #expect(FunctionDefinition(name: FunctionName(namespace: "t", name: "f"), module: []).capabilities == .default)
        try await withEnclave { enclave in
            let name = try await enclave.load(module, capabilities: .default)
            #expect(try await enclave.call(name) == #"{"status":"success","success":true,"result":{}}"#)
        }
    }

    @Test func deniedCapabilityIsNamedWithTheSettingThatGrantsIt() async throws {
        try await withEnclave { enclave in
            let name = try await enclave.load(module, capabilities: .clock)
            let response = try await enclave.invoke(name, parameters: [:]).response
            #expect(response.status == .developerError)
            #expect(response.result["error"] == .string(
                "The action trapped: unreachable (after random_get was refused: the function's policy does not grant the random capability; grant it with \"random\" in the action's \"capabilities\" annotation (or leave the annotation out: by default both clock and random are granted), or run with tabula run --random)."))
        }
    }
}
