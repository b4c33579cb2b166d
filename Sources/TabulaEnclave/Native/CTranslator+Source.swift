import WasmKit
import WasmParser

extension CTranslator {
    /// Writes the whole C file of a module: prelude, declarations, data, functions, descriptor.
    struct SourceWriter {
        let module: Module
        var out = ""

        init(module: Module) {
            self.module = module
        }

        mutating func write() throws(EnclaveError) {
            out += CTranslator.prelude
            writeTypes()
            try writeDeclarations()
            writeData()
            try writeImports()
            for code in module.codes {
                var scan = FeatureScan()
                var parser = ExpressionParser(code: code)
                do {
                    while let instruction = try parser.parse() { try instruction(visitor: &scan) }
                } catch let error as EnclaveError {
                    throw error
                } catch {
                    throw malformed("\(error)")
                }
            }
            for index in module.codes.indices {
                var function = try FunctionWriter(module: module, index: UInt32(module.importCount + index))
                try function.translate(module.codes[index])
                out += function.source
            }
            try writeInstantiate()
            try writeInvoke()
            try writeCall()
            writeDescriptor()
        }

        /// The C prototype of function `index`, named `w<index>`.
        static func prototype(_ index: Int, _ type: FunctionType) -> String {
            let result = resultType(type.results)
            var parameters = "tabula_context *c"
            for (number, parameter) in type.parameters.enumerated() {
                parameters += ", \(CTranslator.cType(parameter)) v\(number)"
            }
            // No tail calls: clang would turn a function that calls itself last into a loop, and
            // recursion that must exhaust the stack (and trap) would run forever.
            return "static __attribute__((disable_tail_calls)) \(result) w\(index)(\(parameters))"
        }

        /// The C type a function with `results` returns: nothing, the value, or for several values
        /// a structure named after their types (`t_rs_ijf` for i32, i64, f32), fields `r0`, `r1`...
        static func resultType(_ results: [ValueType]) -> String {
            switch results.count {
            case 0: "void"
            case 1: CTranslator.cType(results[0])
            default: "t_rs_" + String(results.map { ["i", "j", "f", "d"][CTranslator.kind($0)] })
            }
        }

        /// The result structures of the functions with several results, then one pointer type per
        /// canonical function type (`t_fn<id>`), for `call_indirect`.
        private mutating func writeTypes() {
            var structures = Set<String>()
            for type in module.canonicalTypes where type.results.count > 1 && type.results.allSatisfy(Self.isNumeric) {
                let name = Self.resultType(type.results)
                guard structures.insert(name).inserted else { continue }
                let fields = type.results.enumerated().map { "\(CTranslator.cType($0.element)) r\($0.offset);" }.joined(separator: " ")
                out += "typedef struct { \(fields) } \(name);\n"
            }
            for (id, type) in module.canonicalTypes.enumerated() {
                guard (type.parameters + type.results).allSatisfy(Self.isNumeric) else { continue }
                let result = Self.resultType(type.results)
                let parameters = (["tabula_context *"] + type.parameters.map(CTranslator.cType)).joined(separator: ", ")
                out += "typedef \(result) (*t_fn\(id))(\(parameters));\n"
            }
            out += "\n"
        }

        static func isNumeric(_ type: ValueType) -> Bool {
            switch type {
            case .i32, .i64, .f32, .f64: true
            default: false
            }
        }

        private mutating func writeDeclarations() throws(EnclaveError) {
            for index in 0..<module.functionCount {
                out += Self.prototype(index, try module.functionType(UInt32(index))) + ";\n"
            }
            out += "\n"
        }

        private static func dataBytes(_ segment: DataSegment) -> ArraySlice<UInt8> {
            switch segment {
            case .passive(let bytes): bytes
            case .active(let active): active.initializer
            }
        }

        private mutating func writeData() {
            for (index, segment) in module.data.enumerated() {
                out += "static const uint8_t t_d\(index)[] =\n    \(CTranslator.literal(Self.dataBytes(segment)));\n"
            }
            out += "\n"
        }

        /// Each import: its arguments as 64-bit patterns, a call to the host, and a host trap if
        /// the host says the run ended.
        private mutating func writeImports() throws(EnclaveError) {
            for index in 0..<module.importCount {
                let type = try module.functionType(UInt32(index))
                out += Self.prototype(index, type) + " {\n"
                out += "    uint64_t args[\(max(type.parameters.count, 1))] = {0};\n    uint64_t results[\(max(type.results.count, 1))] = {0};\n"
                for (number, parameter) in type.parameters.enumerated() {
                    out += "    args[\(number)] = \(CTranslator.toBits("v\(number)", parameter));\n"
                }
                out += "    if (c->host(c, \(index)u, args, results) != 0) T_TRAP(c, TABULA_TRAP_HOST);\n"
                if type.results.count == 1 {
                    out += "    return \(CTranslator.fromBits("results[0]", type.results[0]));\n"
                } else if type.results.count > 1 {
                    let values = type.results.enumerated().map { CTranslator.fromBits("results[\($0.offset)]", $0.element) }.joined(separator: ", ")
                    out += "    return (\(Self.resultType(type.results))){\(values)};\n"
                }
                out += "}\n"
            }
            out += "\n"
        }

        /// A constant expression as a C expression, with its type.
        func constant(_ expression: ConstExpression) throws(EnclaveError) -> (String, ValueType) {
            var stack: [(String, ValueType)] = []
            for instruction in expression {
                switch instruction {
                case .end:
                    break
                case .i32Const(let value):
                    stack.append(("((uint32_t)\(UInt32(bitPattern: value))u)", .i32))
                case .i64Const(let value):
                    stack.append(("((uint64_t)\(UInt64(bitPattern: value))ull)", .i64))
                case .f32Const(let value):
                    stack.append(("t_f32(\(value.bitPattern)u)", .f32))
                case .f64Const(let value):
                    stack.append(("t_f64(\(value.bitPattern)ull)", .f64))
                case .globalGet(let index):
                    guard Int(index) < module.globals.count else { throw malformed("global \(index) out of range") }
                    let type = module.globals[Int(index)].type.valueType
                    stack.append((CTranslator.fromBits("c->globals[\(index)]", type), type))
                case .binary(let operation):
                    guard stack.count >= 2 else { throw malformed("constant expression underflow") }
                    let right = stack.removeLast()
                    let left = stack.removeLast()
                    let (symbol, type): (String, ValueType)
                    switch operation {
                    case .i32Add: (symbol, type) = ("+", .i32)
                    case .i32Sub: (symbol, type) = ("-", .i32)
                    case .i32Mul: (symbol, type) = ("*", .i32)
                    case .i64Add: (symbol, type) = ("+", .i64)
                    case .i64Sub: (symbol, type) = ("-", .i64)
                    case .i64Mul: (symbol, type) = ("*", .i64)
                    default: throw unsupported("this constant expression", "\(operation)")
                    }
                    guard left.1 == type, right.1 == type else { throw malformed("constant expression types") }
                    stack.append(("((\(CTranslator.cType(type)))(\(left.0) \(symbol) \(right.0)))", type))
                case .refNull, .refFunc:
                    throw unsupported("reference-typed values", "a reference constant outside an element segment")
                default:
                    throw unsupported("this constant expression", "\(instruction)")
                }
            }
            guard stack.count == 1, let result = stack.first else { throw malformed("constant expression of \(stack.count) values") }
            return result
        }

        /// An element of a segment: `{type id + 1, index, code}` or null.
        private func element(_ expression: ConstExpression) throws(EnclaveError) -> String {
            let instructions = expression.filter { $0 != .end }
            guard instructions.count == 1 else { throw unsupported("this element expression", "\(instructions.count) instructions") }
            switch instructions[0] {
            case .refFunc(let function):
                let id = try module.functionCanonicalID(function)
                return "(tabula_funcref){\(id + 1)u, \(function)u, (void *)w\(function)}"
            case .refNull:
                return "(tabula_funcref){0u, 0u, 0}"
            default:
                throw unsupported("this element expression", "\(instructions[0])")
            }
        }

        /// Globals, then active element segments, then active data segments (each out-of-bounds
        /// segment traps; earlier effects stay), then drop flags, then the start function.
        private mutating func writeInstantiate() throws(EnclaveError) {
            out += "static void t_instantiate(tabula_context *c) {\n"
            for (index, global) in module.globals.enumerated() {
                let (value, type) = try constant(global.initializer)
                guard type == global.type.valueType else { throw malformed("global \(index) initializer type") }
                out += "    c->globals[\(index)] = \(CTranslator.toBits(value, type));\n"
            }
            for segment in module.elements {
                guard case .active(let table, let offset) = segment.mode else { continue }
                guard Int(table) < module.tables.count else { throw malformed("element segment table \(table) out of range") }
                let (start, type) = try constant(offset)
                guard type == .i32 else { throw malformed("element segment offset type") }
                out += "    {\n        uint32_t o = \(start);\n"
                out += "        if ((uint64_t)o + \(segment.initializer.count)u > c->tables[\(table)].size) { c->detail_a = o; T_TRAP(c, TABULA_TRAP_TABLE_ACCESS); }\n"
                if !segment.initializer.isEmpty {
                    out += "        tabula_funcref *e = c->tables[\(table)].elements + o;\n"
                    for (number, item) in segment.initializer.enumerated() {
                        out += "        e[\(number)] = \(try element(item));\n"
                    }
                }
                out += "    }\n"
            }
            for (index, segment) in module.data.enumerated() {
                guard case .active(let active) = segment else { continue }
                guard active.index == 0, module.memory != nil else { throw unsupported("multiple memories", "a data segment of memory \(active.index)") }
                let (start, type) = try constant(active.offset)
                guard type == .i32 else { throw malformed("data segment offset type") }
                out += "    {\n        uint32_t o = \(start);\n"
                out += "        if ((uint64_t)o + \(active.initializer.count)ull > c->memory_size) T_TRAP(c, TABULA_TRAP_MEMORY);\n"
                if !active.initializer.isEmpty {
                    out += "        memcpy(c->memory + o, t_d\(index), \(active.initializer.count)u);\n"
                }
                out += "    }\n"
            }
            for (index, segment) in module.data.enumerated() {
                if case .active = segment { out += "    c->dropped[\(index)] = 1;\n" }
            }
            for (index, segment) in module.elements.enumerated() {
                switch segment.mode {
                case .active, .declarative: out += "    c->dropped[\(module.data.count + index)] = 1;\n"
                case .passive: break
                }
            }
            if let start = module.start {
                out += "    w\(start)(c);\n"
            }
            out += "}\n\n"
        }

        /// `invoke`: every function that takes nothing and returns nothing or an i32.
        private mutating func writeInvoke() throws(EnclaveError) {
            out += "static uint64_t t_invoke(tabula_context *c, uint32_t index) {\n    switch (index) {\n"
            for index in 0..<module.functionCount {
                let type = try module.functionType(UInt32(index))
                guard type.parameters.isEmpty else { continue }
                if type.results.isEmpty {
                    out += "    case \(index)u: w\(index)(c); return 0;\n"
                } else if type.results == [.i32] {
                    out += "    case \(index)u: return (uint64_t)w\(index)(c);\n"
                }
            }
            out += "    default: T_TRAP(c, TABULA_TRAP_UNREACHABLE);\n    }\n}\n\n"
        }

        /// `call`: every exported function, with its arguments and result as 64-bit patterns, for
        /// tests. Only exports, so that a caller reaches what an embedder could reach, and the
        /// argument count is checked, so that a wrong one is refused instead of read past.
        private mutating func writeCall() throws(EnclaveError) {
            out += "static int32_t t_call(tabula_context *c, uint32_t index, const uint64_t *a, uint32_t n, uint64_t *r, uint32_t m) {\n    (void)a; (void)r; (void)m;\n    switch (index) {\n"
            var written = Set<UInt32>()
            for export in module.exports {
                guard case .function(let index) = export.descriptor, written.insert(index).inserted else { continue }
                let type = try module.functionType(index)
                let arguments = (["c"] + type.parameters.enumerated().map { CTranslator.fromBits("a[\($0.offset)]", $0.element) }).joined(separator: ", ")
                out += "    case \(index)u: {\n        if (n != \(type.parameters.count)u || m < \(type.results.count)u) return -1;\n"
                switch type.results.count {
                case 0:
                    out += "        w\(index)(\(arguments));\n"
                case 1:
                    out += "        r[0] = \(CTranslator.toBits("w\(index)(\(arguments))", type.results[0]));\n"
                default:
                    out += "        \(Self.resultType(type.results)) v = w\(index)(\(arguments));\n"
                    for (number, result) in type.results.enumerated() {
                        out += "        r[\(number)] = \(CTranslator.toBits("v.r\(number)", result));\n"
                    }
                }
                out += "        return \(type.results.count);\n    }\n"
            }
            out += "    default: return -1;\n    }\n}\n\n"
        }

        private mutating func writeDescriptor() {
            if !module.exports.isEmpty {
                out += "static const tabula_native_export t_exports[] = {\n"
                for export in module.exports {
                    let (kind, index): (Int, UInt32)
                    switch export.descriptor {
                    case .function(let function): (kind, index) = (0, function)
                    case .table(let table): (kind, index) = (1, table)
                    case .memory(let memory): (kind, index) = (2, memory)
                    case .global(let global): (kind, index) = (3, global)
                    case .tag(let tag): (kind, index) = (4, tag)  // refused when read
                    }
                    out += "    { \(CTranslator.literal(Array(export.name.utf8), indent: "      ")), \(kind)u, \(index)u },\n"
                }
                out += "};\n"
            }
            if !module.tables.isEmpty {
                let minimums = module.tables.map { "\($0.limits.min)u" }.joined(separator: ", ")
                let maximums = module.tables.map { $0.limits.max.map { "\($0)u" } ?? "0xFFFFFFFFu" }.joined(separator: ", ")
                out += "static const uint32_t t_table_minimums[] = { \(minimums) };\n"
                out += "static const uint32_t t_table_maximums[] = { \(maximums) };\n"
            }
            let memoryMaximum = module.memory?.max.map { "\($0)ull" } ?? "0xFFFFFFFFFFFFFFFFull"
            out += """
                static const tabula_native_module t_module = {
                    TABULA_NATIVE_ABI_VERSION,
                    (uint32_t)sizeof(tabula_context),
                    \(module.functionCount)u,
                    \(module.importCount)u,
                    \(module.globals.count)u,
                    \(module.tables.count)u,
                    \(module.data.count)u,
                    \(module.elements.count)u,
                    \(module.memory == nil ? 0 : 1)u,
                    \(module.exports.count)u,
                    \(module.memory?.min ?? 0)ull,
                    \(memoryMaximum),
                    \(module.tables.isEmpty ? "0" : "t_table_minimums"),
                    \(module.tables.isEmpty ? "0" : "t_table_maximums"),
                    \(module.exports.isEmpty ? "0" : "t_exports"),
                    t_instantiate,
                    t_invoke,
                    t_call,
                };

                /* The entry point. Its C name differs from the struct's typedef name; the symbol is tabula_native_module. */
                __attribute__((visibility("default"))) const tabula_native_module *t_entry(void) __asm__("tabula_native_module");
                __attribute__((visibility("default"))) const tabula_native_module *t_entry(void) { return &t_module; }

                """
        }
    }
}
