import Foundation
import TabulaEnclave
import TabulaTestSupport
import Testing
import WAT
import WasmParser

/// The WebAssembly specification's core test scripts (`Tests/Fixtures/spectest`, copied verbatim)
/// run against the native engine: every module the translator accepts is compiled, instantiated
/// and checked with the script's `assert_return`, `assert_trap`, `assert_exhaustion` and `invoke`
/// directives; a module it refuses (`unsupported_by_engine`) is counted as refused, with its
/// assertions skipped. Validation, linking and text-format directives (`assert_invalid`,
/// `assert_malformed`, `assert_unlinkable`, `register`) are skipped: WasmKit checks modules before
/// the translator sees them, and its own test suite covers those. Modules that import anything
/// (the suite's `spectest` host module) are skipped too: a function may import only WASI.
@Suite("Specification tests (native engine)")
struct SpecTests {
    /// The scripts, by file name without `.wast`.
    static let files: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: Fixtures.url("spectest").path)) ?? []
        return names.filter { $0.hasSuffix(".wast") }.map { String($0.dropLast(5)) }.sorted()
    }()

    /// Scripts expected to fail, each with why; the test fails when one of them passes, so that
    /// the table stays true.
    static let knownFailures: [String: String] = [:]

    /// Scripts none of whose assertions can run here, each with why; every other script must
    /// pass at least one assertion (a script that silently skips everything proves nothing), and
    /// these must pass none, so that the table stays true.
    static let idle: [String: String] = [
        "br_table": "its one module has a function taking an externref, which the native engine refuses",
        "select": "its main module has functions taking funcref and externref parameters, which the native engine refuses",
        "data": "every module imports from spectest or exports nothing (data segments checked by instantiation only)",
        "global": "the module the assertions use imports spectest's globals",
    ]

    /// One script's counts.
    struct Tally: CustomStringConvertible {
        var translated = 0
        var refused = 0
        /// Modules not run: they import functions, are only definitions, or export nothing.
        var skippedModules = 0
        var passed = 0
        var failed = 0
        var skipped = 0
        var failures: [String] = []
        var refusals: [String] = []

        var description: String {
            "translated \(translated), refused \(refused), modules skipped \(skippedModules); assertions passed \(passed), failed \(failed), skipped \(skipped)"
        }
    }

    /// One compiler for every script (finding it hashes the compiler and compiles a probe).
    static let compiler: NativeCompiler? = Engines.detect().compiler

    /// Each script: no assertion fails, and at least one passes unless the script is ``idle``.
    @Test(arguments: files)
    func script(_ name: String) async throws {
        let compiler = try #require(try await offThePool { Self.compiler }, "the native engine is unavailable here")
        // Compiling takes seconds per script: off the cooperative pool, which other tests need.
        let tally = try await offThePool { try Self.run(name, compiler: compiler) }
        print("spectest \(name): \(tally)")
        for refusal in tally.refusals.prefix(3) { print("spectest \(name) refused: \(refusal)") }
        for failure in tally.failures.prefix(10) { print("spectest \(name) failed: \(failure)") }
        if let reason = Self.knownFailures[name] {
            #expect(tally.failed > 0, "\(name).wast is listed as a known failure (\(reason)) but now passes: remove it from SpecTests.knownFailures")
            return
        }
        #expect(tally.failed == 0, "\(name).wast: \(tally)\n\(tally.failures.prefix(20).joined(separator: "\n"))")
        if let reason = Self.idle[name] {
            #expect(tally.passed == 0, "\(name).wast is listed as idle (\(reason)) but now runs assertions: remove it from SpecTests.idle")
        } else {
            #expect(tally.passed > 0, "\(name).wast: no assertion ran: \(tally)")
        }
    }

    /// Compiles `wat` for the native engine and instantiates it for calls.
    static func instance(_ wat: String) throws -> NativeSandbox {
        let compiler = try #require(Self.compiler, "the native engine is unavailable here")
        switch load(try wat2wasm(wat), compiler: compiler) {
        case .instance(let sandbox): return sandbox
        case .refused(let reason), .skipped(let reason), .failed(let reason):
            Issue.record("the module did not load: \(reason)")
            throw EnclaveError(.invalidModule, reason)
        }
    }

    /// Functions with several results (refused before the spec run): returned from a function,
    /// from a branch out of it, through call and call_indirect and an export, and pushed in order.
    @Test func functionsReturnSeveralValues() async throws {
        let sandbox = try Self.instance("""
            (module
              (type $three (func (param i32) (result i32 i64 f64)))
              (table 1 funcref)
              (elem (i32.const 0) $three)
              (func $three (type $three)
                (if (i32.eqz (local.get 0)) (then (return (i32.const 7) (i64.const -1) (f64.const 0.5))))
                (i32.add (local.get 0) (i32.const 1)) (i64.const 2) (f64.const -0.0))
              (func (export "direct") (param i32) (result i32 i64 f64) (call $three (local.get 0)))
              (func (export "indirect") (param i32) (result i32 i64 f64) (call_indirect (type $three) (local.get 0) (i32.const 0)))
              (func (export "sum") (result i64) (local i64)
                (call $three (i32.const 4)) (drop) (local.set 0) (i64.extend_i32_u) (local.get 0) (i64.add))
              (func (export "swap") (param i32 i64) (result i64 i32) (local.get 1) (local.get 0)))
            """)
        #expect(try sandbox.call("direct", [0]) == .returned([7, UInt64.max, 0.5.bitPattern]))
        #expect(try sandbox.call("direct", [4]) == .returned([5, 2, (-0.0).bitPattern]))
        #expect(try sandbox.call("indirect", [0]) == .returned([7, UInt64.max, 0.5.bitPattern]))
        #expect(try sandbox.call("indirect", [9]) == .returned([10, 2, (-0.0).bitPattern]))
        #expect(try sandbox.call("sum", []) == .returned([7]))
        #expect(try sandbox.call("swap", [3, 1 << 40]) == .returned([1 << 40, 3]))
        // A wrong argument count or name is refused, not read past.
        #expect(throws: EnclaveError.self) { try sandbox.call("swap", [3]) }
        #expect(throws: EnclaveError.self) { try sandbox.call("nothing", []) }
    }

    /// demote(promote(x)) of a signalling NaN gives a quiet NaN, as the processor computes it: C
    /// folded the pair to x, which kept the NaN signalling (float_exprs.wast).
    @Test func promoteThenDemoteQuietsASignallingNaN() async throws {
        let sandbox = try Self.instance("""
            (module (func (export "f") (param i32) (result i32)
              (i32.reinterpret_f32 (f32.demote_f64 (f64.promote_f32 (f32.reinterpret_i32 (local.get 0)))))))
            """)
        #expect(try sandbox.call("f", [0x7FA0_0000]) == .returned([0x7FE0_0000]))
        #expect(try sandbox.call("f", [0x3F80_0000]) == .returned([0x3F80_0000]))
    }

    /// Why a module does not run, or the instance.
    enum Loaded {
        case instance(NativeSandbox)
        case refused(String)
        case skipped(String)
        case failed(String)
    }

    static let limits = Limits(memory: 1 << 32, timeout: .seconds(30), stack: 1 << 20)

    /// Translates, compiles and instantiates one module of a script.
    static func load(_ bytes: [UInt8], compiler: NativeCompiler) -> Loaded {
        // FunctionModule wants one export named as the entry; any export will do, since the
        // test sandbox does not check the entry (a script's module has none).
        let (exports, imports) = exportsAndImports(bytes)
        if imports > 0 { return .skipped("imports: the module imports \(imports) definitions") }
        guard let main = exports.first else { return .skipped("the module exports nothing") }
        let module: FunctionModule
        do {
            module = try FunctionModule(bytes: bytes, main: main, memoryLimit: limits.memory)
        } catch {
            if error.code == .unsupportedImport { return .skipped("imports: \(error.message)") }
            return .failed("FunctionModule: \(error.code.rawValue): \(error.message)")
        }
        let compiled: (image: [UInt8], types: [String])
        do {
            compiled = try compiler.translateAndCompile(module)
        } catch {
            if error.code == .unsupportedByEngine { return .refused(error.message) }
            return .failed("compile: \(error.code.rawValue): \(error.message)")
        }
        do {
            let image = try NativeImage(code: NativeCode(image: compiled.image, typeDescriptions: compiled.types, compileDuration: .zero, cached: false, cacheStatus: "off"))
            return .instance(try NativeSandbox(testing: module, image: image, limits: limits))
        } catch {
            return .failed("instantiate: \(error.code.rawValue): \(error.message)")
        }
    }

    /// The names a module exports and how many imports it has (from its binary).
    static func exportsAndImports(_ bytes: [UInt8]) -> (exports: [String], imports: Int) {
        var parser = Parser(bytes: bytes, features: .all)
        var names: [String] = []
        var imports = 0
        while let payload = try? parser.parseNext() {
            switch payload {
            case .exportSection(let exports): names += exports.map(\.name)
            case .importSection(let entries): imports += entries.count
            default: break
            }
        }
        return (names, imports)
    }

    /// The binary of a module directive; `nil` for a quoted (text) module, which no script here
    /// instantiates.
    static func binary(_ source: ModuleSource) throws -> [UInt8]? {
        switch source {
        case .text(let wat): return try wat.encode()
        case .binary(let bytes): return bytes
        case .quote: return nil
        }
    }

    /// Runs one script.
    static func run(_ name: String, compiler: NativeCompiler) throws -> Tally {
        let text = try String(contentsOf: Fixtures.url("spectest/\(name).wast"), encoding: .utf8)
        var wast = try parseWAST(text, features: .all)
        var tally = Tally()
        var current: NativeSandbox?
        var named: [String: NativeSandbox?] = [:]
        /// Instances registered for other modules to import from: a module that imports, which is
        /// skipped, may have changed their tables or memory, so their later assertions are skipped.
        var registered: [ObjectIdentifier] = []
        var stale = Set<ObjectIdentifier>()
        var directives = 0
        while let (result, location) = wast.nextDirectiveResult() {
            directives += 1
            guard directives < 100_000 else { break }
            let place = "\(name).wast:\(location.computeLineAndColumn().line)"
            func fail(_ message: String) {
                tally.failed += 1
                tally.failures.append("\(place): \(message)")
            }
            let directive: WASTDirective
            switch result {
            case .success(let parsed): directive = parsed
            case .failure(let error):
                // A module WasmKit's text parser rejects: later directives using it are skipped.
                if error.module != nil { current = nil }
                tally.skipped += 1
                continue
            }
            /// The module an action names, or the current one; `nil` when it did not load.
            func instance(_ module: String?) -> NativeSandbox? {
                guard let found = module.map({ named[$0] ?? nil }) ?? current, !stale.contains(ObjectIdentifier(found)) else { return nil }
                return found
            }
            switch directive {
            case .module(let module):
                guard !module.isDefinition, let bytes = try binary(module.source) else {
                    tally.skippedModules += 1
                    current = nil
                    if let id = module.id { named[id] = .some(nil) }
                    continue
                }
                current = nil
                switch load(bytes, compiler: compiler) {
                case .instance(let sandbox):
                    tally.translated += 1
                    current = sandbox
                case .refused(let reason):
                    tally.refused += 1
                    tally.refusals.append("\(place): \(reason)")
                case .skipped(let reason):
                    tally.skippedModules += 1
                    if reason.hasPrefix("imports") { stale.formUnion(registered) }
                case .failed(let reason):
                    tally.translated += 1
                    fail(reason)
                }
                if let id = module.id { named[id] = .some(current) }

            case .register(_, let module):
                if let found = module.map({ named[$0] ?? nil }) ?? current { registered.append(ObjectIdentifier(found)) }
                tally.skipped += 1

            case .moduleInstance:
                tally.skippedModules += 1
                current = nil

            case .assertReturn(let execute, let expected):
                guard case .invoke(let invoke) = execute, let sandbox = instance(invoke.module), let arguments = Self.arguments(invoke.args) else {
                    tally.skipped += 1
                    continue
                }
                switch try call(sandbox, invoke, arguments) {
                case .trapped(let reason):
                    fail("\(invoke.name) trapped (\(reason)), expected \(expected)")
                case .returned(let results):
                    switch Self.matches(results, expected) {
                    case true?: tally.passed += 1
                    case false?: fail("\(invoke.name)\(invoke.args) returned \(results.map { "0x" + String($0, radix: 16) }), expected \(expected)")
                    case nil: tally.skipped += 1
                    }
                }

            case .assertTrap(let execute, let message):
                switch execute {
                case .invoke(let invoke):
                    guard let sandbox = instance(invoke.module), let arguments = Self.arguments(invoke.args) else {
                        tally.skipped += 1
                        continue
                    }
                    switch try call(sandbox, invoke, arguments) {
                    case .returned(let results): fail("\(invoke.name) returned \(results), expected the trap \"\(message)\"")
                    case .trapped(let reason):
                        if Self.trapMatches(reason, message) { tally.passed += 1 } else { fail("\(invoke.name) trapped with \"\(reason)\", expected \"\(message)\"") }
                    }
                case .wat(let wat):
                    // A module whose instantiation must trap (a segment out of bounds, a start
                    // function that traps).
                    let bytes = try wat.encode()
                    switch load(bytes, compiler: compiler) {
                    case .instance: fail("the module instantiated, expected the trap \"\(message)\"")
                    case .refused(let reason):
                        tally.refused += 1
                        tally.refusals.append("\(place): \(reason)")
                        tally.skipped += 1
                    case .skipped:
                        tally.skippedModules += 1
                        tally.skipped += 1
                    case .failed(let reason):
                        tally.translated += 1
                        if Self.trapMatches(reason, message) { tally.passed += 1 } else { fail("instantiation failed with \"\(reason)\", expected \"\(message)\"") }
                    }
                case .get:
                    tally.skipped += 1
                }

            case .assertExhaustion(let invoke, let message):
                guard let sandbox = instance(invoke.module), let arguments = Self.arguments(invoke.args) else {
                    tally.skipped += 1
                    continue
                }
                switch try call(sandbox, invoke, arguments) {
                case .returned(let results): fail("\(invoke.name) returned \(results), expected exhaustion \"\(message)\"")
                case .trapped(let reason):
                    if Self.trapMatches(reason, message) { tally.passed += 1 } else { fail("\(invoke.name) trapped with \"\(reason)\", expected \"\(message)\"") }
                }

            case .invoke(let invoke):
                guard let sandbox = instance(invoke.module), let arguments = Self.arguments(invoke.args) else {
                    tally.skipped += 1
                    continue
                }
                switch try call(sandbox, invoke, arguments) {
                case .returned: tally.passed += 1
                case .trapped(let reason): fail("\(invoke.name) trapped: \(reason)")
                }

            case .assertInvalid, .assertMalformed, .assertUnlinkable, .assertException, .assertFuel, .assertOutOfFuel:
                tally.skipped += 1
            }
        }
        return tally
    }

    /// Calls an export; a call the sandbox refuses (no such export, wrong argument count) is a
    /// test error.
    static func call(_ sandbox: NativeSandbox, _ invoke: WASTInvoke, _ arguments: [UInt64]) throws -> NativeSandbox.CallOutcome {
        try sandbox.call(invoke.name, arguments)
    }

    /// The arguments as bit patterns; `nil` when one is not a number (references, vectors).
    static func arguments(_ values: [WASTConstValue]) -> [UInt64]? {
        var patterns: [UInt64] = []
        for value in values {
            switch value {
            case .i32(let bits), .f32(let bits): patterns.append(UInt64(bits))
            case .i64(let bits), .f64(let bits): patterns.append(bits)
            default: return nil
            }
        }
        return patterns
    }

    /// Whether `results` are the expected values, bit for bit (NaNs as the spec's patterns
    /// allow); `nil` when an expectation is not a number.
    static func matches(_ results: [UInt64], _ expected: [WASTExpectValue]) -> Bool? {
        guard results.count == expected.count else { return false }
        var all = true
        for (result, expectation) in zip(results, expected) {
            guard let one = matches(result, expectation) else { return nil }
            all = all && one
        }
        return all
    }

    static func matches(_ result: UInt64, _ expected: WASTExpectValue) -> Bool? {
        let low = UInt32(truncatingIfNeeded: result)
        switch expected {
        case .i32(let bits): return result == UInt64(bits)
        case .f32(let bits): return result == UInt64(bits)
        case .i64(let bits), .f64(let bits): return result == bits
        // Canonical: only the quiet bit of the payload, either sign. Arithmetic: the quiet bit set.
        case .f32CanonicalNaN: return result >> 32 == 0 && low & 0x7FFF_FFFF == 0x7FC0_0000
        case .f32ArithmeticNaN: return result >> 32 == 0 && low & 0x7FC0_0000 == 0x7FC0_0000
        case .f64CanonicalNaN: return result & 0x7FFF_FFFF_FFFF_FFFF == 0x7FF8_0000_0000_0000
        case .f64ArithmeticNaN: return result & 0x7FF8_0000_0000_0000 == 0x7FF8_0000_0000_0000
        case .either(let choices):
            var any = false
            for choice in choices {
                guard let one = matches(result, choice) else { return nil }
                any = any || one
            }
            return any
        default: return nil
        }
    }

    /// Whether the native engine's trap message (WasmKit's words) is the trap the spec names:
    /// the spec's phrase, without a trailing element number, must appear in it.
    static func trapMatches(_ reason: String, _ expected: String) -> Bool {
        var phrase = expected
        while let last = phrase.last, last.isNumber { phrase.removeLast() }
        phrase = phrase.trimmingCharacters(in: .whitespaces)
        return reason.contains(phrase)
    }
}
