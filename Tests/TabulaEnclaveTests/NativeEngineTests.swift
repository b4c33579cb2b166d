import Foundation
import TabulaAttestation
import TabulaEnclave
import TabulaWire
import Testing

/// The native engine runs every function exactly as the interpreter does: the same results, logs,
/// trap messages, limits and snapshot digests, compared byte for byte.
@Suite("Native engine")
struct NativeEngineTests {
    /// One module of the differential corpus, with the inputs it is invoked with, in order, in
    /// one reused sandbox.
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var module: [UInt8]
        var inputs: [JSONValue] = [[:], ["a": "secret"], [:]]
        var limits = Limits()
        var capabilities: Capabilities = .default
        var main = "main"
        var testDescription: String { name }
    }

    /// What one engine made of a case: every invocation's response line and logs, and the
    /// snapshot digest.
    private func outcomes(_ item: Case, engines: Engines) async throws -> (lines: [String], engine: ExecutionEngine?) {
        try await withEnclave(engines: engines) { enclave in
            let name = FunctionName(namespace: "test", name: "differential")
            let info = try await enclave.load(FunctionDefinition(name: name, module: item.module, main: item.main, limits: item.limits, capabilities: item.capabilities))
            var lines = ["snapshot \(info.snapshotDigest.hex)", "init \(info.initializationLogs)"]
            for input in item.inputs {
                let invocation = try await enclave.invoke(name, parameters: input)
                lines.append(invocation.response.jsonLine)
                lines.append(invocation.logs.joined(separator: "\n"))
            }
            return (lines, info.engine)
        }
    }

    static let corpus: [Case] = {
        var cases: [Case] = []
        func add(_ name: String, _ module: [UInt8], inputs: [JSONValue] = [[:], ["a": "secret"], [:]], limits: Limits = Limits(), capabilities: Capabilities = .default) {
            cases.append(Case(name: name, module: module, inputs: inputs, limits: limits, capabilities: capabilities))
        }
        func trap(_ name: String, _ body: String) {
            add(name, probe("""
                (type $two (func (param i32 i32) (result i32)))
                (type $none (func (result i32)))
                (table 4 funcref)
                (elem (i32.const 0) $seven $add)
                (func $seven (result i32) (i32.const 7))
                (func $add (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
                (func $deep (param i32) (result i32) (i32.add (call $deep (i32.add (local.get 0) (i32.const 1))) (i32.const 1)))
                (func (export "main")
                  (call $begin)
                  (call $num (i32.const 1))
                  \(body)
                  (call $end))
                """))
        }
        trap("unreachable", "(unreachable)")
        trap("divide by zero", "(drop (i32.div_s (i32.const 1) (i32.const 0)))")
        trap("remainder by zero", "(drop (i64.rem_u (i64.const 1) (i64.const 0)))")
        trap("signed overflow", "(drop (i32.div_s (i32.const 0x80000000) (i32.const -1)))")
        trap("remainder of minimum by -1 is zero", "(call $num (i32.rem_s (i32.const 0x80000000) (i32.const -1)))")
        trap("conversion of NaN", "(drop (i32.trunc_f32_s (f32.div (f32.const 0) (f32.const 0))))")
        trap("conversion out of range", "(drop (i64.trunc_f64_u (f64.const -1)))")
        trap("saturating conversion", "(call $num (i32.trunc_sat_f64_u (f64.const 1e30))) (call $num (i32.trunc_sat_f32_s (f32.const -3.7)))")
        trap("load out of bounds", "(drop (i32.load (i32.const 65534)))")
        trap("store out of bounds with offset", "(i64.store offset=4294967295 (i32.const 1) (i64.const 0))")
        trap("fill out of bounds", "(memory.fill (i32.const 65000) (i32.const 1) (i32.const 1000))")
        trap("copy out of bounds", "(memory.copy (i32.const 0) (i32.const 65000) (i32.const 1000))")
        trap("indirect call to the wrong type", "(drop (call_indirect (type $two) (i32.const 1) (i32.const 2) (i32.const 0)))")
        trap("indirect call to a null element", "(drop (call_indirect (type $none) (i32.const 3)))")
        trap("indirect call beyond the table", "(drop (call_indirect (type $none) (i32.const 9)))")
        trap("indirect calls that work", "(call $num (call_indirect (type $none) (i32.const 0))) (call $num (call_indirect (type $two) (i32.const 40) (i32.const 2) (i32.const 1)))")
        trap("stack exhaustion", "(drop (call $deep (i32.const 0)))")
        trap("float edge cases", """
            (call $num (i32.reinterpret_f32 (f32.min (f32.const -0) (f32.const 0))))
            (call $num (i32.reinterpret_f32 (f32.max (f32.const -0) (f32.const 0))))
            (call $num (i32.trunc_f64_s (f64.nearest (f64.const 2.5))))
            (call $num (i32.trunc_f64_s (f64.nearest (f64.const 3.5))))
            (call $num (i32.trunc_f32_s (f32.ceil (f32.const 1.2))))
            (call $num (i32.trunc_f32_s (f32.floor (f32.const 1.8))))
            (call $num (i32.wrap_i64 (i64.reinterpret_f64 (f64.copysign (f64.const 1) (f64.const -2)))))
            (call $num (i32.wrap_i64 (i64.shr_u (i64.reinterpret_f64 (f64.sqrt (f64.const 2))) (i64.const 20))))
            """)
        trap("integer edge cases", """
            (call $num (i32.clz (i32.const 0))) (call $num (i32.ctz (i32.const 0))) (call $num (i32.popcnt (i32.const -1)))
            (call $num (i32.rotl (i32.const 0x80000001) (i32.const 33))) (call $num (i32.shr_s (i32.const -8) (i32.const 33)))
            (call $num (i32.wrap_i64 (i64.extend32_s (i64.const 0x80000000)))) (call $num (i32.extend8_s (i32.const 0x80)))
            (call $num (i32.wrap_i64 (i64.clz (i64.const 1))))
            """)
        trap("blocks, branch tables and multiple values", """
            (call $num (block $a (result i32) (i32.add (block $b (result i32) (br_table $a $b $a (i32.const 11) (i32.const 1))) (i32.const 100))))
            (call $num (block $a (result i32) (i32.add (block $b (result i32) (br_table $a $b $a (i32.const 12) (i32.const 7))) (i32.const 100))))
            (call $num (block $outer (result i32)
              (block $inner (result i32 i32) (i32.const 3) (i32.const 4))
              (i32.add)))
            (call $num (loop $l (result i32) (i32.const 5)))
            (call $num (select (i32.const 8) (i32.const 9) (i32.const 0)))
            """)
        add("memory growth", probe("""
            (func (export "main")
              (call $begin)
              (call $num (memory.size))
              (call $num (memory.grow (i32.const 2)))
              (call $num (i32.load (i32.const 70000)))
              (i32.store (i32.const 70000) (i32.const 99))
              (call $num (memory.grow (i32.const 100000)))
              (call $end))
            """))
        add("memory limit", probe("""
            (func (export "main")
              (call $begin)
              (call $num (memory.grow (i32.const 100)))
              (drop (i32.load (i32.const 6553600)))
              (call $end))
            """), limits: Limits(memory: 2 << 20))
        add("exit status", probe(#"(func (export "main") (call $proc_exit (i32.const 3)))"#))
        add("output limit", probe("""
            (func (export "main")
              (call $begin)
              (loop $more (call $num (i32.const 1234567)) (br_if $more (i32.lt_u (global.get $out) (i32.const 4000))))
              (call $end))
            """), limits: Limits(output: 1000))
        add("refused randomness", probe("""
            (func (export "main")
              (call $begin)
              (call $num (call $random (i32.const 9000) (i32.const 8)))
              (unreachable))
            """, imports: #"(import "wasi_snapshot_preview1" "random_get" (func $random (param i32 i32) (result i32)))"#), capabilities: [])
        add("fuel", probe("""
            (func (export "main")
              (local $i i32)
              (call $begin)
              (loop $spin (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $spin (i32.lt_u (local.get $i) (i32.const 100000000))))
              (call $end))
            """), inputs: [[:], [:]], limits: Limits(fuel: 1_000_000))
        add("initialisation writes kept in the snapshot", Array("""
            (module
              (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
              (memory (export "memory") 1)
              (global $calls (mut i32) (i32.const 0))
              (data (i32.const 64) "{\\"n\\":0}")
              (func (export "_initialize") (i32.store8 (i32.const 69) (i32.const 55)))
              (func (export "main")
                (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
                (i32.store8 (i32.const 69) (i32.add (i32.const 48) (global.get $calls)))
                (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const 7))
                (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
            """.utf8))
        return cases
    }()

    @Test(arguments: corpus)
    func corpusMatchesTheInterpreter(item: Case) async throws {
        let interpreted = try await outcomes(item, engines: .interpreterOnly)
        let native = try await outcomes(item, engines: try await TestIsolation.nativeEngines(child: nil))
        #expect(interpreted.engine == .interpreter)
        #expect(native.engine == .native)
        #expect(native.lines == interpreted.lines)
    }

    @Test(arguments: ["hello.wat", "echo.wat", "c/hasher.wasm", "c/transform.wasm", "rust/wordcount.wasm"])
    func examplesMatchTheInterpreter(path: String) async throws {
        let inputs: [JSONValue] = [
            ["text": "the cat and the dog", "name": "x", "top": 2],
            ["records": [["name": "bob", "age": 30], ["name": "al", "age": 2]], "sortBy": "age", "uppercase": ["name"]],
            ["text": .string(String(repeating: "secret ", count: 3000)), "rounds": 3],
            [:],
        ]
        let item = Case(name: path, module: try example(path), inputs: inputs)
        let interpreted = try await outcomes(item, engines: .interpreterOnly)
        let native = try await outcomes(item, engines: try await TestIsolation.nativeEngines(child: nil))
        #expect(native.engine == .native)
        #expect(native.lines == interpreted.lines)
    }

    @Test func runawayLoopEndsAtItsTimeout() async throws {
        try await withEnclave(engines: try await TestIsolation.nativeEngines(child: nil)) { enclave in
            let name = try await enclave.load(probe(#"(func (export "main") (loop $forever (br $forever)))"#), limits: Limits(timeout: .milliseconds(200)))
            #expect(enclave.engine(of: name) == .native)
            for _ in 0..<2 {
                let response = try await enclave.invoke(name, parameters: [:]).response
                #expect(response.status == .developerError)
                #expect(response.result["error"]?.stringValue?.hasPrefix("The action exceeded its time limits") == true)
            }
        }
    }

    @Test func fuelIsDeterministic() async throws {
        // The same run ends the same way under the same fuel: one limit below the work, one above.
        let module = probe("""
            (func (export "main")
              (local $i i32)
              (call $begin)
              (loop $spin (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $spin (i32.lt_u (local.get $i) (i32.const 200000))))
              (call $num (local.get $i))
              (call $end))
            """)
        for (fuel, succeeds) in [(UInt64(100_000), false), (UInt64(50_000_000), true)] {
            try await withEnclave(engines: try await TestIsolation.nativeEngines(child: nil)) { enclave in
                let name = try await enclave.load(module, limits: Limits(fuel: fuel))
                for _ in 0..<3 {
                    let response = try await enclave.invoke(name, parameters: [:]).response
                    #expect(response.success == succeeds)
                    if !succeeds { #expect(response.result["error"]?.stringValue?.contains("fuel") == true) }
                }
            }
        }
    }

    @Test func unsupportedModulesFallBackUnlessTheNativeEngineIsRequired() async throws {
        let simd = Array(#"(module (func (export "_start") (drop (v128.const i32x4 1 2 3 4))))"#.utf8)
        try await withEnclave(engines: try await TestIsolation.nativeEngines(child: nil)) { enclave in
            let name = FunctionName(namespace: "test", name: "simd")
            let info = try await enclave.load(FunctionDefinition(name: name, module: simd))
            #expect(info.engine == .interpreter)
            #expect(info.engineFallback?.contains("SIMD") == true)
            #expect(try await enclave.invoke(name, parameters: [:]).engine == .interpreter)
            await #expect {
                try await enclave.load(FunctionDefinition(name: name, module: simd, engine: .native))
            } throws: { ($0 as? EnclaveError)?.code == .unsupportedByEngine }
        }
        await #expect {
            try await withEnclave { try await $0.load(FunctionDefinition(name: FunctionName(namespace: "t", name: "n"), module: Array("(module (func (export \"_start\")))".utf8), engine: .native)) }
        } throws: { ($0 as? EnclaveError)?.code == .compilationFailed }
    }

    @Test func codeCacheIsAuthenticated() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tabula-cache-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let key = [UInt8](repeating: 7, count: 32)
        let module = try example("echo.wat")
        func load(key: [UInt8]) async throws -> FunctionInfo {
            try await withEnclave(engines: Engines.detect(cacheDirectory: directory, cacheKey: key)) { enclave in
                let name = FunctionName(namespace: "test", name: "cached")
                let info = try await enclave.load(FunctionDefinition(name: name, module: module))
                #expect(try await enclave.invoke(name, parameters: ["k": "v"]).response.result == ["k": "v"])
                return info
            }
        }
        #expect(try await load(key: key).codeCache == "miss")
        let hit = try await load(key: key)
        #expect(hit.codeCache == "hit")
        #expect(hit.compileTime == .zero)
        // Another key (another enclave, or a restart without a sealing key) cannot use the entry.
        #expect(try await load(key: [UInt8](repeating: 8, count: 32)).codeCache == "rejected")
        #expect(try await load(key: [UInt8](repeating: 8, count: 32)).codeCache == "hit")
        // Tampered code is refused and compiled again, never mapped.
        let entries = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        #expect(entries.count == 1)
        let path = directory.appendingPathComponent(entries[0]).path
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[bytes.count / 2] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect(try await load(key: [UInt8](repeating: 8, count: 32)).codeCache == "rejected")
        #expect(try await load(key: [UInt8](repeating: 8, count: 32)).codeCache == "hit")
    }

    @Test func loaderRefusesWhatIsNotItsOwnKindOfImage() async throws {
        let compiler = try #require(try await TestIsolation.nativeEngines(child: nil).compiler)
        let module = try FunctionModule(bytes: try example("echo.wat"), memoryLimit: 64 << 20)
        let good = try await offThePool { try compiler.translateAndCompile(module) }
        #expect(throws: Never.self) { _ = try NativeImage(code: NativeCode(image: good.image, typeDescriptions: [], compileDuration: .zero, cached: false, cacheStatus: "off")) }
        var notELF = good.image
        notELF[1] = 0x00
        var otherMachine = good.image
        otherMachine[18] = 0x28  // EM_ARM
        var executable = good.image
        executable[16] = 2  // ET_EXEC
        var headersOutside = good.image
        headersOutside.replaceSubrange(32..<40, with: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F])
        for (image, problem) in [([UInt8](), "too short"), (notELF, "not ELF"), (otherMachine, "machine"), (executable, "position-independent"),
                                  (headersOutside, "program headers"), (Array(good.image.prefix(200)), "program headers")] {
            #expect {
                _ = try NativeImage(code: NativeCode(image: image, typeDescriptions: [], compileDuration: .zero, cached: false, cacheStatus: "off"))
            } throws: { error in
                guard let error = error as? EnclaveError else { return false }
                return error.code == .compilationFailed && error.message.contains(problem)
            }
        }
    }

    @Test func compilationIsBoundedInSizeAndTime() async throws {
        let located = try #require(try await TestIsolation.nativeEngines(child: nil).compiler)
        let module = try FunctionModule(bytes: try example("c/hasher.wasm"), memoryLimit: 64 << 20)
        var small = located
        small.bounds.sourceBytes = 64 << 10
        let tooLarge = await failure { [small] in _ = try small.translateAndCompile(module) }
        #expect(tooLarge?.code == .limitExceeded && tooLarge?.message.contains("translates to") == true, "\(String(describing: tooLarge))")
        // The hasher takes seconds of CPU to compile; one second is not enough, and the compiler
        // is stopped rather than left running.
        var quick = located
        quick.bounds.time = .seconds(1)
        let tooSlow = await failure { [quick] in _ = try quick.translateAndCompile(module) }
        #expect(tooSlow?.code == .compilationFailed, "\(String(describing: tooSlow))")
    }

    /// The error `body` fails with, run off the cooperative pool; `nil` when it succeeds.
    private func failure(_ body: @escaping @Sendable () throws -> Void) async -> EnclaveError? {
        do {
            try await offThePool(body)
            return nil
        } catch {
            return error as? EnclaveError ?? EnclaveError(.invalidConfiguration, "\(error)")
        }
    }

    /// Findings of the hostile review of the native engine, each with the attack it found.
    @Test func writingAnImmutableGlobalIsRefusedAsTheInterpreterRefusesIt() async throws {
        // An immutable global is not in the snapshot: written, it would carry one caller's data to
        // the next. WasmKit's validation refuses the module; the native engine validates too.
        let stash = Array("""
            (module (memory 1)
              (global $stash i64 (i64.const 0))
              (func (export "_start")
                (i64.store (i32.const 0) (global.get $stash))
                (global.set $stash (i64.load (i32.const 64)))))
            """.utf8)
        for engine in ExecutionEngine.allCases {
            await #expect {
                try await withEnclave(engines: try await TestIsolation.nativeEngines(child: nil)) {
                    try await $0.load(FunctionDefinition(name: FunctionName(namespace: "t", name: "stash"), module: stash, engine: engine))
                }
            } throws: { ($0 as? EnclaveError)?.code == .invalidModule }
        }
    }

    @Test func anImportMustHaveTabulasSignature() async throws {
        // The host reads the arguments its signature names; a module declaring fewer would have it
        // read past the call's arguments (stack words, on the native stack).
        let short = Array("""
            (module
              (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32) (result i32)))
              (memory 1)
              (func (export "_start") (drop (call $w (i32.const 1)))))
            """.utf8)
        let error = await loadingError(short)
        #expect(error?.code == .unsupportedImport)
        #expect(error?.message.contains("fd_write with the type") == true)
    }

    @Test func cacheKeysCannotBeMadeToCollide() async throws {
        let compiler = try #require(try await TestIsolation.nativeEngines(child: nil).compiler)
        // Without lengths, an entry name ending in "\n<limit>\n" and a module starting with the rest
        // would hash like another action's name, limit and module.
        let first = NativeCompiler.Request(bytes: Array("X\nrest".utf8), main: "main", memoryLimit: 1, module: nil)
        let second = NativeCompiler.Request(bytes: Array("rest".utf8), main: "main\n1\nX", memoryLimit: 1, module: nil)
        #expect(compiler.cacheKey(first) != compiler.cacheKey(second))
        #expect(compiler.cacheKey(first) == compiler.cacheKey(first))
    }

    @Test func anotherModulesCodeIsRefused() async throws {
        let compiler = try #require(try await TestIsolation.nativeEngines(child: nil).compiler)
        let echo = try FunctionModule(bytes: try example("echo.wat"), memoryLimit: 64 << 20)
        let probed = try FunctionModule(bytes: probe(#"(func (export "main") (call $begin) (call $end))"#), memoryLimit: 64 << 20)
        let compiled = try await offThePool { try compiler.translateAndCompile(echo) }
        let image = try NativeImage(code: NativeCode(image: compiled.image, typeDescriptions: compiled.types, compileDuration: .zero, cached: false, cacheStatus: "off"))
        #expect {
            _ = try NativeSandbox(id: 1, module: probed, image: image, limits: Limits(), name: "probe")
        } throws: { ($0 as? EnclaveError)?.code == .compilationFailed }
        #expect(throws: Never.self) { _ = try NativeSandbox(id: 2, module: echo, image: image, limits: Limits(), name: "echo") }
    }

    @Test func certificateNamesTheEngineAndTheCompiler() async throws {
        let engines = try await TestIsolation.nativeEngines(child: nil)
        let monitor = try await Monitor.start(provider: SimulatedTEE.ephemeral(), engines: engines)
        // The identity certificate states that this enclave compiles to native code.
        #expect(monitor.runtime.engine == "tabula-native+wasmkit-interpreter")
        #expect(try await Monitor.start(provider: SimulatedTEE.ephemeral()).runtime.engine == "wasmkit-interpreter")
        try await withEnclave(monitor: monitor, engines: engines) { enclave in
            let name = try await enclave.load(try example("echo.wat"))
            let pem = try enclave.functionCertificate(name, version: "0.0.1")
            let claims = try FunctionCertificate.verify(Array(pem.utf8), identityKey: monitor.identityPublicKey, at: Date())
            #expect(claims.engine == "native")
            #expect(claims.translator == NativeCompiler.translatorVersion)
            #expect(claims.compilerDigest == engines.compiler?.toolchain.digest)
        }
    }
}
