package import WasmKit
import WasmParser

/// The C translation of one (already instrumented) module.
package struct CTranslation: Sendable {
    /// One complete C file: the prelude (NativeABI.h's declarations and helpers), the module's
    /// functions, and the descriptor returned by `tabula_native_module`.
    package var source: String
    /// Canonical type id -> type: structurally equal function types share one id, which is what
    /// `tabula_funcref.type` (id + 1) and a type mismatch trap's details refer to.
    package var functionTypes: [FunctionType]
}

/// Translates a WebAssembly module to C for the native (ahead-of-time) engine.
///
/// The module is hostile input. WasmKit has validated it before, but the translation still never
/// trusts it: every identifier in the output is generated (`w12` for function 12, `v3` for local
/// 3, `i4` for the i32 operand-stack slot at depth 4...), the module's own names and bytes reach the
/// C file only as octal-escaped literals, every memory access is bounds-checked against the
/// current memory size, and whatever the translation does not understand is refused with an error
/// instead of being emitted. The code does not depend on libc or libm: the prelude defines what it
/// needs, so the shared object links with `-nostdlib` and has no undefined symbols.
///
/// Features outside the translated subset (SIMD, exceptions, tail calls, threads, GC, memory64,
/// multiple memories, externref, most table instructions) give ``EnclaveError/Code/unsupportedByEngine``:
/// the interpreter runs such modules.
package enum CTranslator {
    /// Translates `bytes`, a module WasmKit has already parsed and validated.
    /// - Parameter countdownGlobal: the deadline countdown ``DeadlineChecks`` added (an `i64`
    ///   global only the instrumentation touches): each function keeps it in a local, written back
    ///   before calls and returns, so that a loop's checkpoint costs no memory traffic.
    package static func translate(_ bytes: [UInt8], countdownGlobal: Int? = nil) throws(EnclaveError) -> CTranslation {
        var module = try Module(bytes: bytes)
        if let countdownGlobal {
            guard countdownGlobal < module.globals.count, module.globals[countdownGlobal].type.valueType == .i64 else {
                throw malformed("the countdown global \(countdownGlobal) is not an i64 global of the module")
            }
            module.countdown = UInt32(countdownGlobal)
        }
        var writer = SourceWriter(module: module)
        try writer.write()
        return CTranslation(source: writer.out, functionTypes: module.canonicalTypes)
    }

    /// The refusal of a feature the native engine does not translate.
    static func unsupported(_ feature: String, _ what: String) -> EnclaveError {
        EnclaveError(.unsupportedByEngine, "the native engine does not support \(feature) (\(what)); set the action's \"engine\" annotation to \"interpreter\" to run it with the interpreter")
    }

    /// A module that should not have passed validation; never expected, but never a crash.
    static func malformed(_ what: String) -> EnclaveError {
        EnclaveError(.invalidModule, "the native engine could not translate the module: \(what)")
    }

    /// Refuses any value type but the four numeric ones, naming the feature it belongs to.
    static func checkValueType(_ type: ValueType, _ place: String) throws(EnclaveError) {
        switch type {
        case .i32, .i64, .f32, .f64: return
        case .v128: throw unsupported("SIMD", "a v128 \(place)")
        case .ref(let reference): throw unsupported(feature(of: reference), "a reference-typed \(place)")
        }
    }

    static func feature(of reference: ReferenceType) -> String {
        switch reference.heapType {
        case .abstract(.externRef), .abstract(.noExtern): "externref"
        case .abstract(.funcRef) where reference.isNullable: "reference-typed values"
        case .abstract(.exnRef), .abstract(.noExn): "exceptions"
        default: "typed function references and GC"
        }
    }

    /// The operand-stack slot family of a numeric value type: 0 i32, 1 i64, 2 f32, 3 f64.
    static func kind(_ type: ValueType) -> Int {
        switch type {
        case .i32: 0
        case .i64: 1
        case .f32: 2
        default: 3
        }
    }

    /// The C type of a numeric value type (checked before).
    static func cType(_ type: ValueType) -> String {
        switch type {
        case .i32: "uint32_t"
        case .i64: "uint64_t"
        case .f32: "float"
        default: "double"
        }
    }

    /// An expression giving the 64-bit slot pattern of a C value of `type` (i32/f32 zero-extended).
    static func toBits(_ value: String, _ type: ValueType) -> String {
        switch type {
        case .i32: "(uint64_t)(\(value))"
        case .i64: "(\(value))"
        case .f32: "(uint64_t)t_b32(\(value))"
        default: "t_b64(\(value))"
        }
    }

    /// An expression giving the C value of `type` held in a 64-bit slot pattern.
    static func fromBits(_ bits: String, _ type: ValueType) -> String {
        switch type {
        case .i32: "(uint32_t)(\(bits))"
        case .i64: "(\(bits))"
        case .f32: "t_f32((uint32_t)(\(bits)))"
        default: "t_f64(\(bits))"
        }
    }

    /// `bytes` as a C string literal of octal escapes only, in lines of 32 bytes: nothing of the
    /// module's text can close the literal or form a trigraph or a comment.
    static func literal(_ bytes: some Collection<UInt8>, indent: String = "    ") -> String {
        if bytes.isEmpty { return "\"\"" }
        var out = ""
        out.reserveCapacity(bytes.count * 4 + bytes.count / 8 + 4)
        var column = 0
        for byte in bytes {
            if column == 0 {
                if !out.isEmpty { out += "\n\(indent)" }
                out += "\""
            }
            out += "\\"
            out.unicodeScalars.append(Unicode.Scalar(UInt8(ascii: "0") + (byte >> 6)))
            out.unicodeScalars.append(Unicode.Scalar(UInt8(ascii: "0") + ((byte >> 3) & 7)))
            out.unicodeScalars.append(Unicode.Scalar(UInt8(ascii: "0") + (byte & 7)))
            column += 1
            if column == 32 {
                out += "\""
                column = 0
            }
        }
        if column != 0 { out += "\"" }
        return out
    }
}
