import Testing
import TabulaEnclave
import TabulaWire

/// Loading: what is refused, with an error that names the problem, and what is accepted.
@Suite("Loading modules")
struct FunctionModuleTests {
    private func loadError(_ module: [UInt8], main: String = "main") async -> EnclaveError? {
        await loadingError(module, main: main)
    }

    @Test func unknownImportIsNamed() async {
        let error = await loadError(Array(#"(module (import "env" "launch_missiles" (func)) (func (export "main")))"#.utf8))
        #expect(error?.code == .unsupportedImport)
        #expect(error?.message.contains("env.launch_missiles") == true)
    }

    @Test func unknownWASIFunctionIsNamed() async {
        let error = await loadError(Array(#"(module (import "wasi_snapshot_preview1" "sock_open" (func)) (func (export "main")))"#.utf8))
        #expect(error?.code == .unsupportedImport)
        #expect(error?.message.contains("wasi_snapshot_preview1.sock_open") == true)
    }

    @Test func importedMemoryIsRefused() async {
        let error = await loadError(Array(#"(module (import "env" "memory" (memory 1)) (func (export "main")))"#.utf8))
        #expect(error?.code == .unsupportedImport)
        #expect(error?.message.contains("env.memory") == true)
    }

    @Test func wrongWASISignatureIsRefused() async {
        let error = await loadError(Array(#"(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32))) (func (export "main")))"#.utf8))
        #expect(error?.code == .unsupportedImport)
        #expect(error?.message.contains("[i32, i32, i32, i32] -> [i32]") == true, "\(String(describing: error))")
    }

    @Test func garbageIsRefused() async {
        let error = await loadError([0xDE, 0xAD, 0xBE, 0xEF, 0x00, 0x01])
        #expect(error?.code == .invalidModule)
        #expect(error?.message.contains("neither a WebAssembly binary") == true)
    }

    @Test func truncatedBinaryIsRefused() async throws {
        let hello = try example("c/hasher.wasm")
        for length in [4, 9, 20, hello.count / 2, hello.count - 1] {
            let error = await loadError(Array(hello.prefix(length)))
            #expect(error?.code == .invalidModule, "prefix of \(length) bytes")
        }
    }

    @Test func flippedBytesNeverCrash() async throws {
        // Whatever a flipped byte does, loading either fails with an error or succeeds.
        let echo = try example("c/transform.wasm")
        try await withEnclave { enclave in
            for offset in stride(from: 8, to: echo.count, by: echo.count / 40) {
                var mutated = echo
                mutated[offset] ^= 0xFF
                _ = try? await enclave.load(mutated)
            }
        }
    }

    @Test func invalidWATIsRefused() async {
        let error = await loadError(Array("(module (func (export \"main\") (i32.add)))".utf8))
        #expect(error?.code == .invalidModule)
        let syntax = await loadError(Array("(module (func".utf8))
        #expect(syntax?.code == .invalidModule)
        #expect(syntax?.message.hasPrefix("invalid WAT text") == true)
    }

    @Test func missingEntryListsTheExports() async {
        let error = await loadError(Array(#"(module (func (export "handler")))"#.utf8))
        #expect(error?.code == .invalidEntryPoint)
        #expect(error?.message.contains("handler") == true)
    }

    @Test func entryWithParametersIsRefused() async {
        let error = await loadError(Array(#"(module (func (export "main") (param i32)))"#.utf8))
        #expect(error?.code == .invalidEntryPoint)
    }

    @Test func reservedExportNamesAreRefused() async {
        let error = await loadError(Array(#"(module (func (export "main")) (func (export "tabula:x")))"#.utf8))
        #expect(error?.code == .invalidModule)
    }

    @Test func multipleMemoriesAreRefused() async {
        let error = await loadError(Array(#"(module (memory 1) (memory 1) (func (export "main")))"#.utf8))
        #expect(error != nil)
    }

    @Test func failingInitialisationIsReported() async {
        let error = await loadError(Array(#"(module (func (export "_initialize") unreachable) (func (export "main")))"#.utf8))
        #expect(error == EnclaveError(.initializationFailed, "_initialize failed: unreachable"))
    }

    @Test func reactorWithANamedEntry() async throws {
        try await withEnclave { enclave in
            let name = try await enclave.load(probe("(func (export \"handle\") (call $begin) (call $num (i32.const 5)) (call $end))"), main: "handle")
            #expect(try await enclave.call(name) == #"{"status":"success","success":true,"result":{"v":[5]}}"#)
        }
    }

    @Test func binaryAndTextFormsBothLoad() async throws {
        try await withEnclave { enclave in
            let text = try await enclave.load(try example("echo.wat"), name: "text")
            #expect(try await enclave.call(text, ["a": 1]) == #"{"status":"success","success":true,"result":{"a":1}}"#)
            let binary = try await enclave.load(try example("c/hasher.wasm"), name: "binary")
            #expect(try await enclave.invoke(binary, parameters: ["text": "abc"]).response.status == .success)
        }
    }
}
