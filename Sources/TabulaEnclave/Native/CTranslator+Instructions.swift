import WasmKit
import WasmParser

extension CTranslator {
    /// Translates one function body to a C function.
    ///
    /// The operand stack becomes C locals, one per (depth, value type): `i3` is the i32 at depth 3,
    /// `j3` an i64, `f3` an f32, `d3` an f64. Blocks, loops and ifs become `goto` labels; a branch
    /// copies the values it carries to the target's slots, then jumps. Code after an unconditional
    /// branch is skipped up to the end of its block (the stack there is polymorphic).
    struct FunctionWriter: AnyInstructionVisitor {
        typealias VisitorError = EnclaveError

        enum Kind { case function, block, loop, `if` }

        struct Frame {
            var kind: Kind
            /// `L<label>` is the branch target: the start of a loop, the end of anything else.
            var label: Int
            /// For an `if`: where its condition jumps when false.
            var elseLabel: Int
            var parameters: [ValueType]
            var results: [ValueType]
            /// The stack height below the block's parameters.
            var base: Int
            var unreachable = false
            var hasElse = false
            /// For an `if` with parameters: the variables keeping them for the `else` branch.
            var saved: [String] = []
        }

        var binaryOffset: Int = 0
        let module: Module
        let index: UInt32
        let type: FunctionType
        private var locals: [ValueType] = []
        private var body = ""
        private var declarations = ""
        private var stack: [ValueType] = []
        /// The deepest slot used, per value type (i32, i64, f32, f64).
        private var slotCounts = [0, 0, 0, 0]
        private var frames: [Frame] = []
        private var labels = 0
        private var savedCount = 0
        /// Blocks opened inside unreachable code being skipped.
        private var deadNesting = 0
        private(set) var source = ""

        init(module: Module, index: UInt32) throws(EnclaveError) {
            self.module = module
            self.index = index
            self.type = try module.functionType(index)
        }

        mutating func translate(_ code: Code) throws(EnclaveError) {
            locals = type.parameters
            for local in code.locals {
                try checkValueType(local, "local of function \(index)")
                locals.append(local)
            }
            frames = [Frame(kind: .function, label: newLabel(), elseLabel: 0, parameters: [], results: type.results, base: 0)]
            var parser = ExpressionParser(code: code)
            do {
                while let instruction = try parser.parse() {
                    try instruction(visitor: &self)
                }
            } catch let error as EnclaveError {
                throw error
            } catch {
                throw malformed("function \(index): \(error)")
            }
            guard frames.isEmpty else { throw malformed("function \(index) does not end") }

            source = SourceWriter.prototype(Int(index), type) + " {\n"
            // First, before any local is touched: the frame (about 8 bytes per local and operand
            // slot, counted in) must fit above the limit, so that a large frame cannot reach past it.
            let frame = 8 * (locals.count + slotCounts.reduce(0, +) + savedCount) + 64
            source += "    T_STACK_CHECK(c, \(frame)u);\n"
            // The memory's base never moves and its size changes only through memory.grow, here or
            // in a callee: kept in locals (reloaded after every call and growth), so that a store to
            // linear memory, which C must assume may alias anything, never forces them to be read
            // again from the context. The globals' address never changes either.
            if module.memory != nil {
                source += "    uint8_t *const t_mb = c->memory;\n    uint64_t t_ms = c->memory_size;\n"
            }
            source += "    uint64_t *const t_g = c->globals;\n"
            if let countdown = module.countdown { source += "    uint64_t t_cd = t_g[\(countdown)];\n" }
            for (number, local) in locals.enumerated() where number >= type.parameters.count {
                source += "    \(cType(local)) v\(number) = 0;\n"
            }
            let prefixes = ["i", "j", "f", "d"]
            let types: [ValueType] = [.i32, .i64, .f32, .f64]
            for kind in 0..<4 where slotCounts[kind] > 0 {
                source += "    \(cType(types[kind])) "
                source += (0..<slotCounts[kind]).map { "\(prefixes[kind])\($0) = 0" }.joined(separator: ", ")
                source += ";\n"
            }
            source += declarations
            source += body
            source += "}\n\n"
        }

        // MARK: The operand stack

        private static func kind(_ type: ValueType) -> Int { CTranslator.kind(type) }

        private func slot(_ depth: Int, _ type: ValueType) -> String {
            ["i", "j", "f", "d"][Self.kind(type)] + String(depth)
        }

        private mutating func push(_ type: ValueType) -> String {
            let depth = stack.count
            stack.append(type)
            let kind = Self.kind(type)
            slotCounts[kind] = max(slotCounts[kind], depth + 1)
            return slot(depth, type)
        }

        private mutating func pop() throws(EnclaveError) -> String {
            guard let frame = frames.last, stack.count > frame.base, let type = stack.popLast() else {
                throw malformed("operand stack underflow in function \(index)")
            }
            return slot(stack.count, type)
        }

        /// Pops a value that must be of `type`.
        private mutating func pop(_ type: ValueType) throws(EnclaveError) -> String {
            guard stack.last == type else { throw malformed("operand type mismatch in function \(index)") }
            return try pop()
        }

        private mutating func emit(_ line: String) {
            body += "    "
            body += line
            body += "\n"
        }

        private mutating func newLabel() -> Int {
            labels += 1
            return labels
        }

        // MARK: Control

        private func blockType(_ blockType: BlockType) throws(EnclaveError) -> ([ValueType], [ValueType]) {
            switch blockType {
            case .empty: return ([], [])
            case .type(let type):
                try checkValueType(type, "block result")
                return ([], [type])
            case .funcType(let typeIndex):
                let function = try module.type(at: typeIndex)
                for value in function.parameters + function.results { try checkValueType(value, "block parameter or result") }
                return (function.parameters, function.results)
            }
        }

        /// Opens a block; an `if` keeps its parameters for the `else` branch, then jumps there when
        /// `condition` is false.
        private mutating func open(_ kind: Kind, _ type: BlockType, condition: String = "") throws(EnclaveError) {
            let (parameters, results) = try blockType(type)
            guard stack.count - (frames.last?.base ?? 0) >= parameters.count,
                Array(stack.suffix(parameters.count)) == parameters
            else { throw malformed("block parameters in function \(index)") }
            var frame = Frame(kind: kind, label: newLabel(), elseLabel: 0, parameters: parameters, results: results, base: stack.count - parameters.count)
            switch kind {
            case .loop:
                emit("L\(frame.label):;")
            case .if:
                frame.elseLabel = newLabel()
                for (number, parameter) in parameters.enumerated() {
                    savedCount += 1
                    let name = "p\(savedCount)"
                    declarations += "    \(cType(parameter)) \(name) = 0;\n"
                    emit("\(name) = \(slot(frame.base + number, parameter));")
                    frame.saved.append(name)
                }
                emit("if (!\(condition)) goto L\(frame.elseLabel);")
            default:
                break
            }
            frames.append(frame)
        }

        /// The copies of the values a branch to `depth` carries, then the jump.
        private func branch(_ depth: UInt32) throws(EnclaveError) -> String {
            guard Int(depth) < frames.count else { throw malformed("branch depth \(depth) out of range in function \(index)") }
            let target = frames[frames.count - 1 - Int(depth)]
            let values = target.kind == .loop ? target.parameters : target.results
            guard stack.count - (frames.last?.base ?? 0) >= values.count, Array(stack.suffix(values.count)) == values else {
                throw malformed("branch values in function \(index)")
            }
            var code = ""
            for (number, value) in values.enumerated() {
                let from = stack.count - values.count + number
                let to = target.base + number
                if from != to { code += "\(slot(to, value)) = \(slot(from, value)); " }
            }
            return code + "goto L\(target.label);"
        }

        private mutating func markUnreachable() {
            frames[frames.count - 1].unreachable = true
            deadNesting = 0
        }

        private mutating func elseBranch() throws(EnclaveError) {
            guard var frame = frames.last, frame.kind == .if, !frame.hasElse else { throw malformed("else outside an if in function \(index)") }
            if !frame.unreachable {
                guard stack.count == frame.base + frame.results.count else { throw malformed("if results in function \(index)") }
                emit("goto L\(frame.label);")
            }
            emit("L\(frame.elseLabel):;")
            stack.removeLast(stack.count - frame.base)
            for (number, parameter) in frame.parameters.enumerated() {
                emit("\(push(parameter)) = \(frame.saved[number]);")
            }
            frame.hasElse = true
            frame.unreachable = false
            frames[frames.count - 1] = frame
        }

        private mutating func end() throws(EnclaveError) {
            guard let frame = frames.popLast() else { throw malformed("end outside a block in function \(index)") }
            if !frame.unreachable {
                guard stack.count == frame.base + frame.results.count, Array(stack.suffix(frame.results.count)) == frame.results else {
                    throw malformed("block results in function \(index)")
                }
            }
            if frame.kind == .if, !frame.hasElse {
                // The false path arrives with the parameters as they were: they must be the results.
                guard frame.parameters == frame.results else { throw malformed("an if without else changes the stack in function \(index)") }
                emit("L\(frame.elseLabel):;")
            }
            if frame.kind != .loop {
                emit("L\(frame.label):;")
            }
            stack.removeLast(stack.count - frame.base)
            for result in frame.results { _ = push(result) }
            if frame.kind == .function {
                storeCountdown()
                if frame.results.count == 1 {
                    emit("return \(slot(0, frame.results[0]));")
                } else if frame.results.count > 1 {
                    let values = frame.results.enumerated().map { slot($0.offset, $0.element) }.joined(separator: ", ")
                    emit("return (\(SourceWriter.resultType(frame.results))){\(values)};")
                }
            }
        }

        // MARK: Refusals

        /// Refuses what the engine does not translate, reachable or not. Run over every body
        /// before any is translated (see ``FeatureScan``), so that the refusal names the feature
        /// (`table.fill`) rather than the reference value its operands need.
        static func check(_ instruction: Instruction) throws(EnclaveError) {
            let name = "\(instruction)"
            switch instruction {
            case .v128Const, .i8x16Shuffle, .simd, .simdLane, .simdMemLane:
                throw unsupported("SIMD", name)
            case .load(let load, _) where load.type == .v128:
                throw unsupported("SIMD", name)
            case .store(.v128Store, _):
                throw unsupported("SIMD", name)
            case .load(.i32AtomicLoad, _), .load(.i64AtomicLoad, _), .load(.i32AtomicLoad8U, _), .load(.i32AtomicLoad16U, _),
                .load(.i64AtomicLoad8U, _), .load(.i64AtomicLoad16U, _), .load(.i64AtomicLoad32U, _),
                .store(.i32AtomicStore, _), .store(.i64AtomicStore, _), .store(.i32AtomicStore8, _), .store(.i32AtomicStore16, _),
                .store(.i64AtomicStore8, _), .store(.i64AtomicStore16, _), .store(.i64AtomicStore32, _):
                throw unsupported("threads and atomics", name)
            case .throw, .throwRef, .tryTable:
                throw unsupported("exceptions", name)
            case .returnCall, .returnCallIndirect, .returnCallRef:
                throw unsupported("tail calls", name)
            case .callRef, .refAsNonNull, .brOnNull, .brOnNonNull, .refI31, .i31GetS, .i31GetU, .structNew, .structNewDefault,
                .structGet, .structGetS, .structGetU, .structSet, .arrayNew, .arrayNewDefault, .arrayNewFixed, .arrayGet,
                .arrayGetS, .arrayGetU, .arraySet, .arrayLen, .refEq, .anyConvertExtern, .externConvertAny, .arrayNewData,
                .arrayNewElem, .arrayFill, .arrayCopy, .arrayInitData, .arrayInitElem, .refTest, .refCast, .brOnCast, .brOnCastFail:
                throw unsupported("typed function references and GC", name)
            case .tableGet: throw unsupported("table.get", name)
            case .tableSet: throw unsupported("table.set", name)
            case .tableGrow: throw unsupported("table.grow", name)
            case .tableFill: throw unsupported("table.fill", name)
            case .tableCopy: throw unsupported("table.copy", name)
            case .tableInit: throw unsupported("table.init", name)
            case .elemDrop: throw unsupported("elem.drop", name)
            case .typedSelect(let type):
                try checkValueType(type, "select")
            case .load(_, let memarg), .store(_, let memarg):
                guard memarg.memory == 0 else { throw unsupported("multiple memories", name) }
                guard memarg.offset <= UInt64(UInt32.max) else { throw unsupported("memory64", name) }
            case .memorySize(let memory), .memoryGrow(let memory), .memoryFill(let memory), .memoryInit(_, let memory):
                guard memory == 0 else { throw unsupported("multiple memories", name) }
            case .memoryCopy(let destination, let source):
                guard destination == 0, source == 0 else { throw unsupported("multiple memories", name) }
            default:
                break
            }
            switch instruction {
            case .atomicFence, .memoryAtomicNotify, .memoryAtomicWait32, .memoryAtomicWait64:
                throw unsupported("threads and atomics", name)
            case .i32AtomicRmwAdd, .i64AtomicRmwAdd, .i32AtomicRmw8AddU, .i32AtomicRmw16AddU, .i64AtomicRmw8AddU, .i64AtomicRmw16AddU,
                .i64AtomicRmw32AddU, .i32AtomicRmwSub, .i64AtomicRmwSub, .i32AtomicRmw8SubU, .i32AtomicRmw16SubU, .i64AtomicRmw8SubU,
                .i64AtomicRmw16SubU, .i64AtomicRmw32SubU, .i32AtomicRmwAnd, .i64AtomicRmwAnd, .i32AtomicRmw8AndU, .i32AtomicRmw16AndU,
                .i64AtomicRmw8AndU, .i64AtomicRmw16AndU, .i64AtomicRmw32AndU, .i32AtomicRmwOr, .i64AtomicRmwOr, .i32AtomicRmw8OrU,
                .i32AtomicRmw16OrU, .i64AtomicRmw8OrU, .i64AtomicRmw16OrU, .i64AtomicRmw32OrU, .i32AtomicRmwXor, .i64AtomicRmwXor,
                .i32AtomicRmw8XorU, .i32AtomicRmw16XorU, .i64AtomicRmw8XorU, .i64AtomicRmw16XorU, .i64AtomicRmw32XorU,
                .i32AtomicRmwXchg, .i64AtomicRmwXchg, .i32AtomicRmw8XchgU, .i32AtomicRmw16XchgU, .i64AtomicRmw8XchgU,
                .i64AtomicRmw16XchgU, .i64AtomicRmw32XchgU, .i32AtomicRmwCmpxchg, .i64AtomicRmwCmpxchg, .i32AtomicRmw8CmpxchgU,
                .i32AtomicRmw16CmpxchgU, .i64AtomicRmw8CmpxchgU, .i64AtomicRmw16CmpxchgU, .i64AtomicRmw32CmpxchgU:
                throw unsupported("threads and atomics", name)
            default:
                break
            }
        }

        // MARK: Instructions

        mutating func visit(_ instruction: Instruction) throws(EnclaveError) {
            try Self.check(instruction)
            guard let frame = frames.last else { throw malformed("code after the end of function \(index)") }
            if frame.unreachable {
                switch instruction {
                case .block, .loop, .if: deadNesting += 1
                case .end:
                    if deadNesting > 0 { deadNesting -= 1 } else { try end() }
                case .else:
                    if deadNesting == 0 { try elseBranch() }
                default: break
                }
                return
            }
            switch instruction {
            case .unreachable:
                emit("T_TRAP(c, TABULA_TRAP_UNREACHABLE);")
                markUnreachable()
            case .nop:
                break
            case .block(let type):
                try open(.block, type)
            case .loop(let type):
                try open(.loop, type)
            case .if(let type):
                let condition = try pop(.i32)
                try open(.if, type, condition: condition)
            case .else:
                try elseBranch()
            case .end:
                try end()
            case .br(let depth):
                emit(try branch(depth))
                markUnreachable()
            case .brIf(let depth):
                let condition = try pop(.i32)
                emit("if (\(condition)) { \(try branch(depth)) }")
            case .brTable(let targets):
                let selector = try pop(.i32)
                var code = "switch (\(selector)) {"
                for (number, depth) in targets.labelIndices.enumerated() {
                    code += "\n    case \(number)u: \(try branch(depth))"
                }
                code += "\n    default: \(try branch(targets.defaultIndex))\n    }"
                emit(code)
                markUnreachable()
            case .return:
                emit(try branch(UInt32(frames.count - 1)))
                markUnreachable()
            case .call(let function):
                try call(function)
            case .callIndirect(let typeIndex, let table):
                try callIndirect(typeIndex, table)
            case .drop:
                _ = try pop()
            case .select, .typedSelect:
                let condition = try pop(.i32)
                guard let type = stack.last else { throw malformed("select underflow in function \(index)") }
                let second = try pop(type)
                let first = try pop(type)
                emit("if (!\(condition)) \(first) = \(second);")
                _ = push(type)
            case .localGet(let local):
                let type = try localType(local)
                emit("\(push(type)) = v\(local);")
            case .localSet(let local):
                let type = try localType(local)
                emit("v\(local) = \(try pop(type));")
            case .localTee(let local):
                let type = try localType(local)
                let value = try pop(type)
                emit("v\(local) = \(value);")
                _ = push(type)
            case .globalGet(let global):
                let type = try globalType(global)
                emit("\(push(type)) = \(fromBits(global == module.countdown ? "t_cd" : "t_g[\(global)]", type));")
            case .globalSet(let global):
                let type = try globalType(global)
                guard module.globals[Int(global)].type.mutability == .variable else {
                    throw malformed("global.set of the immutable global \(global) in function \(index)")
                }
                emit("\(global == module.countdown ? "t_cd" : "t_g[\(global)]") = \(toBits(try pop(type), type));")
            case .load(let load, let memarg):
                try self.load(load, memarg)
            case .store(let store, let memarg):
                try self.store(store, memarg)
            case .memorySize:
                try requireMemory()
                emit("\(push(.i32)) = (uint32_t)(t_ms >> 16);")
            case .memoryGrow:
                try requireMemory()
                let delta = try pop(.i32)
                emit("\(push(.i32)) = t_grow(c, \(delta));")
                reloadMemorySize()
            case .memoryFill:
                try requireMemory()
                let count = try pop(.i32), value = try pop(.i32), destination = try pop(.i32)
                emit("t_fill(c, \(destination), \(value), \(count));")
            case .memoryCopy:
                try requireMemory()
                let count = try pop(.i32), source = try pop(.i32), destination = try pop(.i32)
                emit("t_copy(c, \(destination), \(source), \(count));")
            case .memoryInit(let data, _):
                try requireMemory()
                guard Int(data) < module.data.count else { throw malformed("data segment \(data) out of range") }
                let count = try pop(.i32), source = try pop(.i32), destination = try pop(.i32)
                emit("t_init(c, \(data)u, t_d\(data), sizeof(t_d\(data)) - 1, \(destination), \(source), \(count));")
            case .dataDrop(let data):
                guard Int(data) < module.data.count else { throw malformed("data segment \(data) out of range") }
                emit("c->dropped[\(data)] = 1;")
            case .tableSize(let table):
                guard Int(table) < module.tables.count else { throw malformed("table \(table) out of range") }
                emit("\(push(.i32)) = c->tables[\(table)].size;")
            case .i32Const(let value):
                emit("\(push(.i32)) = \(UInt32(bitPattern: value))u;")
            case .i64Const(let value):
                emit("\(push(.i64)) = \(UInt64(bitPattern: value))ull;")
            case .f32Const(let value):
                emit("\(push(.f32)) = t_f32c(\(value.bitPattern)u);")
            case .f64Const(let value):
                emit("\(push(.f64)) = t_f64c(\(value.bitPattern)ull);")
            case .i32Eqz:
                try apply1(.i32, .i32) { "(uint32_t)(\($0) == 0)" }
            case .i64Eqz:
                try apply1(.i64, .i32) { "(uint32_t)(\($0) == 0)" }
            case .cmp(let cmp):
                try compare(cmp)
            case .unary(let operation):
                try unary(operation)
            case .binary(let operation):
                try binary(operation)
            case .conversion(let conversion):
                try convert(conversion)
            case .refNull, .refIsNull, .refFunc:
                throw unsupported("reference-typed values", "\(instruction)")
            default:
                throw unsupported("this instruction", "\(instruction)")
            }
        }

        private func localType(_ local: UInt32) throws(EnclaveError) -> ValueType {
            guard Int(local) < locals.count else { throw malformed("local \(local) out of range in function \(index)") }
            return locals[Int(local)]
        }

        private func globalType(_ global: UInt32) throws(EnclaveError) -> ValueType {
            guard Int(global) < module.globals.count else { throw malformed("global \(global) out of range in function \(index)") }
            return module.globals[Int(global)].type.valueType
        }

        private func requireMemory() throws(EnclaveError) {
            guard module.memory != nil else { throw malformed("memory instruction without a memory in function \(index)") }
        }

        private mutating func arguments(_ parameters: [ValueType]) throws(EnclaveError) -> String {
            var values: [String] = []
            for parameter in parameters.reversed() { values.append(try pop(parameter)) }
            return (["c"] + values.reversed()).joined(separator: ", ")
        }

        private mutating func call(_ function: UInt32) throws(EnclaveError) {
            let type = try module.functionType(function)
            let arguments = try arguments(type.parameters)
            storeCountdown()
            emitCall("w\(function)(\(arguments))", type.results)
            reloadMemorySize()
        }

        /// A call and its results pushed (after the arguments were popped): several results come
        /// back in a structure (``SourceWriter/resultType(_:)``).
        private mutating func emitCall(_ call: String, _ results: [ValueType]) {
            switch results.count {
            case 0:
                emit("\(call);")
            case 1:
                emit("\(push(results[0])) = \(call);")
            default:
                var code = "{ \(SourceWriter.resultType(results)) t_r = \(call);"
                for (number, result) in results.enumerated() { code += " \(push(result)) = t_r.r\(number);" }
                emit(code + " }")
            }
        }

        /// After anything that may have grown the memory or charged the countdown: a call or
        /// memory.grow.
        private mutating func reloadMemorySize() {
            if module.memory != nil { emit("t_ms = c->memory_size;") }
            if let countdown = module.countdown { emit("t_cd = t_g[\(countdown)];") }
        }

        /// Before a call or a return: the callee, the poll and the next run read the countdown
        /// from its global.
        private mutating func storeCountdown() {
            if let countdown = module.countdown { emit("t_g[\(countdown)] = t_cd;") }
        }

        private mutating func callIndirect(_ typeIndex: UInt32, _ table: UInt32) throws(EnclaveError) {
            guard Int(table) < module.tables.count else { throw malformed("table \(table) out of range in function \(index)") }
            let type = try module.type(at: typeIndex)
            for value in type.parameters + type.results { try checkValueType(value, "call_indirect parameter or result") }
            let id = try module.canonicalID(typeIndex)
            let element = try pop(.i32)
            let arguments = try arguments(type.parameters)
            let callee = "((t_fn\(id))t_callee(c, \(table)u, \(element), \(id)u))(\(arguments))"
            storeCountdown()
            emitCall(callee, type.results)
            reloadMemorySize()
        }

        private mutating func address(_ memarg: MemArg, _ size: Int) throws(EnclaveError) -> String {
            try requireMemory()
            let base = try pop(.i32)
            return "t_at(c, t_mb, t_ms, (uint64_t)\(base) + \(memarg.offset)ull, \(size))"
        }

        private mutating func load(_ load: Instruction.Load, _ memarg: MemArg) throws(EnclaveError) {
            let (type, size, convert): (ValueType, Int, (String) -> String)
            switch load {
            case .i32Load: (type, size, convert) = (.i32, 4, { "t_ld32(\($0))" })
            case .i64Load: (type, size, convert) = (.i64, 8, { "t_ld64(\($0))" })
            case .f32Load: (type, size, convert) = (.f32, 4, { "t_ldf32(\($0))" })
            case .f64Load: (type, size, convert) = (.f64, 8, { "t_ldf64(\($0))" })
            case .i32Load8S: (type, size, convert) = (.i32, 1, { "(uint32_t)(int32_t)(int8_t)t_ld8(\($0))" })
            case .i32Load8U: (type, size, convert) = (.i32, 1, { "(uint32_t)t_ld8(\($0))" })
            case .i32Load16S: (type, size, convert) = (.i32, 2, { "(uint32_t)(int32_t)(int16_t)t_ld16(\($0))" })
            case .i32Load16U: (type, size, convert) = (.i32, 2, { "(uint32_t)t_ld16(\($0))" })
            case .i64Load8S: (type, size, convert) = (.i64, 1, { "(uint64_t)(int64_t)(int8_t)t_ld8(\($0))" })
            case .i64Load8U: (type, size, convert) = (.i64, 1, { "(uint64_t)t_ld8(\($0))" })
            case .i64Load16S: (type, size, convert) = (.i64, 2, { "(uint64_t)(int64_t)(int16_t)t_ld16(\($0))" })
            case .i64Load16U: (type, size, convert) = (.i64, 2, { "(uint64_t)t_ld16(\($0))" })
            case .i64Load32S: (type, size, convert) = (.i64, 4, { "(uint64_t)(int64_t)(int32_t)t_ld32(\($0))" })
            case .i64Load32U: (type, size, convert) = (.i64, 4, { "(uint64_t)t_ld32(\($0))" })
            default: throw unsupported("this load", "\(load)")
            }
            let address = try address(memarg, size)
            emit("\(push(type)) = \(convert(address));")
        }

        private mutating func store(_ store: Instruction.Store, _ memarg: MemArg) throws(EnclaveError) {
            let (type, size, write): (ValueType, Int, String)
            switch store {
            case .i32Store: (type, size, write) = (.i32, 4, "t_st32(%a, %v)")
            case .i64Store: (type, size, write) = (.i64, 8, "t_st64(%a, %v)")
            case .f32Store: (type, size, write) = (.f32, 4, "t_st32(%a, t_b32(%v))")
            case .f64Store: (type, size, write) = (.f64, 8, "t_st64(%a, t_b64(%v))")
            case .i32Store8: (type, size, write) = (.i32, 1, "t_st8(%a, (uint8_t)%v)")
            case .i32Store16: (type, size, write) = (.i32, 2, "t_st16(%a, (uint16_t)%v)")
            case .i64Store8: (type, size, write) = (.i64, 1, "t_st8(%a, (uint8_t)%v)")
            case .i64Store16: (type, size, write) = (.i64, 2, "t_st16(%a, (uint16_t)%v)")
            case .i64Store32: (type, size, write) = (.i64, 4, "t_st32(%a, (uint32_t)%v)")
            default: throw unsupported("this store", "\(store)")
            }
            let value = try pop(type)
            let address = try address(memarg, size)
            // Both replaced names are generated (`t_at(...)` and a slot), never module text.
            emit(write.replacingOccurrences(of: "%a", with: address).replacingOccurrences(of: "%v", with: value) + ";")
        }

        // MARK: Numeric instructions

        private mutating func apply1(_ operand: ValueType, _ result: ValueType, _ make: (String) -> String) throws(EnclaveError) {
            let value = try pop(operand)
            emit("\(push(result)) = \(make(value));")
        }

        private mutating func apply2(_ operand: ValueType, _ result: ValueType, _ make: (String, String) -> String) throws(EnclaveError) {
            let right = try pop(operand)
            let left = try pop(operand)
            emit("\(push(result)) = \(make(left, right));")
        }

        private mutating func compare(_ cmp: Instruction.Cmp) throws(EnclaveError) {
            let (type, op, cast): (ValueType, String, String)
            switch cmp {
            case .i32Eq: (type, op, cast) = (.i32, "==", "")
            case .i32Ne: (type, op, cast) = (.i32, "!=", "")
            case .i32LtS: (type, op, cast) = (.i32, "<", "(int32_t)")
            case .i32LtU: (type, op, cast) = (.i32, "<", "")
            case .i32GtS: (type, op, cast) = (.i32, ">", "(int32_t)")
            case .i32GtU: (type, op, cast) = (.i32, ">", "")
            case .i32LeS: (type, op, cast) = (.i32, "<=", "(int32_t)")
            case .i32LeU: (type, op, cast) = (.i32, "<=", "")
            case .i32GeS: (type, op, cast) = (.i32, ">=", "(int32_t)")
            case .i32GeU: (type, op, cast) = (.i32, ">=", "")
            case .i64Eq: (type, op, cast) = (.i64, "==", "")
            case .i64Ne: (type, op, cast) = (.i64, "!=", "")
            case .i64LtS: (type, op, cast) = (.i64, "<", "(int64_t)")
            case .i64LtU: (type, op, cast) = (.i64, "<", "")
            case .i64GtS: (type, op, cast) = (.i64, ">", "(int64_t)")
            case .i64GtU: (type, op, cast) = (.i64, ">", "")
            case .i64LeS: (type, op, cast) = (.i64, "<=", "(int64_t)")
            case .i64LeU: (type, op, cast) = (.i64, "<=", "")
            case .i64GeS: (type, op, cast) = (.i64, ">=", "(int64_t)")
            case .i64GeU: (type, op, cast) = (.i64, ">=", "")
            case .f32Eq: (type, op, cast) = (.f32, "==", "")
            case .f32Ne: (type, op, cast) = (.f32, "!=", "")
            case .f32Lt: (type, op, cast) = (.f32, "<", "")
            case .f32Gt: (type, op, cast) = (.f32, ">", "")
            case .f32Le: (type, op, cast) = (.f32, "<=", "")
            case .f32Ge: (type, op, cast) = (.f32, ">=", "")
            case .f64Eq: (type, op, cast) = (.f64, "==", "")
            case .f64Ne: (type, op, cast) = (.f64, "!=", "")
            case .f64Lt: (type, op, cast) = (.f64, "<", "")
            case .f64Gt: (type, op, cast) = (.f64, ">", "")
            case .f64Le: (type, op, cast) = (.f64, "<=", "")
            case .f64Ge: (type, op, cast) = (.f64, ">=", "")
            }
            try apply2(type, .i32) { "(uint32_t)(\(cast)\($0) \(op) \(cast)\($1))" }
        }

        private mutating func unary(_ operation: Instruction.Unary) throws(EnclaveError) {
            let (type, function): (ValueType, String)
            switch operation {
            case .i32Clz: (type, function) = (.i32, "t_i32_clz")
            case .i32Ctz: (type, function) = (.i32, "t_i32_ctz")
            case .i32Popcnt: (type, function) = (.i32, "t_i32_popcnt")
            case .i64Clz: (type, function) = (.i64, "t_i64_clz")
            case .i64Ctz: (type, function) = (.i64, "t_i64_ctz")
            case .i64Popcnt: (type, function) = (.i64, "t_i64_popcnt")
            case .f32Abs: (type, function) = (.f32, "t_f32_abs")
            case .f32Neg: (type, function) = (.f32, "t_f32_neg")
            case .f32Ceil: (type, function) = (.f32, "t_f32_ceil")
            case .f32Floor: (type, function) = (.f32, "t_f32_floor")
            case .f32Trunc: (type, function) = (.f32, "t_f32_trunc")
            case .f32Nearest: (type, function) = (.f32, "t_f32_nearest")
            case .f32Sqrt: (type, function) = (.f32, "t_f32_sqrt")
            case .f64Abs: (type, function) = (.f64, "t_f64_abs")
            case .f64Neg: (type, function) = (.f64, "t_f64_neg")
            case .f64Ceil: (type, function) = (.f64, "t_f64_ceil")
            case .f64Floor: (type, function) = (.f64, "t_f64_floor")
            case .f64Trunc: (type, function) = (.f64, "t_f64_trunc")
            case .f64Nearest: (type, function) = (.f64, "t_f64_nearest")
            case .f64Sqrt: (type, function) = (.f64, "t_f64_sqrt")
            case .i32Extend8S: (type, function) = (.i32, "(uint32_t)(int32_t)(int8_t)")
            case .i32Extend16S: (type, function) = (.i32, "(uint32_t)(int32_t)(int16_t)")
            case .i64Extend8S: (type, function) = (.i64, "(uint64_t)(int64_t)(int8_t)")
            case .i64Extend16S: (type, function) = (.i64, "(uint64_t)(int64_t)(int16_t)")
            case .i64Extend32S: (type, function) = (.i64, "(uint64_t)(int64_t)(int32_t)")
            }
            try apply1(type, type) { "\(function)(\($0))" }
        }

        private mutating func binary(_ operation: Instruction.Binary) throws(EnclaveError) {
            switch operation {
            case .i32Add: try apply2(.i32, .i32) { "\($0) + \($1)" }
            case .i32Sub: try apply2(.i32, .i32) { "\($0) - \($1)" }
            case .i32Mul: try apply2(.i32, .i32) { "\($0) * \($1)" }
            case .i32DivS: try apply2(.i32, .i32) { "t_i32_div_s(c, \($0), \($1))" }
            case .i32DivU: try apply2(.i32, .i32) { "t_i32_div_u(c, \($0), \($1))" }
            case .i32RemS: try apply2(.i32, .i32) { "t_i32_rem_s(c, \($0), \($1))" }
            case .i32RemU: try apply2(.i32, .i32) { "t_i32_rem_u(c, \($0), \($1))" }
            case .i32And: try apply2(.i32, .i32) { "\($0) & \($1)" }
            case .i32Or: try apply2(.i32, .i32) { "\($0) | \($1)" }
            case .i32Xor: try apply2(.i32, .i32) { "\($0) ^ \($1)" }
            case .i32Shl: try apply2(.i32, .i32) { "\($0) << (\($1) & 31)" }
            case .i32ShrS: try apply2(.i32, .i32) { "t_i32_shr_s(\($0), \($1))" }
            case .i32ShrU: try apply2(.i32, .i32) { "\($0) >> (\($1) & 31)" }
            case .i32Rotl: try apply2(.i32, .i32) { "t_i32_rotl(\($0), \($1))" }
            case .i32Rotr: try apply2(.i32, .i32) { "t_i32_rotr(\($0), \($1))" }
            case .i64Add: try apply2(.i64, .i64) { "\($0) + \($1)" }
            case .i64Sub: try apply2(.i64, .i64) { "\($0) - \($1)" }
            case .i64Mul: try apply2(.i64, .i64) { "\($0) * \($1)" }
            case .i64DivS: try apply2(.i64, .i64) { "t_i64_div_s(c, \($0), \($1))" }
            case .i64DivU: try apply2(.i64, .i64) { "t_i64_div_u(c, \($0), \($1))" }
            case .i64RemS: try apply2(.i64, .i64) { "t_i64_rem_s(c, \($0), \($1))" }
            case .i64RemU: try apply2(.i64, .i64) { "t_i64_rem_u(c, \($0), \($1))" }
            case .i64And: try apply2(.i64, .i64) { "\($0) & \($1)" }
            case .i64Or: try apply2(.i64, .i64) { "\($0) | \($1)" }
            case .i64Xor: try apply2(.i64, .i64) { "\($0) ^ \($1)" }
            case .i64Shl: try apply2(.i64, .i64) { "\($0) << (\($1) & 63)" }
            case .i64ShrS: try apply2(.i64, .i64) { "t_i64_shr_s(\($0), \($1))" }
            case .i64ShrU: try apply2(.i64, .i64) { "\($0) >> (\($1) & 63)" }
            case .i64Rotl: try apply2(.i64, .i64) { "t_i64_rotl(\($0), \($1))" }
            case .i64Rotr: try apply2(.i64, .i64) { "t_i64_rotr(\($0), \($1))" }
            case .f32Add: try apply2(.f32, .f32) { "\($0) + \($1)" }
            case .f32Sub: try apply2(.f32, .f32) { "\($0) - \($1)" }
            case .f32Mul: try apply2(.f32, .f32) { "\($0) * \($1)" }
            case .f32Div: try apply2(.f32, .f32) { "\($0) / \($1)" }
            case .f32Min: try apply2(.f32, .f32) { "t_f32_min(\($0), \($1))" }
            case .f32Max: try apply2(.f32, .f32) { "t_f32_max(\($0), \($1))" }
            case .f32Copysign: try apply2(.f32, .f32) { "t_f32_copysign(\($0), \($1))" }
            case .f64Add: try apply2(.f64, .f64) { "\($0) + \($1)" }
            case .f64Sub: try apply2(.f64, .f64) { "\($0) - \($1)" }
            case .f64Mul: try apply2(.f64, .f64) { "\($0) * \($1)" }
            case .f64Div: try apply2(.f64, .f64) { "\($0) / \($1)" }
            case .f64Min: try apply2(.f64, .f64) { "t_f64_min(\($0), \($1))" }
            case .f64Max: try apply2(.f64, .f64) { "t_f64_max(\($0), \($1))" }
            case .f64Copysign: try apply2(.f64, .f64) { "t_f64_copysign(\($0), \($1))" }
            }
        }

        private mutating func convert(_ conversion: Instruction.Conversion) throws(EnclaveError) {
            let (from, to, make): (ValueType, ValueType, (String) -> String)
            switch conversion {
            case .i32WrapI64: (from, to, make) = (.i64, .i32, { "(uint32_t)\($0)" })
            case .i32TruncF32S: (from, to, make) = (.f32, .i32, { "t_i32_trunc_f32_s(c, \($0))" })
            case .i32TruncF32U: (from, to, make) = (.f32, .i32, { "t_i32_trunc_f32_u(c, \($0))" })
            case .i32TruncF64S: (from, to, make) = (.f64, .i32, { "t_i32_trunc_f64_s(c, \($0))" })
            case .i32TruncF64U: (from, to, make) = (.f64, .i32, { "t_i32_trunc_f64_u(c, \($0))" })
            case .i64ExtendI32S: (from, to, make) = (.i32, .i64, { "(uint64_t)(int64_t)(int32_t)\($0)" })
            case .i64ExtendI32U: (from, to, make) = (.i32, .i64, { "(uint64_t)\($0)" })
            case .i64TruncF32S: (from, to, make) = (.f32, .i64, { "t_i64_trunc_f32_s(c, \($0))" })
            case .i64TruncF32U: (from, to, make) = (.f32, .i64, { "t_i64_trunc_f32_u(c, \($0))" })
            case .i64TruncF64S: (from, to, make) = (.f64, .i64, { "t_i64_trunc_f64_s(c, \($0))" })
            case .i64TruncF64U: (from, to, make) = (.f64, .i64, { "t_i64_trunc_f64_u(c, \($0))" })
            case .f32ConvertI32S: (from, to, make) = (.i32, .f32, { "t_opaque32((float)(int32_t)\($0))" })
            case .f32ConvertI32U: (from, to, make) = (.i32, .f32, { "t_opaque32((float)\($0))" })
            case .f32ConvertI64S: (from, to, make) = (.i64, .f32, { "t_opaque32((float)(int64_t)\($0))" })
            case .f32ConvertI64U: (from, to, make) = (.i64, .f32, { "t_opaque32((float)\($0))" })
            // Opaque: C folds demote(promote(x)) to x, keeping a signalling NaN that the
            // processor quiets (the spec: an arithmetic NaN).
            case .f32DemoteF64: (from, to, make) = (.f64, .f32, { "t_opaque32((float)\($0))" })
            case .f64ConvertI32S: (from, to, make) = (.i32, .f64, { "t_opaque64((double)(int32_t)\($0))" })
            case .f64ConvertI32U: (from, to, make) = (.i32, .f64, { "t_opaque64((double)\($0))" })
            case .f64ConvertI64S: (from, to, make) = (.i64, .f64, { "t_opaque64((double)(int64_t)\($0))" })
            case .f64ConvertI64U: (from, to, make) = (.i64, .f64, { "t_opaque64((double)\($0))" })
            case .f64PromoteF32: (from, to, make) = (.f32, .f64, { "t_opaque64((double)\($0))" })
            case .i32ReinterpretF32: (from, to, make) = (.f32, .i32, { "t_b32(\($0))" })
            case .i64ReinterpretF64: (from, to, make) = (.f64, .i64, { "t_b64(\($0))" })
            case .f32ReinterpretI32: (from, to, make) = (.i32, .f32, { "t_f32c(\($0))" })
            case .f64ReinterpretI64: (from, to, make) = (.i64, .f64, { "t_f64c(\($0))" })
            case .i32TruncSatF32S: (from, to, make) = (.f32, .i32, { "t_i32_trunc_sat_f32_s(\($0))" })
            case .i32TruncSatF32U: (from, to, make) = (.f32, .i32, { "t_i32_trunc_sat_f32_u(\($0))" })
            case .i32TruncSatF64S: (from, to, make) = (.f64, .i32, { "t_i32_trunc_sat_f64_s(\($0))" })
            case .i32TruncSatF64U: (from, to, make) = (.f64, .i32, { "t_i32_trunc_sat_f64_u(\($0))" })
            case .i64TruncSatF32S: (from, to, make) = (.f32, .i64, { "t_i64_trunc_sat_f32_s(\($0))" })
            case .i64TruncSatF32U: (from, to, make) = (.f32, .i64, { "t_i64_trunc_sat_f32_u(\($0))" })
            case .i64TruncSatF64S: (from, to, make) = (.f64, .i64, { "t_i64_trunc_sat_f64_s(\($0))" })
            case .i64TruncSatF64U: (from, to, make) = (.f64, .i64, { "t_i64_trunc_sat_f64_u(\($0))" })
            }
            try apply1(from, to, make)
        }
    }
}

extension CTranslator {
    /// Visits every instruction of a body only to refuse features the engine does not translate.
    struct FeatureScan: AnyInstructionVisitor {
        typealias VisitorError = EnclaveError
        var binaryOffset: Int = 0

        mutating func visit(_ instruction: Instruction) throws(EnclaveError) {
            try FunctionWriter.check(instruction)
        }
    }
}
