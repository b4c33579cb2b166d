import WasmKit
import WasmParser

/// Rewrites a module so that its own code polls the run's deadline.
///
/// WasmKit 0.4.2 cannot be interrupted from another thread, so a run must stop itself. Every
/// module gets an imported host function, `tabula.poll`, and a countdown global; code decrements
/// the countdown by an upper bound of the work it is about to do, and calls the poll when the
/// countdown drops below zero. The poll (``Deadline/poll()``) runs on the thread running the
/// sandbox, reads the clock, and either ends the run by throwing or returns a new countdown.
///
/// The countdown is decremented at three kinds of checkpoint:
/// - on entry to a function, by the instructions of the function outside its loops and by its
///   locals (WasmKit initialises every local at each call: 50,000 locals are a 400 KB copy);
/// - at the head of every loop, where every branch back to the loop lands, by the instructions
///   of the loop body outside its inner loops;
/// - before `memory.copy`, `memory.fill` and `memory.init`, by their length in bytes / 64, read
///   from the operand stack at run time.
///
/// Between checkpoints, code runs forward only, so every instruction executed has been paid for by
/// the checkpoint of its function or loop. A call to a small function without loops or calls
/// (a weight of ``uncheckedSize`` at most, locals included) skips that function's entry
/// checkpoint: the call site pays for the callee's weight instead, and an indirect call pays for
/// the largest such function. An instruction pays for the work WasmKit does for it, not one unit
/// when that work is larger: table bulk operations and growth pay ``bulkTableWeight``, and a
/// `try_table` one unit per catch clause (entering it registers every clause), a `throw`
/// ``payloadWeight`` per value of its payload (copied into the exception, then to the handler's
/// label: a loop that carries 1,000 values as parameters throws and catches them without a
/// single instruction per value) and a `throw_ref` as much as the largest payload.
///
/// A host function's work can depend on its arguments: `fd_write` and `fd_read` walk every
/// iovec they are given (millions per call), `random_get` fills up to the whole memory. So every
/// import is reached through a wrapper the rewrite adds after the module's own functions, which
/// charges ``hostCallWeight`` and what the arguments ask for, then calls the import. Every
/// reference to an import (calls, `ref.func`, table elements, exports) names its wrapper instead,
/// so no indirect call or table can skip the charge. The poll is reached after at most
/// ``reload`` units, a few milliseconds of interpretation, so a run ends within a few
/// milliseconds of its deadline; each checkpoint costs a handful of instructions (about 8 when the
/// countdown is not exhausted), which also count as fuel when the function has a fuel limit.
///
/// The tenant's code cannot reach the countdown or the scratch globals: a module that names a
/// global or function index it does not define is refused, and the added function index (the
/// last import) is never the target of a rewritten call.
struct DeadlineChecks {
    /// Units between two polls: about one instruction, or 64 bytes of bulk memory work, each.
    static let reload: Int64 = 1 << 18
    /// The largest weight (instructions, locals, table work) of a function without an entry
    /// checkpoint.
    static let uncheckedSize = 64
    /// What a table bulk operation or a `memory.grow` / `table.grow` pays (the tables of an
    /// instance hold at most 2^20 elements together).
    static let bulkTableWeight: Int64 = 1 << 16
    /// What a `throw` pays per value of its payload.
    static let payloadWeight: Int64 = 4
    /// What any host call pays: the call into Swift and back.
    static let hostCallWeight: Int64 = 64
    /// Host functions whose work grows with one argument: that argument's index and the shift
    /// (a power of two) of the units per element, checked against Tabula's signatures. An iovec
    /// costs about as much as 16 instructions; a byte of randomness about 32 (one `getrandom`
    /// call per 8 bytes).
    static let argumentWeights: [String: (parameter: UInt32, shift: UInt8)] = [
        "fd_write": (2, 4), "fd_read": (2, 4), "random_get": (1, 5),
    ]
    static let functionSectionID: UInt8 = 3

    static let importModule = "tabula"
    static let importName = "poll"

    /// What the rewrite needs to know of the module as deployed.
    struct Module {
        var typeCount: Int
        var importedFunctions: Int
        var globalCount: Int
        /// Whether the memory (at most one) has 64-bit addresses.
        var memory64: Bool
    }

    /// The module as deployed, with the checks.
    static func instrument(_ binary: WasmBinary, module: Module) throws(EnclaveError) -> WasmBinary {
        let (bodies, imports) = try scan(binary, module: module)
        let checks = DeadlineChecks(module: module, bodies: bodies, imports: imports)
        return try checks.rewrite(binary)
    }

    private let module: Module
    /// The added globals: the countdown (i64), and scratch globals holding a bulk operation's
    /// length while it is charged (i32 and i64).
    private let countdown: UInt32
    private let scratch32: UInt32
    private let scratch64: UInt32
    /// The index of `tabula.poll` (the last import, before every defined function).
    private let poll: UInt32
    /// The module's functions, imported and defined.
    private let functionCount: UInt32
    private let bodies: [Body]
    private let imports: [Import]
    /// The index of the first import's wrapper, after the module's own functions.
    private let wrappers: UInt32

    private init(module: Module, bodies: [Body], imports: [Import]) {
        self.module = module
        self.bodies = bodies
        self.imports = imports
        functionCount = UInt32(module.importedFunctions + bodies.count)
        wrappers = functionCount + 1
        countdown = UInt32(module.globalCount)
        scratch32 = countdown + 1
        scratch64 = countdown + 2
        poll = UInt32(module.importedFunctions)
    }

    private func rewrite(_ binary: WasmBinary) throws(EnclaveError) -> WasmBinary {
        // Each checkpoint adds at most about 32 bytes: refuse a module made of little but loops
        // or bulk operations before the rewrite multiplies its size.
        let edits = bodies.reduce(0) { $0 + $1.edits.count + 1 }
        let size = binary.sections.reduce(0) { $0 + $1.contents.count }
        guard size + 32 * edits + 64 * imports.count <= 2 * ModuleBounds.maxBinaryBytes else {
            throw EnclaveError(.invalidModule, "the module has \(edits) loops, calls, bulk memory operations and functions; with the runtime's deadline checks it would exceed \(FunctionModule.mebibytes(UInt64(2 * ModuleBounds.maxBinaryBytes))). Split the module")
        }
        var out = binary
        for index in out.sections.indices {
            let contents = out.sections[index].contents
            switch out.sections[index].id {
            case WasmBinary.exportSectionID: out.sections[index].contents = try rewriteExports(contents)
            case WasmBinary.startSectionID: out.sections[index].contents = try rewriteStart(contents)
            case WasmBinary.elementSectionID: out.sections[index].contents = try rewriteElements(contents)
            case WasmBinary.globalSectionID: out.sections[index].contents = try rewriteGlobals(contents)
            case WasmBinary.tableSectionID: out.sections[index].contents = try rewriteTables(contents)
            case WasmBinary.codeSectionID: out.sections[index].contents = try rewriteCode(contents, bodies: bodies)
            case WasmBinary.dataSectionID: out.sections[index].contents = try rewriteData(contents)
            default: break
            }
        }
        // `() -> i64`, the poll's type.
        try out.appendEntries(sectionID: WasmBinary.typeSectionID, count: 1, entries: [0x60, 0x00, 0x01, 0x7E])
        var entry: [UInt8] = []
        WasmBinary.appendName(Self.importModule, to: &entry)
        WasmBinary.appendName(Self.importName, to: &entry)
        entry.append(0x00)
        WasmBinary.appendLEB128(UInt64(module.typeCount), to: &entry)
        try out.appendEntries(sectionID: WasmBinary.importSectionID, count: 1, entries: entry)
        var globals: [UInt8] = [0x7E, 0x01, 0x42]
        WasmBinary.appendSignedLEB128(Self.reload, to: &globals)
        globals += [0x0B, 0x7F, 0x01, 0x41, 0x00, 0x0B, 0x7E, 0x01, 0x42, 0x00, 0x0B]
        try out.appendEntries(sectionID: WasmBinary.globalSectionID, count: 3, entries: globals)
        var types: [UInt8] = []
        var code: [UInt8] = []
        for (index, function) in imports.enumerated() {
            WasmBinary.appendLEB128(UInt64(function.type), to: &types)
            let body = wrapper(calling: UInt32(index), function)
            WasmBinary.appendLEB128(UInt64(body.count), to: &code)
            code += body
        }
        try out.appendEntries(sectionID: Self.functionSectionID, count: imports.count, entries: types)
        try out.appendEntries(sectionID: WasmBinary.codeSectionID, count: imports.count, entries: code)
        return out
    }

    /// An imported function as the wrapper needs it.
    struct Import {
        var name: String
        var type: UInt32
        var parameters: [ValueType]
    }

    /// The body of the wrapper of import `index`: charges the call, then passes every argument on
    /// and returns what the import returns.
    private func wrapper(calling index: UInt32, _ function: Import) -> [UInt8] {
        var body: [UInt8] = [0x00]  // no locals
        appendCharge(Self.hostCallWeight, to: &body)
        if let weight = Self.argumentWeights[function.name],
            function.parameters == WASIHost.signatures[function.name]?.parameters
        {
            // countdown -= (u64) argument << shift
            body.append(0x23)
            WasmBinary.appendLEB128(UInt64(countdown), to: &body)
            body.append(0x20)
            WasmBinary.appendLEB128(UInt64(weight.parameter), to: &body)
            body += [0xAD, 0x42, weight.shift, 0x86, 0x7D]  // i64.extend_i32_u, i64.const shift, i64.shl, i64.sub
            appendSetAndPoll(to: &body)
        }
        for parameter in function.parameters.indices {
            body.append(0x20)
            WasmBinary.appendLEB128(UInt64(parameter), to: &body)
        }
        body.append(0x10)
        WasmBinary.appendLEB128(UInt64(index), to: &body)
        body.append(0x0B)
        return body
    }

    // MARK: Function indices outside the code

    /// A defined function's index moves up by one: the poll is imported before it. An import is
    /// named through its wrapper.
    ///
    /// An index the module does not define is refused here, not left to WasmKit: moved up, the
    /// last one would name a function the rewrite added, and 2^32 - 1 would overflow.
    private func shifted(_ function: UInt32) throws(EnclaveError) -> UInt32 {
        guard function < functionCount else {
            throw EnclaveError(.invalidModule, "invalid WebAssembly module: it refers to function \(function), but the module has \(functionCount)")
        }
        return function >= poll ? function + 1 : wrappers + function
    }

    private func rewriteExports(_ contents: [UInt8]) throws(EnclaveError) -> [UInt8] {
        try rewriteEntries(contents) { (reader: inout WasmBinary.Reader, out: inout [UInt8]) throws(EnclaveError) in
            let nameLength = Int(try reader.u32())
            let name = try reader.bytes(count: nameLength)
            WasmBinary.appendLEB128(UInt64(nameLength), to: &out)
            out += name
            let kind = try reader.byte()
            let index = try reader.u32()
            out.append(kind)
            // An export of the countdown would turn an invalid module into one that runs.
            if kind == 0x03 { try checkGlobal(index) }
            WasmBinary.appendLEB128(UInt64(try kind == 0x00 ? shifted(index) : index), to: &out)
        }
    }

    /// Rewrites a section that is a vector of entries, one entry at a time.
    private func rewriteEntries(
        _ contents: [UInt8], _ entry: (inout WasmBinary.Reader, inout [UInt8]) throws(EnclaveError) -> Void
    ) throws(EnclaveError) -> [UInt8] {
        var reader = WasmBinary.Reader(bytes: contents, offset: 0)
        var out: [UInt8] = []
        let count = try reader.u32()
        WasmBinary.appendLEB128(UInt64(count), to: &out)
        for _ in 0..<count { try entry(&reader, &out) }
        return out
    }

    private func rewriteStart(_ contents: [UInt8]) throws(EnclaveError) -> [UInt8] {
        var reader = WasmBinary.Reader(bytes: contents, offset: 0)
        var out: [UInt8] = []
        WasmBinary.appendLEB128(UInt64(try shifted(try reader.u32())), to: &out)
        return out
    }

    private func rewriteElements(_ contents: [UInt8]) throws(EnclaveError) -> [UInt8] {
        try rewriteEntries(contents) { (reader: inout WasmBinary.Reader, out: inout [UInt8]) throws(EnclaveError) in
            let flags = try reader.u32()
            WasmBinary.appendLEB128(UInt64(flags), to: &out)
            guard flags <= 7 else {
                throw EnclaveError(.invalidModule, "malformed WebAssembly module: an element segment has the unknown kind \(flags)")
            }
            // Bit 0: passive or declarative; bit 1: an explicit table (active) or declarative;
            // bit 2: expressions instead of function indices.
            if flags & 0b011 == 0b010 { try copyU32(&reader, to: &out) }
            if flags & 0b001 == 0 { try rewriteConstant(&reader, to: &out) }
            if flags & 0b011 != 0 {
                if flags & 0b100 == 0 { out.append(try reader.byte()) } else { try copyValueType(&reader, to: &out) }
            }
            let items = try reader.u32()
            WasmBinary.appendLEB128(UInt64(items), to: &out)
            for _ in 0..<items {
                if flags & 0b100 == 0 {
                    WasmBinary.appendLEB128(UInt64(try shifted(try reader.u32())), to: &out)
                } else {
                    try rewriteConstant(&reader, to: &out)
                }
            }
        }
    }

    private func rewriteGlobals(_ contents: [UInt8]) throws(EnclaveError) -> [UInt8] {
        try rewriteEntries(contents) { (reader: inout WasmBinary.Reader, out: inout [UInt8]) throws(EnclaveError) in
            try copyValueType(&reader, to: &out)
            out.append(try reader.byte())
            try rewriteConstant(&reader, to: &out)
        }
    }

    private func rewriteTables(_ contents: [UInt8]) throws(EnclaveError) -> [UInt8] {
        try rewriteEntries(contents) { (reader: inout WasmBinary.Reader, out: inout [UInt8]) throws(EnclaveError) in
            // A table with an initialiser starts with 0x40 0x00.
            let initialised = reader.remaining >= 2 && contents[reader.offset] == 0x40
            if initialised {
                out += try reader.bytes(count: 2)
            }
            try copyValueType(&reader, to: &out)
            let flags = try reader.byte()
            out.append(flags)
            try copyLEB(&reader, to: &out)
            if flags & 0x01 != 0 { try copyLEB(&reader, to: &out) }
            if initialised { try rewriteConstant(&reader, to: &out) }
        }
    }

    /// Data segments name no function, but their offsets may name a global.
    private func rewriteData(_ contents: [UInt8]) throws(EnclaveError) -> [UInt8] {
        try rewriteEntries(contents) { (reader: inout WasmBinary.Reader, out: inout [UInt8]) throws(EnclaveError) in
            let flags = try reader.u32()
            WasmBinary.appendLEB128(UInt64(flags), to: &out)
            guard flags <= 2 else {
                throw EnclaveError(.invalidModule, "malformed WebAssembly module: a data segment has the unknown kind \(flags)")
            }
            if flags == 2 { try copyU32(&reader, to: &out) }
            if flags != 1 { try rewriteConstant(&reader, to: &out) }
            let length = Int(try reader.u32())
            WasmBinary.appendLEB128(UInt64(length), to: &out)
            out += try reader.bytes(count: length)
        }
    }

    /// Copies a constant expression up to and with its `end`, shifting `ref.func` indices.
    private func rewriteConstant(_ reader: inout WasmBinary.Reader, to out: inout [UInt8]) throws(EnclaveError) {
        while true {
            let opcode = try reader.byte()
            out.append(opcode)
            switch opcode {
            case 0x0B: return
            case 0x41: try copySigned(&reader, bits: 32, to: &out)
            case 0x42: try copySigned(&reader, bits: 64, to: &out)
            case 0x43: out += try reader.bytes(count: 4)
            case 0x44: out += try reader.bytes(count: 8)
            case 0x23:
                let global = try reader.u32()
                try checkGlobal(global)
                WasmBinary.appendLEB128(UInt64(global), to: &out)
            case 0xD0: try copySigned(&reader, bits: 33, to: &out)
            case 0xD2: WasmBinary.appendLEB128(UInt64(try shifted(try reader.u32())), to: &out)
            case 0x6A, 0x6B, 0x6C, 0x7C, 0x7D, 0x7E: break
            case 0xFD:
                let sub = try reader.u32()
                guard sub == 12 else { throw Self.unsupportedConstant("0xFD \(sub)") }
                WasmBinary.appendLEB128(UInt64(sub), to: &out)
                out += try reader.bytes(count: 16)
            default:
                throw Self.unsupportedConstant("0x" + String(opcode, radix: 16))
            }
        }
    }

    private static func unsupportedConstant(_ opcode: String) -> EnclaveError {
        EnclaveError(.invalidModule, "the module has the instruction \(opcode) in a constant expression; Tabula accepts numeric constants, global.get, ref.null, ref.func and the extended-const arithmetic there")
    }

    private func checkGlobal(_ global: UInt32) throws(EnclaveError) {
        guard global < countdown else {
            throw EnclaveError(.invalidModule, "invalid WebAssembly module: the code refers to global \(global), but the module defines \(module.globalCount)")
        }
    }

    /// A value or reference type: one byte, or `ref`/`ref null` and a heap type.
    private func copyValueType(_ reader: inout WasmBinary.Reader, to out: inout [UInt8]) throws(EnclaveError) {
        let type = try reader.byte()
        out.append(type)
        if type == 0x63 || type == 0x64 { try copySigned(&reader, bits: 33, to: &out) }
    }

    private func copyU32(_ reader: inout WasmBinary.Reader, to out: inout [UInt8]) throws(EnclaveError) {
        WasmBinary.appendLEB128(UInt64(try reader.u32()), to: &out)
    }

    private func copyLEB(_ reader: inout WasmBinary.Reader, to out: inout [UInt8]) throws(EnclaveError) {
        WasmBinary.appendLEB128(try reader.leb128(), to: &out)
    }

    private func copySigned(_ reader: inout WasmBinary.Reader, bits: UInt64, to out: inout [UInt8]) throws(EnclaveError) {
        let start = reader.offset
        try reader.skipSigned(bits: bits)
        out += reader.bytes[start..<reader.offset]
    }

    // MARK: Code

    /// One function body as the first pass saw it.
    private struct Body {
        /// Where its instructions start and end in the module's bytes.
        var expression: Range<Int>
        /// Whether it has a loop or a call of any kind, or weighs more than ``uncheckedSize``: it
        /// then needs its entry checkpoint.
        var checked = false
        /// The rewrites, in order of position.
        var edits: [Edit] = []
        /// The weight of the function's own region (index 0, with its locals) and of each loop's
        /// (in order). A function without loops or calls has only its own: its whole weight.
        var weights: [Int64] = [0]
        /// Direct calls by region, to add the cost of unchecked callees once all are known.
        var calls: [(region: Int, function: UInt32)] = []
    }

    private enum Edit {
        /// A loop instruction ending at `end`; its checkpoint goes right after it.
        case loop(end: Int, region: Int)
        /// A function index to shift, at `range` (a call, tail call or `ref.func` immediate).
        case function(range: Range<Int>, index: UInt32)
        /// A bulk memory instruction at `start`, whose length operand (of 64 bits when `wide`)
        /// is charged before it.
        case bulk(start: Int, wide: Bool)
    }

    /// The first pass: every body's layout, weights and edits.
    private static func scan(_ binary: WasmBinary, module: Module) throws(EnclaveError) -> ([Body], [Import]) {
        var bodies: [Body] = []
        /// The parameters of each type that is a function type.
        var types: [[ValueType]?] = []
        var imports: [Import] = []
        /// The payload size of each tag.
        var tags: [Int64] = []
        var parser = WasmParser.Parser(bytes: binary.bytes)
        do {
            while let payload = try parser.parseNext() {
                switch payload {
                case .typeSection(let groups):
                    for group in groups {
                        for type in group.types {
                            if case .function(let signature) = type.body { types.append(signature.parameters) } else { types.append(nil) }
                        }
                    }
                case .importSection(let entries):
                    for entry in entries {
                        guard case .function(let type) = entry.descriptor else {
                            throw EnclaveError(.unsupportedImport, "the module imports \(entry.module).\(entry.name); functions may import only \(WASIHost.moduleName) functions")
                        }
                        guard Int(type) < types.count, let parameters = types[Int(type)] else {
                            throw EnclaveError(.invalidModule, "invalid WebAssembly module: the import \(entry.module).\(entry.name) has type \(type), which is not a function type")
                        }
                        imports.append(Import(name: entry.name, type: type, parameters: parameters))
                    }
                case .tagSection(let entries):
                    // A tag of another type is refused by WasmKit's validation.
                    tags += entries.map { Int(exactly: $0.type).flatMap { $0 < types.count ? types[$0] : nil }.map { Int64($0.count) } ?? 0 }
                default:
                    break
                }
                guard case .codeSection(let codes) = payload else { continue }
                for code in codes {
                    var expression = ExpressionParser(code: code)
                    var visitor = BodyScan(module: module, tags: tags)
                    while let instruction = try expression.parse() {
                        try instruction(visitor: &visitor)
                        visitor.finish(end: expression.offset)
                    }
                    var body = visitor.body
                    body.expression = code.expression.startIndex..<code.expression.endIndex
                    // Each call copies the locals' initial values into the new frame (v128s take
                    // two 8-byte slots): charged at entry, or at the call site of a small function.
                    body.weights[0] += code.locals.reduce(0) { $0 + ($1 == .v128 ? 2 : 1) }
                    if body.weights[0] > Int64(uncheckedSize) { body.checked = true }
                    bodies.append(body)
                }
            }
        } catch let error as EnclaveError {
            throw error
        } catch {
            throw EnclaveError(.invalidModule, "invalid WebAssembly module: \(error)")
        }
        guard imports.count == module.importedFunctions else {
            throw EnclaveError(.invalidModule, "malformed WebAssembly module: the imports could not be read consistently")
        }
        // Calls to small functions without loops or calls pay for the callee at the call site:
        // its whole weight, which no call can change (it makes none).
        let first = module.importedFunctions
        for index in bodies.indices {
            for call in bodies[index].calls where Int(call.function) >= first {
                let callee = Int(call.function) - first
                guard callee < bodies.count, !bodies[callee].checked else { continue }
                bodies[index].weights[call.region] += bodies[callee].weights[0]
            }
        }
        return (bodies, imports)
    }

    private func rewriteCode(_ contents: [UInt8], bodies: [Body]) throws(EnclaveError) -> [UInt8] {
        // The section's offset in the module's bytes, to map the parser's offsets into it.
        var reader = WasmBinary.Reader(bytes: contents, offset: 0)
        let count = Int(try reader.u32())
        guard count == bodies.count else {
            throw EnclaveError(.invalidModule, "malformed WebAssembly module: the code section could not be read consistently")
        }
        var out: [UInt8] = []
        WasmBinary.appendLEB128(UInt64(count), to: &out)
        guard let firstBody = bodies.first else { return out }
        // Positions in `contents` are module positions minus `base`.
        var probe = reader
        let size = Int(try probe.u32())
        let localsLength = try Self.localsLength(contents, from: probe.offset, size: size)
        let base = firstBody.expression.lowerBound - (probe.offset + localsLength)
        for body in bodies {
            let size = Int(try reader.u32())
            let start = reader.offset
            try reader.skip(size)
            let expressionStart = body.expression.lowerBound - base
            guard expressionStart >= start, body.expression.upperBound - base == start + size else {
                throw EnclaveError(.invalidModule, "malformed WebAssembly module: the code section could not be read consistently")
            }
            var rewritten = Array(contents[start..<expressionStart])
            if body.checked { appendCharge(body.weights[0], to: &rewritten) }
            var cursor = expressionStart
            for edit in body.edits {
                switch edit {
                case .loop(let end, let region):
                    rewritten += contents[cursor..<end - base]
                    appendCharge(body.weights[region], to: &rewritten)
                    cursor = end - base
                case .function(let range, let index):
                    rewritten += contents[cursor..<range.lowerBound - base]
                    WasmBinary.appendLEB128(UInt64(try shifted(index)), to: &rewritten)
                    cursor = range.upperBound - base
                case .bulk(let at, let wide):
                    rewritten += contents[cursor..<at - base]
                    appendBulkCharge(wide: wide, to: &rewritten)
                    cursor = at - base
                }
            }
            rewritten += contents[cursor..<start + size]
            WasmBinary.appendLEB128(UInt64(rewritten.count), to: &out)
            out += rewritten
        }
        return out
    }

    /// The length of a body's local declarations.
    private static func localsLength(_ contents: [UInt8], from start: Int, size: Int) throws(EnclaveError) -> Int {
        var reader = WasmBinary.Reader(bytes: contents, offset: start)
        let groups = try reader.u32()
        for _ in 0..<groups {
            _ = try reader.u32()
            let type = try reader.byte()
            if type == 0x63 || type == 0x64 { try reader.skipSigned(bits: 33) }
        }
        return reader.offset - start
    }

    /// `countdown -= weight`, then the poll if it went below zero.
    private func appendCharge(_ weight: Int64, to out: inout [UInt8]) {
        out.append(0x23)
        WasmBinary.appendLEB128(UInt64(countdown), to: &out)
        out.append(0x42)
        WasmBinary.appendSignedLEB128(min(weight, Self.reload), to: &out)
        out.append(0x7D)  // i64.sub
        appendSetAndPoll(to: &out)
    }

    /// `countdown -= length / 64` for the length on top of the stack, left in place; then the
    /// poll if the countdown went below zero.
    private func appendBulkCharge(wide: Bool, to out: inout [UInt8]) {
        let scratch = wide ? scratch64 : scratch32
        out.append(0x24)
        WasmBinary.appendLEB128(UInt64(scratch), to: &out)
        out.append(0x23)
        WasmBinary.appendLEB128(UInt64(scratch), to: &out)
        out.append(0x23)
        WasmBinary.appendLEB128(UInt64(countdown), to: &out)
        out.append(0x23)
        WasmBinary.appendLEB128(UInt64(scratch), to: &out)
        if !wide { out.append(0xAD) }  // i64.extend_i32_u
        out += [0x42, 0x06, 0x88, 0x7D]  // i64.const 6, i64.shr_u, i64.sub
        appendSetAndPoll(to: &out)
    }

    /// Stores the decremented countdown, and calls the poll (which returns the next countdown)
    /// when it is below zero.
    private func appendSetAndPoll(to out: inout [UInt8]) {
        out.append(0x24)
        WasmBinary.appendLEB128(UInt64(countdown), to: &out)
        out.append(0x23)
        WasmBinary.appendLEB128(UInt64(countdown), to: &out)
        out += [0x42, 0x00, 0x53, 0x04, 0x40, 0x10]  // i64.const 0, i64.lt_s, if, call
        WasmBinary.appendLEB128(UInt64(poll), to: &out)
        out.append(0x24)
        WasmBinary.appendLEB128(UInt64(countdown), to: &out)
        out.append(0x0B)
    }

    /// Collects one body's weights and edits.
    private struct BodyScan: InstructionVisitor {
        typealias VisitorError = EnclaveError
        var binaryOffset: Int = 0
        let module: Module
        var body = Body(expression: 0..<0)
        /// The open blocks: whether each is a loop.
        private var blocks: [Bool] = []
        /// The regions of the open loops, innermost last.
        private var loops: [Int] = []
        /// What the instruction just visited needs once its end is known.
        private var pending: Pending = .none
        private var weight: Int64 = 1

        private enum Pending {
            case none
            case loop(region: Int)
            case function(UInt32)
        }

        /// The payload size of each tag, and the largest.
        let tags: [Int64]
        let largestPayload: Int64

        init(module: Module, tags: [Int64]) {
            self.module = module
            self.tags = tags
            largestPayload = tags.max() ?? 0
        }

        /// The region paying for the instruction: the innermost loop's, or the function's.
        private var region: Int { loops.last ?? 0 }

        /// Called after each instruction with the offset where it ends.
        mutating func finish(end: Int) {
            body.weights[region] += weight
            weight = 1
            switch pending {
            case .none: break
            case .loop(let region):
                body.edits.append(.loop(end: end, region: region))
                body.weights.append(0)
                blocks.append(true)
                loops.append(region)
            case .function(let index):
                // The opcode is one byte; the index follows it.
                body.edits.append(.function(range: binaryOffset + 1..<end, index: index))
            }
            pending = .none
        }

        mutating func visitBlock(blockType: BlockType) { blocks.append(false) }
        mutating func visitIf(blockType: BlockType) { blocks.append(false) }
        /// Entering a `try_table` registers each of its catch clauses (up to 10,000), one by one.
        mutating func visitTryTable(blockType: BlockType, tryCatch: TryCatch) {
            blocks.append(false)
            weight += Int64(tryCatch.catches.count)
        }
        mutating func visitThrow(tagIndex: UInt32) {
            weight += DeadlineChecks.payloadWeight * (Int(tagIndex) < tags.count ? tags[Int(tagIndex)] : 0)
        }
        mutating func visitThrowRef() {
            weight += DeadlineChecks.payloadWeight * largestPayload
        }
        mutating func visitLoop(blockType: BlockType) {
            body.checked = true
            pending = .loop(region: body.weights.count)
        }
        mutating func visitEnd() {
            if blocks.popLast() == true { loops.removeLast() }
        }

        private mutating func call(_ function: UInt32) throws(EnclaveError) {
            body.checked = true
            body.calls.append((region, function))
            pending = .function(function)
        }

        mutating func visitCall(functionIndex: UInt32) throws(EnclaveError) { try call(functionIndex) }
        mutating func visitReturnCall(functionIndex: UInt32) throws(EnclaveError) { try call(functionIndex) }
        mutating func visitRefFunc(functionIndex: UInt32) {
            pending = .function(functionIndex)
        }
        private mutating func indirectCall() {
            body.checked = true
            weight += Int64(DeadlineChecks.uncheckedSize)
        }
        mutating func visitCallIndirect(typeIndex: UInt32, tableIndex: UInt32) { indirectCall() }
        mutating func visitReturnCallIndirect(typeIndex: UInt32, tableIndex: UInt32) { indirectCall() }
        mutating func visitCallRef(typeIndex: UInt32) { indirectCall() }
        mutating func visitReturnCallRef(typeIndex: UInt32) { indirectCall() }

        private func checkGlobal(_ index: UInt32) throws(EnclaveError) {
            guard index < module.globalCount else {
                throw EnclaveError(.invalidModule, "invalid WebAssembly module: the code refers to global \(index), but the module defines \(module.globalCount)")
            }
        }
        mutating func visitGlobalGet(globalIndex: UInt32) throws(EnclaveError) { try checkGlobal(globalIndex) }
        mutating func visitGlobalSet(globalIndex: UInt32) throws(EnclaveError) { try checkGlobal(globalIndex) }

        private mutating func bulk(wide: Bool) {
            body.checked = true
            body.edits.append(.bulk(start: binaryOffset, wide: wide))
        }
        mutating func visitMemoryCopy(dstMem: UInt32, srcMem: UInt32) { bulk(wide: module.memory64) }
        mutating func visitMemoryFill(memory: UInt32) { bulk(wide: module.memory64) }
        mutating func visitMemoryInit(dataIndex: UInt32, memory: UInt32) { bulk(wide: false) }
        mutating func visitMemoryGrow(memory: UInt32) { weight += DeadlineChecks.bulkTableWeight }
        mutating func visitTableGrow(table: UInt32) { weight += DeadlineChecks.bulkTableWeight }
        mutating func visitTableFill(table: UInt32) { weight += DeadlineChecks.bulkTableWeight }
        mutating func visitTableCopy(dstTable: UInt32, srcTable: UInt32) { weight += DeadlineChecks.bulkTableWeight }
        mutating func visitTableInit(elemIndex: UInt32, table: UInt32) { weight += DeadlineChecks.bulkTableWeight }
    }
}
