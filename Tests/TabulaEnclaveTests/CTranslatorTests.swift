import Foundation
import Testing
import TabulaEnclave
import WAT
import WasmKit

/// The native engine's WebAssembly -> C translator: what it refuses, that hostile names stay
/// inside escaped literals, and that the examples translate to C that compiles, with the native
/// engine's flags, to a shared object without undefined symbols or non-relative relocations.
@Suite("C translator")
struct CTranslatorTests {
    /// The module as the native engine gets it: after Tabula's instrumentation.
    private func instrumented(_ bytes: [UInt8]) throws -> [UInt8] {
        try FunctionModule(bytes: bytes, memoryLimit: 64 << 20).instrumentedBytes
    }

    private func translate(wat: String) throws -> CTranslation {
        try CTranslator.translate(try wat2wasm(wat, features: .all))
    }

    /// The prelude declares exactly NativeABI.h's types: the loader checks only the ABI version
    /// and the context's size, so a drift in a field's order would go unseen.
    @Test func preludeDeclaresTheABIHeaderVerbatim() throws {
        let header = try String(contentsOf: Self.repository.appendingPathComponent("Sources/CNativeRuntime/include/NativeABI.h"), encoding: .utf8)
        let start = try #require(header.range(of: "/// Why native code stopped"))
        let end = try #require(header.range(of: "#endif", options: .backwards))
        let declarations = String(header[start.lowerBound..<end.lowerBound]).trimmingCharacters(in: .whitespacesAndNewlines)
        let source = try translate(wat: "(module)").source
        #expect(source.contains(declarations))
        #expect(source.contains("#define TABULA_NATIVE_ABI_VERSION 1\n"))
    }

    @Test(arguments: [
        ("(module (func (result v128) (v128.const i64x2 0 0)))", "SIMD"),
        ("(module (func (param v128)))", "SIMD"),
        ("(module (tag $e) (func (throw $e)))", "exceptions"),
        ("(module (func (block (try_table (catch_all 0)))))", "exceptions"),
        ("(module (func $f (return_call $f)))", "tail calls"),
        ("(module (table 1 funcref) (func (drop (table.grow 0 (ref.null func) (i32.const 1)))))", "table.grow"),
        ("(module (table 1 funcref) (func (table.fill 0 (i32.const 0) (ref.null func) (i32.const 1))))", "table.fill"),
        ("(module (table 1 funcref) (func (table.copy (i32.const 0) (i32.const 0) (i32.const 1))))", "table.copy"),
        ("(module (table 1 funcref) (elem $e func) (func (table.init $e (i32.const 0) (i32.const 0) (i32.const 0))))", "table.init"),
        ("(module (elem $e func) (func (elem.drop $e)))", "elem.drop"),
        ("(module (table 1 funcref) (func (drop (table.get 0 (i32.const 0)))))", "table.get"),
        ("(module (memory i64 1))", "memory64"),
        ("(module (memory 1) (memory 1))", "multiple memories"),
        ("(module (memory 1 1 shared))", "threads"),
        ("(module (memory 1 1 shared) (func (drop (i32.atomic.load (i32.const 0)))))", "threads"),
        ("(module (table 1 externref))", "externref"),
        ("(module (func (result i32 i32) (i32.const 1) (i32.const 2)))", "multi-value function results"),
        ("(module (global funcref (ref.null func)))", "reference-typed values"),
        ("(module (func (drop (ref.null func))))", "reference-typed values"),
    ])
    func refusesWhatItDoesNotTranslate(wat: String, feature: String) throws {
        let error = #expect(throws: EnclaveError.self) { try translate(wat: wat) }
        #expect(error?.code == .unsupportedByEngine)
        #expect(error?.message.contains("does not support \(feature) (") == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("\"engine\" annotation to \"interpreter\"") == true)
    }

    /// Names of the module reach the C file only as octal escapes: a name that would close the
    /// string, start a comment or a directive, or call a function, leaves no text of its own.
    @Test func hostileExportNamesAreEscaped() throws {
        let names = [#"\"); system(\"x"#, "*/ int x; /*", "\\n#include <stdio.h>\\n", "??/", "\\00nul"]
        var wat = "(module (memory 1) (func $f)"
        for (index, name) in names.enumerated() {
            wat += index % 2 == 0 ? " (export \"\(name)\" (func $f))" : " (export \"\(name)\" (memory 0))"
        }
        wat += ")"
        let source = try translate(wat: wat).source
        for fragment in ["system", "int x", "#include <stdio.h>", "??/"] {
            #expect(!source.contains(fragment), "\(fragment)")
        }
        // "system" escaped, as it is written in the C file.
        #expect(source.contains(#"\163\171\163\164\145\155"#))
        try compileIfPossible(source, name: "hostile")
    }

    /// A data segment with quotes, backslashes and newlines stays one escaped literal.
    @Test func dataSegmentsAreEscaped() throws {
        let source = try translate(wat: #"(module (memory 1) (data (i32.const 0) "\"); } int evil(void) { return 1; } /*\n"))"#).source
        #expect(!source.contains("evil"))
        try compileIfPossible(source, name: "data")
    }

    @Test(arguments: ["hello.wat", "echo.wat", "c/hasher.wasm", "c/transform.wasm", "rust/wordcount.wasm"])
    func examplesTranslateAndCompile(path: String) throws {
        let translation = try CTranslator.translate(try instrumented(try example(path)))
        #expect(translation.source.contains("tabula_native_module"))
        #expect(!translation.functionTypes.isEmpty)
        try compileIfPossible(translation.source, name: path.replacingOccurrences(of: "/", with: "-"))
    }

    /// Structurally equal types share one canonical id, in order of first appearance.
    @Test func canonicalTypesMergeEqualTypes() throws {
        let translation = try translate(wat: """
            (module (type (func (param i32))) (type (func)) (type (func (param i32)))
              (func (type 0)) (func (type 2)) (func (type 1)))
            """)
        #expect(translation.functionTypes == [FunctionType(parameters: [.i32]), FunctionType(parameters: [])])
    }

    // MARK: Compiling

    static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let clang: String? = ["/opt/swift/usr/bin/clang", "/usr/bin/clang"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// The flags of the native engine's compiler driver.
    static let flags = [
        "-x", "c", "-std=gnu11", "-O2", "-fPIC", "-shared", "-nostdlib", "-fvisibility=hidden", "-fno-stack-protector",
        "-fno-builtin", "-ffp-contract=off", "-fno-strict-aliasing", "-fwrapv", "-fno-math-errno",
        "-fno-asynchronous-unwind-tables", "-Wl,-z,defs", "-Wl,-e,tabula_native_module", "-Wl,--build-id=none",
        "-Wl,--hash-style=gnu",
    ]

    /// Compiles `source` with the engine's flags when a clang is installed, and checks the shared
    /// object: no undefined symbols, only relative dynamic relocations, the entry symbol exported.
    private func compileIfPossible(_ source: String, name: String) throws {
        guard let clang = Self.clang else { return }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ctranslator-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let input = directory.appendingPathComponent("\(name).c")
        let output = directory.appendingPathComponent("\(name).so")
        try source.write(to: input, atomically: true, encoding: .utf8)
        let compiled = try run(clang, Self.flags + ["-o", output.path, input.path])
        #expect(compiled.status == 0, "\(compiled.output)")
        guard compiled.status == 0 else { return }
        let tools = URL(fileURLWithPath: clang).deletingLastPathComponent()
        let nm = tools.appendingPathComponent("llvm-nm").path
        let objdump = tools.appendingPathComponent("llvm-objdump").path
        guard FileManager.default.isExecutableFile(atPath: nm), FileManager.default.isExecutableFile(atPath: objdump) else { return }
        let undefined = try run(nm, ["-u", output.path])
        #expect(undefined.status == 0 && undefined.output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "undefined: \(undefined.output)")
        let exported = try run(nm, ["-D", "--defined-only", output.path])
        // Beside the linker's own markers (_end...), the entry point is the only symbol exported.
        let symbols = exported.output.split(separator: "\n").compactMap { $0.split(separator: " ").last }
        #expect(symbols.filter { !["__bss_start", "_edata", "_end"].contains($0) } == ["tabula_native_module"], "\(exported.output)")
        let relocations = try run(objdump, ["--dynamic-reloc", output.path])
        let kinds = relocations.output.split(separator: "\n").compactMap { line -> Substring? in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            return fields.count >= 2 && fields[1].hasPrefix("R_") ? fields[1] : nil
        }
        #expect(kinds.allSatisfy { $0 == "R_X86_64_RELATIVE" }, "\(relocations.output)")
    }

    private func run(_ tool: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Not a check: with TABULA_TRANSLATE_IN set (a .wasm or .wat path), writes the translation of
    /// the instrumented module to TABULA_TRANSLATE_OUT.c and its import names, one a line, to
    /// TABULA_TRANSLATE_OUT.imports, for running it in a harness by hand.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["TABULA_TRANSLATE_IN"] != nil))
    func writeTranslationForInspection() throws {
        let environment = ProcessInfo.processInfo.environment
        let input = try #require(environment["TABULA_TRANSLATE_IN"])
        let output = environment["TABULA_TRANSLATE_OUT"] ?? "/tmp/translation"
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: input)))
        if environment["TABULA_TRANSLATE_RAW"] == nil {
            bytes = try instrumented(bytes)
        } else if !bytes.starts(with: [0, 0x61, 0x73, 0x6D]) {
            bytes = try wat2wasm(String(decoding: bytes, as: UTF8.self), features: .all)
        }
        let translation = try CTranslator.translate(bytes)
        try translation.source.write(toFile: output + ".c", atomically: true, encoding: .utf8)
        let module = try parseWasm(bytes: bytes, features: .all)
        let imports = module.imports.map { $0.module == "tabula" ? "tabula.\($0.name)" : $0.name }
        try (imports.joined(separator: "\n") + "\n").write(toFile: output + ".imports", atomically: true, encoding: .utf8)
    }
}
