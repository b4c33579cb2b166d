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
    @Test func preludeDeclaresTheABIHeaderVerbatim() async throws {
        let header = try String(contentsOf: Self.repository.appendingPathComponent("Sources/CNativeRuntime/include/NativeABI.h"), encoding: .utf8)
        let start = try #require(header.range(of: "/// Why native code stopped"))
        let end = try #require(header.range(of: "#endif", options: .backwards))
        let declarations = String(header[start.lowerBound..<end.lowerBound]).trimmingCharacters(in: .whitespacesAndNewlines)
        let source = try translate(wat: "(module)").source
        #expect(source.contains(declarations))
        #expect(source.contains("#define TABULA_NATIVE_ABI_VERSION 2\n"))
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
        ("(module (global funcref (ref.null func)))", "reference-typed values"),
        ("(module (func (drop (ref.null func))))", "reference-typed values"),
    ])
    func refusesWhatItDoesNotTranslate(wat: String, feature: String) async throws {
        let error = #expect(throws: EnclaveError.self) { try translate(wat: wat) }
        #expect(error?.code == .unsupportedByEngine)
        #expect(error?.message.contains("does not support \(feature) (") == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("\"engine\" annotation to \"interpreter\"") == true)
    }

    /// Names of the module reach the C file only as octal escapes: a name that would close the
    /// string, start a comment or a directive, or call a function, leaves no text of its own.
    @Test func hostileExportNamesAreEscaped() async throws {
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
        try await compileIfPossible(source, name: "hostile")
    }

    /// A data segment with quotes, backslashes and newlines stays one escaped literal.
    @Test func dataSegmentsAreEscaped() async throws {
        let source = try translate(wat: #"(module (memory 1) (data (i32.const 0) "\"); } int evil(void) { return 1; } /*\n"))"#).source
        #expect(!source.contains("evil"))
        try await compileIfPossible(source, name: "data")
    }

    @Test(arguments: ["hello.wat", "echo.wat", "c/hasher.wasm", "c/transform.wasm", "rust/wordcount.wasm"])
    func examplesTranslateAndCompile(path: String) async throws {
        let translation = try CTranslator.translate(try instrumented(try example(path)))
        #expect(translation.source.contains("tabula_native_module"))
        #expect(!translation.functionTypes.isEmpty)
        try await compileIfPossible(translation.source, name: path.replacingOccurrences(of: "/", with: "-"))
    }

    /// Structurally equal types share one canonical id, in order of first appearance.
    @Test func canonicalTypesMergeEqualTypes() async throws {
        let translation = try translate(wat: """
            (module (type (func (param i32))) (type (func)) (type (func (param i32)))
              (func (type 0)) (func (type 2)) (func (type 1)))
            """)
        #expect(translation.functionTypes == [FunctionType(parameters: [.i32]), FunctionType(parameters: [])])
    }

    /// The instructions' semantics, compared with WasmKit's interpreter: every export of
    /// ``semanticsModule`` runs in a fresh instance on both engines; the values it prints and the
    /// trap it ends with (if any) must be the same. Needs a clang able to build a hosted program
    /// (the harness, which loads the shared object with dlopen); skipped without one.
    @Test func semanticsMatchTheInterpreter() async throws {
        guard let clang = Self.clang else { return }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ctranslator-semantics-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = try CTranslator.translate(try wat2wasm(Self.semanticsModule)).source
        try source.write(to: directory.appendingPathComponent("module.c"), atomically: true, encoding: .utf8)
        let header = Self.repository.appendingPathComponent("Sources/CNativeRuntime/include/NativeABI.h").path
        try Self.harness.replacingOccurrences(of: "NATIVE_ABI_H", with: header)
            .write(to: directory.appendingPathComponent("harness.c"), atomically: true, encoding: .utf8)
        let library = directory.appendingPathComponent("module.so").path
        let program = directory.appendingPathComponent("harness").path
        let module = try await Self.runTool(clang, Self.flags + ["-o", library, directory.appendingPathComponent("module.c").path])
        try #require(module.status == 0, "\(module.output)")
        let harness = try await Self.runTool(clang, ["-O1", "-o", program, directory.appendingPathComponent("harness.c").path, "-ldl"])
        try #require(harness.status == 0, "\(harness.output)")
        for export in Self.semanticsExports {
            let expected = try interpreted(export)
            let result = try await Self.runTool(program, [library, export])
            var prints: [UInt64] = []
            var trap: Int?
            for line in result.output.split(separator: "\n") {
                let fields = line.split(separator: " ")
                if fields.count == 2, fields[0] == "print", let value = UInt64(fields[1]) { prints.append(value) }
                if fields.count == 2, fields[0] == "trap", let code = Int(fields[1]) { trap = code }
            }
            #expect(result.status == 0, "\(export): \(result.output)")
            #expect(prints == expected.prints, "\(export) printed")
            if let reason = expected.trap {
                #expect(trap.flatMap { Self.trapWords[$0] }.map { reason.contains($0) } == true, "\(export): trap \(trap.map(String.init) ?? "none"), the interpreter: \(reason)")
            } else {
                #expect(trap == nil, "\(export): native code trapped \(trap ?? 0)")
            }
        }
    }

    /// Words of WasmKit's trap message for each TABULA_TRAP_* code.
    static let trapWords: [Int: String] = [
        1: "unreachable", 2: "out of bounds memory access", 3: "integer divide by zero", 4: "integer overflow",
        5: "invalid conversion to integer", 6: "indirect call type mismatch", 7: "undefined element", 8: "uninitialized element",
        9: "call stack exhausted",
    ]

    private struct Outcome {
        var prints: [UInt64] = []
        var trap: String?
    }

    /// Runs `export` in a fresh instance of ``semanticsModule`` with WasmKit's interpreter.
    private func interpreted(_ export: String) throws -> Outcome {
        let store = Store(engine: Engine())
        let module = try parseWasm(bytes: try wat2wasm(Self.semanticsModule))
        var outcome = Outcome()
        var imports = Imports()
        let box = PrintBox()
        imports.define(module: "test", name: "print", Function(store: store, parameters: [.i64], results: []) { _, arguments, _ in
            if case .i64(let value) = arguments[0] { box.values.append(value) }
        })
        do {
            let instance = try module.instantiate(store: store, imports: imports)
            _ = try #require(instance.exports[function: export]).invoke()
        } catch {
            outcome.trap = String(describing: error)
        }
        outcome.prints = box.values
        return outcome
    }

    private final class PrintBox: @unchecked Sendable {
        var values: [UInt64] = []
    }

    /// Loads the shared object, instantiates it (memory reserved for 8 GiB and 64 KiB of which only
    /// the current size is accessible, as the engine does: the code checks no bounds, and a fault in
    /// the reservation is the out-of-bounds trap), runs one export and prints what the module prints
    /// and the trap code.
    static let harness = #"""
        #include <dlfcn.h>
        #include <setjmp.h>
        #include <signal.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #include <sys/mman.h>
        #include "NATIVE_ABI_H"
        static jmp_buf env;
        static const tabula_native_module *m;
        static __attribute__((noreturn)) void trap(tabula_context *c, int32_t code) { longjmp(env, code); }
        #define RESERVATION ((1ull << 33) + 65536)
        static tabula_context context;
        static void fault(int sig, siginfo_t *info, void *u) {
            uintptr_t a = (uintptr_t)info->si_addr, base = (uintptr_t)context.memory;
            if (a >= base + context.memory_size && a < base + RESERVATION) longjmp(env, TABULA_TRAP_MEMORY);
            signal(sig, SIG_DFL);
        }
        static int64_t grow(tabula_context *c, uint64_t delta) {
            uint64_t pages = c->memory_size / 65536;
            if (pages + delta > 65536 || pages + delta > m->memory_maximum_pages) return -1;
            if (delta) mprotect(c->memory + c->memory_size, delta * 65536, PROT_READ | PROT_WRITE);
            c->memory_size += delta * 65536;
            return (int64_t)pages;
        }
        static int32_t host(tabula_context *c, uint32_t index, const uint64_t *a, uint64_t *r) {
            printf("print %llu\n", (unsigned long long)a[0]);
            return 0;
        }
        int main(int argc, char **argv) {
            void *h = dlopen(argv[1], RTLD_NOW);
            if (!h) { printf("dlopen %s\n", dlerror()); return 2; }
            const tabula_native_module *(*entry)(void) = (const tabula_native_module *(*)(void))dlsym(h, "tabula_native_module");
            m = entry();
            if (m->abi_version != TABULA_NATIVE_ABI_VERSION || m->context_size != sizeof(tabula_context)) return 3;
            tabula_context *c = &context;
            struct sigaction action = {0};
            action.sa_sigaction = fault;
            action.sa_flags = SA_SIGINFO | SA_NODEFER;
            sigaction(SIGSEGV, &action, 0);
            c->memory = mmap(0, RESERVATION, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
            c->memory_size = m->memory_minimum_pages * 65536;
            if (c->memory_size) mprotect(c->memory, c->memory_size, PROT_READ | PROT_WRITE);
            c->globals = calloc(m->global_count + 1, 8);
            c->tables = calloc(m->table_count + 1, sizeof(tabula_table));
            for (uint32_t i = 0; i < m->table_count; i++) {
                uint32_t capacity = m->table_maximums[i] != 0xFFFFFFFFu ? m->table_maximums[i] : m->table_minimums[i];
                c->tables[i].elements = calloc(capacity + 1, sizeof(tabula_funcref));
                c->tables[i].size = m->table_minimums[i];
                c->tables[i].maximum = capacity;
            }
            c->dropped = calloc(m->data_count + m->element_count + 1, 1);
            c->stack_limit = (uintptr_t)__builtin_frame_address(0) - 2 * 1024 * 1024;
            c->trap = trap;
            c->host = host;
            c->grow = grow;
            int code = setjmp(env);
            if (code) { printf("trap %d\n", code); return 0; }
            m->instantiate(c);
            for (uint32_t i = 0; i < m->export_count; i++) {
                if (m->exports[i].kind == 0 && strcmp(m->exports[i].name, argv[2]) == 0) {
                    m->invoke(c, m->exports[i].index);
                    printf("done\n");
                    return 0;
                }
            }
            printf("no export\n");
            return 4;
        }
        """#

    static let semanticsExports = ["ints", "floats", "convs", "control", "trap_mem_straddle", "mem2", "trap_mem", "trap_mem_offset", "trap_div0", "trap_ovf", "trap_conv", "trap_conv_ovf", "trap_unreachable", "trap_table_bounds", "trap_null", "trap_type", "trap_stack", "trap_init", "trap_dropped", "trap_fill"]

    /// Integer, float, conversion, control, memory and trap cases (the printed values of each are
    /// compared, not written down here: the interpreter is the reference).
    static let semanticsModule = #"""
        (module
          (import "test" "print" (func $print (param i64)))
          (memory 1 3)
          (table 4 funcref)
          (type $ii (func (param i32) (result i32)))
          (type $v (func))
          (elem (i32.const 0) $inc $void)
          (data $d "hello")
          (global $g (mut i32) (i32.const 40))
          (global $h i64 (i64.add (i64.const 40) (i64.const 2)))
          (func $inc (type $ii) (i32.add (local.get 0) (i32.const 1)))
          (func $void (type $v))
          (func $p64 (param i64) (call $print (local.get 0)))
          (func $p32 (param i32) (call $print (i64.extend_i32_u (local.get 0))))
          (func $pf64 (param f64) (call $print (i64.reinterpret_f64 (local.get 0))))
          (func $pf32 (param f32) (call $print (i64.extend_i32_u (i32.reinterpret_f32 (local.get 0)))))

          (func (export "ints")
            (call $p32 (i32.div_s (i32.const -7) (i32.const 2)))         ;; -3 = 4294967293
            (call $p32 (i32.rem_s (i32.const -7) (i32.const 2)))         ;; -1
            (call $p32 (i32.rem_s (i32.const 0x80000000) (i32.const -1))) ;; 0
            (call $p32 (i32.div_u (i32.const -7) (i32.const 2)))         ;; 2147483644
            (call $p64 (i64.rem_s (i64.const 0x8000000000000000) (i64.const -1))) ;; 0
            (call $p32 (i32.shl (i32.const 1) (i32.const 33)))           ;; 2
            (call $p32 (i32.shr_s (i32.const -8) (i32.const 33)))        ;; -4
            (call $p32 (i32.rotl (i32.const 0x80000001) (i32.const 1)))  ;; 3
            (call $p32 (i32.rotr (i32.const 3) (i32.const 1)))           ;; 0x80000001
            (call $p64 (i64.rotl (i64.const 1) (i64.const 64)))          ;; 1
            (call $p32 (i32.clz (i32.const 0)))                          ;; 32
            (call $p32 (i32.ctz (i32.const 0)))                          ;; 32
            (call $p64 (i64.clz (i64.const 0)))                          ;; 64
            (call $p64 (i64.ctz (i64.const 0x100)))                      ;; 8
            (call $p32 (i32.popcnt (i32.const -1)))                      ;; 32
            (call $p64 (i64.popcnt (i64.const -1)))                      ;; 64
            (call $p32 (i32.extend8_s (i32.const 0x80)))                 ;; 0xffffff80
            (call $p64 (i64.extend32_s (i64.const 0x80000000)))          ;; 0xffffffff80000000
            (call $p32 (i32.lt_s (i32.const -1) (i32.const 0)))          ;; 1
            (call $p32 (i32.lt_u (i32.const -1) (i32.const 0)))          ;; 0
            (call $p32 (i32.mul (i32.const 0x10000) (i32.const 0x10000))) ;; 0
            (call $p64 (i64.extend_i32_s (i32.const -1)))
            (call $p64 (i64.extend_i32_u (i32.const -1)))
            (call $p32 (i32.wrap_i64 (i64.const 0x1234567890)))          ;; 0x34567890
          )
          (func (export "floats")
            (call $pf64 (f64.min (f64.const 0) (f64.const -0)))          ;; -0 = 0x8000000000000000
            (call $pf64 (f64.max (f64.const -0) (f64.const 0)))          ;; 0
            (call $pf32 (f32.min (f32.const nan) (f32.const 1)))         ;; nan 0x7fc00000
            (call $pf64 (f64.max (f64.const 1) (f64.const nan)))         ;; nan
            (call $pf64 (f64.nearest (f64.const 2.5)))                   ;; 2
            (call $pf64 (f64.nearest (f64.const 3.5)))                   ;; 4
            (call $pf64 (f64.nearest (f64.const -0.5)))                  ;; -0
            (call $pf32 (f32.nearest (f32.const 0.5)))                   ;; 0
            (call $pf32 (f32.nearest (f32.const -1.5)))                  ;; -2
            (call $pf64 (f64.nearest (f64.const 4503599627370497)))      ;; itself
            (call $pf64 (f64.ceil (f64.const -0.5)))                     ;; -0
            (call $pf64 (f64.ceil (f64.const 1.2)))                      ;; 2
            (call $pf64 (f64.floor (f64.const -1.2)))                    ;; -2
            (call $pf64 (f64.floor (f64.const -0)))                      ;; -0
            (call $pf32 (f32.trunc (f32.const -1.7)))                    ;; -1
            (call $pf32 (f32.ceil (f32.const inf)))                      ;; inf
            (call $pf64 (f64.sqrt (f64.const 2)))
            (call $pf64 (f64.abs (f64.const -0)))                        ;; 0
            (call $pf64 (f64.neg (f64.const nan)))                       ;; 0xfff8...
            (call $pf64 (f64.copysign (f64.const 3) (f64.const -0)))     ;; -3
            (call $pf32 (f32.convert_i64_u (i64.const -1)))              ;; 2^64 = 0x5f800000
            (call $pf64 (f64.convert_i64_u (i64.const 0x8000000000000001))) ;; 2^63
            (call $pf32 (f32.convert_i64_u (i64.const 0x8000008000000001))) ;; round up: 0x5f000001
            (call $pf32 (f32.demote_f64 (f64.const 1e300)))              ;; inf
            (call $p32 (f32.eq (f32.const nan) (f32.const nan)))          ;; 0
            (call $p32 (f32.ne (f32.const nan) (f32.const nan)))          ;; 1
            (call $pf32 (f32.min (f32.const nan:0x200000) (f32.const 1)))
            (call $pf32 (f32.min (f32.const 1) (f32.const -nan:0x1)))
            (call $pf64 (f64.max (f64.const -nan) (f64.const nan:0x1)))
            (call $pf32 (f32.ceil (f32.const nan:0x1)))
            (call $pf64 (f64.floor (f64.const -nan:0x4)))
            (call $pf64 (f64.nearest (f64.const nan:0x4)))
            (call $pf32 (f32.trunc (f32.const -nan:0x300000)))
            (call $pf32 (f32.demote_f64 (f64.const nan:0x123456789)))
            (call $pf64 (f64.promote_f32 (f32.const nan:0x1)))
            (call $pf32 (f32.sqrt (f32.const -1)))
            (call $pf64 (f64.add (f64.const nan:0x1) (f64.const 1)))
            (call $pf64 (f64.div (f64.const 0) (f64.const 0)))
            (call $pf64 (f64.div (f64.convert_i32_s (i32.const 0)) (f64.convert_i64_u (i64.const 0))))
            (call $pf32 (f32.div (f32.reinterpret_i32 (i32.const 0)) (f32.convert_i32_u (i32.const 0))))
            (call $pf64 (f64.sub (f64.const inf) (f64.reinterpret_i64 (i64.const 0x7ff0000000000000))))
            (call $pf32 (f32.abs (f32.const -nan:0x1)))
            (call $pf64 (f64.copysign (f64.const nan:0x5) (f64.const -1)))
          )
          (func (export "convs")
            (call $p32 (i32.trunc_f64_s (f64.const -2147483648.9)))       ;; 0x80000000
            (call $p32 (i32.trunc_f64_u (f64.const 4294967295.9)))        ;; 0xffffffff
            (call $p32 (i32.trunc_f32_u (f32.const -0.9)))                ;; 0
            (call $p64 (i64.trunc_f64_u (f64.const 18446744073709549568)))  ;; 0xfffffffffffff800
            (call $p64 (i64.trunc_f64_s (f64.const -9223372036854775808)))
            (call $p32 (i32.trunc_sat_f32_s (f32.const nan)))             ;; 0
            (call $p32 (i32.trunc_sat_f32_s (f32.const -1e10)))           ;; 0x80000000
            (call $p32 (i32.trunc_sat_f64_u (f64.const 1e10)))            ;; 0xffffffff
            (call $p64 (i64.trunc_sat_f64_s (f64.const inf)))             ;; 0x7fff...
            (call $p64 (i64.trunc_sat_f32_u (f32.const -5)))              ;; 0
          )
          (func $bt (param i32) (result i32)
            (block $a (block $b (block $c
              (br_table $a $b $c (local.get 0)))
              (return (i32.const 30)))
              (return (i32.const 20)))
            (i32.const 10))
          (func $multi (param i32) (result i32)
            (local.get 0) (i32.const 5)
            (block $b (param i32 i32) (result i32 i32)
              (br_if $b (i32.const 1))
              (drop) (drop) (i32.const 0) (i32.const 0))
            (i32.add))
          (func $sumto (param i32) (result i32)
            ;; loop with a parameter: acc on the stack
            (i32.const 0)
            (loop $l (param i32) (result i32)
              (i32.add (local.get 0))
              (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
              (br_if $l (local.get 0))))
          (func $ifparam (param i32) (result i32)
            (i32.const 7)
            (if (param i32) (result i32) (local.get 0)
              (then (i32.add (i32.const 100)))
              (else (i32.add (i32.const 200)))))
          (func $dead (result i32)
            (block (result i32)
              (i32.const 1)
              (br 0)
              (i32.add) (block (loop (if (i32.const 0) (then) (else (unreachable))))) (drop) (drop) (i32.const 0))
            )
          (func (export "control")
            (call $p32 (call $bt (i32.const 0)))   ;; 10
            (call $p32 (call $bt (i32.const 1)))   ;; 20
            (call $p32 (call $bt (i32.const 2)))   ;; 30
            (call $p32 (call $bt (i32.const 99)))  ;; 30
            (call $p32 (call $multi (i32.const 3)))  ;; 8
            (call $p32 (call $sumto (i32.const 10))) ;; 55
            (call $p32 (call $ifparam (i32.const 1))) ;; 107
            (call $p32 (call $ifparam (i32.const 0))) ;; 207
            (call $p32 (call $dead))                  ;; 1
            (call $p32 (call_indirect (type $ii) (i32.const 41) (i32.const 0))) ;; 42
            (call_indirect (type $v) (i32.const 1))
            (call $p32 (global.get $g))               ;; 40
            (global.set $g (i32.const -1))
            (call $p32 (global.get $g))
            (call $p64 (global.get $h))               ;; 42
            (call $p32 (table.size 0))                ;; 4
            (call $p32 (select (i32.const 1) (i32.const 2) (i32.const 0)))  ;; 2
            (call $pf64 (select (f64.const 1) (f64.const 2) (i32.const 1))) ;; 1.0
          )
          (func (export "trap_mem_straddle") (i64.store (i32.const 65530) (i64.const 0x1122334455667788)))
          (func (export "mem2")
            (i64.store offset=1 (i32.const 3) (i64.const 0x1122334455667788))
            (call $p64 (i64.load offset=1 (i32.const 3)))
            (call $p32 (i32.load8_s (i32.const 4)))                    ;; 0x88 -> 0xffffff88
            (call $p32 (i32.load16_u (i32.const 4)))                   ;; 0x7788
            (call $p32 (memory.size))                                  ;; 1
            (call $p32 (memory.grow (i32.const 1)))                    ;; 1
            (call $p32 (memory.grow (i32.const 5)))                    ;; -1
            (call $p32 (memory.size))                                  ;; 2
            (i32.store (i32.const 131068) (i32.const 99))
            (call $p32 (i32.load (i32.const 131068)))                  ;; 99
            (memory.init $d (i32.const 100) (i32.const 1) (i32.const 4))
            (call $p32 (i32.load (i32.const 100)))                     ;; "ello" = 0x6f6c6c65
            (memory.fill (i32.const 200) (i32.const 0x41) (i32.const 3))
            (memory.copy (i32.const 201) (i32.const 200) (i32.const 4))
            (call $p32 (i32.load (i32.const 200)))                     ;; 0x41414141
            (data.drop $d)
            (memory.init $d (i32.const 100) (i32.const 0) (i32.const 0)) ;; ok: zero length
          )
          (func (export "trap_mem") (drop (i32.load (i32.const 65533))))
          (func (export "trap_mem_offset") (drop (i32.load offset=0xffffffff (i32.const 1))))
          (func (export "trap_div0") (drop (i32.div_u (i32.const 1) (i32.const 0))))
          (func (export "trap_ovf") (drop (i64.div_s (i64.const 0x8000000000000000) (i64.const -1))))
          (func (export "trap_conv") (drop (i32.trunc_f32_s (f32.const nan))))
          (func (export "trap_conv_ovf") (drop (i32.trunc_f64_s (f64.const 2147483648))))
          (func (export "trap_unreachable") unreachable)
          (func (export "trap_table_bounds") (drop (call_indirect (type $ii) (i32.const 1) (i32.const 4))))
          (func (export "trap_null") (drop (call_indirect (type $ii) (i32.const 1) (i32.const 2))))
          (func (export "trap_type") (drop (call_indirect (type $ii) (i32.const 1) (i32.const 1))))
          (func $rec (export "trap_stack") (call $rec))
          (func (export "trap_init") (memory.init $d (i32.const 0) (i32.const 2) (i32.const 4)))
          (func (export "trap_dropped") (data.drop $d) (memory.init $d (i32.const 0) (i32.const 0) (i32.const 1)))
          (func (export "trap_fill") (memory.fill (i32.const 65535) (i32.const 0) (i32.const 2)))
        )
        """#

    /// Hostile bytes never crash the translator: modules with bytes changed at random (a fixed
    /// seed), most of them invalid in ways WasmKit's validation would catch first, give a
    /// translation or an EnclaveError, never a trap of the process.
    @Test func mutatedModulesNeverCrash() async throws {
        let originals = [try wat2wasm(Self.semanticsModule), try instrumented(try example("echo.wat"))]
        var generator = SplitMix(seed: 0x7AB_01A)
        var translated = 0
        for round in 0..<400 {
            var bytes = originals[round % originals.count]
            for _ in 0...(round % 4) {
                let position = 8 + Int(generator.next() % UInt64(bytes.count - 8))
                bytes[position] = UInt8(truncatingIfNeeded: generator.next())
            }
            if (try? CTranslator.translate(bytes)) != nil { translated += 1 }
        }
        // Some mutations keep the module translatable (a changed constant), most do not.
        #expect(translated > 0 && translated < 400)
    }

    private struct SplitMix {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// Deep nesting and a large frame: no recursion in the translator, and the entry check counts
    /// the frame (1,000 locals are about 8 KB).
    @Test func deepNestingAndManyLocals() async throws {
        let depth = 2_000
        let wat = "(module (func (export \"f\") (result i32) (local i64) " + String(repeating: "(block (result i32) ", count: depth)
            + "(i32.const 7)" + String(repeating: ")", count: depth) + "))"
        let source = try translate(wat: wat).source
        #expect(source.contains("L\(depth + 1):;"))
        let locals = try translate(wat: "(module (func (local " + String(repeating: "i64 ", count: 1_000) + ")))").source
        #expect(locals.contains("T_STACK_CHECK(c, 8064u);"))
    }

    // MARK: Compiling

    static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let clang: String? = ["/opt/swift/usr/bin/clang", "/usr/bin/clang"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// The flags of the native engine's compiler driver.
    static let flags = NativeCompiler.flags

    /// Compiles `source` with the engine's flags when a clang is installed, and checks the shared
    /// object: no undefined symbols, only relative dynamic relocations, the entry symbol exported.
    private func compileIfPossible(_ source: String, name: String) async throws {
        guard let clang = Self.clang else { return }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ctranslator-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let input = directory.appendingPathComponent("\(name).c")
        let output = directory.appendingPathComponent("\(name).so")
        try source.write(to: input, atomically: true, encoding: .utf8)
        let compiled = try await Self.runTool(clang, Self.flags + ["-o", output.path, input.path])
        #expect(compiled.status == 0, "\(compiled.output)")
        guard compiled.status == 0 else { return }
        let tools = URL(fileURLWithPath: clang).deletingLastPathComponent()
        let nm = tools.appendingPathComponent("llvm-nm").path
        let objdump = tools.appendingPathComponent("llvm-objdump").path
        guard FileManager.default.isExecutableFile(atPath: nm), FileManager.default.isExecutableFile(atPath: objdump) else { return }
        let undefined = try await Self.runTool(nm, ["-u", output.path])
        #expect(undefined.status == 0 && undefined.output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "undefined: \(undefined.output)")
        let exported = try await Self.runTool(nm, ["-D", "--defined-only", output.path])
        // Beside the linker's own markers (_end...), the entry point is the only symbol exported.
        let symbols = exported.output.split(separator: "\n").compactMap { $0.split(separator: " ").last }
        #expect(symbols.filter { !["__bss_start", "_edata", "_end"].contains($0) } == ["tabula_native_module"], "\(exported.output)")
        let relocations = try await Self.runTool(objdump, ["--dynamic-reloc", output.path])
        let kinds = relocations.output.split(separator: "\n").compactMap { line -> Substring? in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            return fields.count >= 2 && fields[1].hasPrefix("R_") ? fields[1] : nil
        }
        #expect(kinds.allSatisfy { $0 == "R_X86_64_RELATIVE" }, "\(relocations.output)")
    }

    /// Runs a tool off the cooperative pool (see ``offThePool(_:)``): compiles take seconds.
    static func runTool(_ tool: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await offThePool { try runToolNow(tool, arguments) }
    }

    private static func runToolNow(_ tool: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
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
    func writeTranslationForInspection() async throws {
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
