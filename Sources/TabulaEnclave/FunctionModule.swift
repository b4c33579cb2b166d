import Crypto
import WAT
@_spi(Fuzzing) import WasmKit
import WasmParser

/// A function's WebAssembly module: checked, instrumented for snapshots and deadlines, and parsed
/// once.
///
/// Loading first checks the bytes against ``ModuleBounds``, so that no hostile size, count or
/// nesting reaches WasmKit's parsers. It refuses what the sandbox cannot run faithfully: imports
/// outside the WASI subset, more than one memory, shared memory, and a missing entry point. The
/// module is then rewritten: its code polls the run's deadline (``DeadlineChecks``), and it
/// exports its mutable globals and its memory under reserved `tabula:` names, because WasmKit's
/// API reaches only exported state and the snapshot must restore all of it.
package struct FunctionModule: Sendable {
    /// How the module runs an invocation.
    package enum Kind: String, Sendable {
        /// Exports `_start`, run once per invocation from the snapshot.
        case command
        /// Exports `_initialize` (run once, before the snapshot) and the entry named by `main`.
        case reactor
    }

    /// SHA-256 of the bytes as deployed (`.wasm` or `.wat` file contents).
    package let digest: [UInt8]
    package let kind: Kind
    /// The export called for each invocation.
    package let entry: String
    package let exportsInitialize: Bool
    package let exportsWizerInitialize: Bool
    /// Whether the module has a start function, which WasmKit runs as part of instantiation.
    let hasStartFunction: Bool
    /// Set when the code can change state that WasmKit cannot restore in place (tables, dropped
    /// segments); the sandbox then rebuilds after every invocation. Holds the reason.
    package let rebuildReason: String?
    /// The module after instrumentation, parsed and validated by WasmKit.
    let module: WasmKit.Module
    /// Exported names of the module's mutable globals, in index order.
    let mutableGlobalExports: [String]
    let memoryExport: String?
    /// The WASI functions the module imports.
    let wasiImports: [String]
    let initialMemoryBytes: UInt64
    /// How many tables the module defines (it may import none): the memory limiter counts their
    /// elements.
    let tableCount: Int
    /// The module after instrumentation, as bytes: what the native engine translates.
    package let instrumentedBytes: [UInt8]
    /// The mutable globals the snapshot holds: their indices and value types, in index order
    /// (the same ones ``mutableGlobalExports`` names).
    let mutableGlobals: [(index: Int, type: ValueType)]
    /// The countdown global ``DeadlineChecks`` adds: the native engine meters fuel through it.
    let countdownGlobal: Int
    /// The function index of the `tabula.poll` import (the last import).
    let pollFunction: Int
    /// Function indices of the exports an invocation or initialisation calls.
    let entryFunction: UInt32?
    let initializeFunction: UInt32?
    let wizerInitializeFunction: UInt32?
    /// The entry's type, for the native engine's check (WasmKit checks its own instance's).
    let entryType: FunctionType?

    static let reservedPrefix = "tabula:"
    static let memoryExportName = "tabula:memory"

    /// Loads a module from a `.wasm` binary or `.wat` text.
    ///
    /// - Parameter main: the reactor entry to call per invocation; ignored for command modules.
    package init(bytes: [UInt8], main: String = "main", memoryLimit: Int) throws(EnclaveError) {
        self.digest = Array(SHA256.hash(data: bytes))
        let binary = try Self.binary(from: bytes)
        try ModuleBounds.check(binary)
        let analysis = try ModuleAnalysis(binary: binary)

        for (module, name) in analysis.functionImports {
            guard module == WASIHost.moduleName else {
                throw EnclaveError(.unsupportedImport, "the module imports \(module).\(name), but functions may import only the \(WASIHost.moduleName) subset Tabula provides; remove the import or build for WASI preview 1")
            }
            guard let signature = WASIHost.signatures[name] else {
                throw EnclaveError(.unsupportedImport, "the module imports \(module).\(name), which is not a \(WASIHost.moduleName) function Tabula knows")
            }
            // The host reads the arguments the signature names: a module declaring fewer would have
            // it read past what the call passed.
            if let declared = analysis.importTypes[module + "." + name], declared.parameters != signature.parameters || declared.results != signature.results {
                throw EnclaveError(.unsupportedImport, "the module imports \(module).\(name) with the type \(declared.parameters) -> \(declared.results), but it is \(signature.parameters) -> \(signature.results); build against wasi_snapshot_preview1's signatures")
            }
        }
        if let other = analysis.otherImport {
            throw EnclaveError(.unsupportedImport, "the module imports \(other); functions may import only \(WASIHost.moduleName) functions (no memories, tables or globals)")
        }
        guard analysis.memories.count <= 1 else {
            throw EnclaveError(.invalidModule, "the module defines \(analysis.memories.count) memories; Tabula runs modules with at most one memory")
        }
        // Tables count toward the memory limit, as the sandbox's memory limiter counts them.
        let (tableBytes, tableOverflow) = analysis.tableMinimumElements.multipliedReportingOverflow(by: UInt64(MemoryLimiter.tableElementBytes))
        if let memory = analysis.memories.first {
            guard !memory.shared else {
                throw EnclaveError(.invalidModule, "the module defines a shared memory; threads are not supported, build without them")
            }
            guard memory.minimumBytes <= UInt64(memoryLimit) else {
                throw EnclaveError(.limitExceeded, "the module's initial memory is \(Self.mebibytes(memory.minimumBytes)) but the function's memory limit is \(Self.mebibytes(UInt64(memoryLimit))); raise the limit or shrink the module's memory")
            }
        }
        let (initialBytes, initialOverflow) = (analysis.memories.first?.minimumBytes ?? 0).addingReportingOverflow(tableBytes)
        guard tableBytes == 0 || (!tableOverflow && !initialOverflow && initialBytes <= UInt64(memoryLimit)) else {
            throw EnclaveError(.limitExceeded, "the module's initial memory and tables take \(Self.mebibytes(initialBytes)) (\(MemoryLimiter.tableElementBytes) bytes per table element) but the function's memory limit is \(Self.mebibytes(UInt64(memoryLimit))); raise the limit or shrink the module's memory or tables")
        }
        if let reserved = analysis.exportNames.first(where: { $0.hasPrefix(Self.reservedPrefix) }) {
            throw EnclaveError(.invalidModule, "the module exports \"\(reserved)\"; names starting with \"\(Self.reservedPrefix)\" are reserved for the runtime")
        }

        let exports = Set(analysis.exportNames)
        self.exportsInitialize = exports.contains("_initialize")
        self.exportsWizerInitialize = exports.contains("wizer.initialize")
        if exports.contains("_start") && !exportsInitialize {
            self.kind = .command
            self.entry = "_start"
        } else {
            self.kind = .reactor
            self.entry = main
            guard exports.contains(main) else {
                let known = analysis.exportNames.filter { !$0.hasPrefix(Self.reservedPrefix) }.sorted()
                throw EnclaveError(.invalidEntryPoint, "the module exports neither _start (a command) nor the entry \"\(main)\" (a reactor); its exports are: \(known.isEmpty ? "none" : known.joined(separator: ", ")). Set main to the exported function to call")
            }
        }
        self.rebuildReason = analysis.rebuildReason
        self.hasStartFunction = analysis.hasStartFunction
        self.wasiImports = analysis.functionImports.map(\.1)
        self.initialMemoryBytes = analysis.memories.first?.minimumBytes ?? 0
        self.tableCount = analysis.tableCount
        self.countdownGlobal = analysis.globals.count
        self.pollFunction = analysis.functionImports.count
        self.mutableGlobals = analysis.globals.enumerated().filter { $0.element.mutability == .variable }.map { ($0.offset, $0.element.valueType) }

        // Export what the snapshot must reach.
        var entries: [UInt8] = []
        var globals: [String] = []
        for (index, global) in analysis.globals.enumerated() where global.mutability == .variable {
            let name = "\(Self.reservedPrefix)global:\(index)"
            WasmBinary.appendName(name, to: &entries)
            entries.append(0x03)
            WasmBinary.appendLEB128(UInt64(index), to: &entries)
            globals.append(name)
        }
        if !analysis.memories.isEmpty {
            WasmBinary.appendName(Self.memoryExportName, to: &entries)
            entries.append(0x02)
            entries.append(0x00)
        }
        var rewritten = try DeadlineChecks.instrument(binary, module: DeadlineChecks.Module(
            typeCount: analysis.typeCount, importedFunctions: analysis.functionImports.count,
            globalCount: analysis.globals.count, memory64: analysis.memories.first?.memory64 ?? false))
        // Custom sections go: nothing in the runtime needs them, and WasmKit parses a "name"
        // section lazily at the first trap without checking its function indices (an index out
        // of range crashed the process). The digest stays that of the bytes as deployed.
        rewritten.sections.removeAll { $0.id == WasmBinary.customSectionID }
        try rewritten.appendEntries(sectionID: WasmBinary.exportSectionID, count: globals.count + (analysis.memories.isEmpty ? 0 : 1), entries: entries)
        self.mutableGlobalExports = globals
        self.memoryExport = analysis.memories.isEmpty ? nil : Self.memoryExportName
        self.instrumentedBytes = rewritten.bytes
        // Defined functions shift by one in the rewrite (the poll is an added import).
        func rewrittenIndex(_ name: String) -> UInt32? {
            guard let index = analysis.exportedFunctions[name] else { return nil }
            return index >= UInt32(analysis.functionImports.count) ? index + 1 : index
        }
        self.entryFunction = rewrittenIndex(entry)
        self.initializeFunction = rewrittenIndex("_initialize")
        self.wizerInitializeFunction = rewrittenIndex("wizer.initialize")
        let parsed: WasmKit.Module
        do {
            parsed = try parseWasm(bytes: rewritten.bytes)
        } catch {
            throw EnclaveError(.invalidModule, "invalid WebAssembly module: \(error)")
        }
        self.module = parsed
        self.entryType = analysis.exportedFunctions[entry].flatMap { analysis.typeIndex(of: $0) }.flatMap { parsed.functionType(at: $0) }
    }

    /// Validates every function body (WasmKit's parser checks a body only when an engine compiles
    /// it): the native engine, which never compiles with WasmKit, calls this before it translates,
    /// so that it never runs code the interpreter would refuse (a `global.set` of an immutable
    /// global, say). WasmKit compiles every body eagerly in a throw-away instance whose start
    /// function is dropped, so nothing of the module runs.
    func validateBodies() throws(EnclaveError) {
        var module = self.module
        module.dropStartFunction()
        let store = Store(engine: Engine(configuration: EngineConfiguration(compilationMode: .eager)))
        var imports = WASIHost().imports(wasiImports, store: store)
        Deadline().define(in: &imports, store: store)
        do {
            _ = try module.instantiate(store: store, imports: imports)
        } catch {
            throw EnclaveError(.invalidModule, "invalid WebAssembly module: \(Termination.reason(of: error))")
        }
    }

    /// The binary form: the bytes themselves, or WAT text compiled by WasmKit's parser.
    private static func binary(from bytes: [UInt8]) throws(EnclaveError) -> WasmBinary {
        if bytes.starts(with: [0x00, 0x61, 0x73, 0x6D]) {
            return try WasmBinary(bytes: bytes)
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw EnclaveError(.invalidModule, "the module is neither a WebAssembly binary (no \\0asm magic number) nor UTF-8 WAT text")
        }
        let trimmed = text.drop { $0.isWhitespace }
        guard trimmed.hasPrefix("(") || trimmed.hasPrefix(";;") else {
            throw EnclaveError(.invalidModule, "the module is neither a WebAssembly binary (no \\0asm magic number) nor WAT text (which starts with \"(module\")")
        }
        try ModuleBounds.checkText(bytes)
        do {
            return try WasmBinary(bytes: try wat2wasm(text))
        } catch let error as EnclaveError {
            throw error
        } catch {
            throw EnclaveError(.invalidModule, "invalid WAT text: \(error)")
        }
    }

    static func mebibytes(_ bytes: UInt64) -> String {
        bytes % (1 << 20) == 0 ? "\(bytes >> 20) MiB" : "\(bytes) bytes"
    }
}

/// What loading needs to know about a module, read with WasmKit's parser.
private struct ModuleAnalysis {
    struct MemoryInfo {
        var minimumBytes: UInt64
        var shared: Bool
        var memory64: Bool
    }

    var typeCount = 0

    var functionImports: [(String, String)] = []
    var otherImport: String?
    var memories: [MemoryInfo] = []
    var tableCount = 0
    /// The tables' elements at instantiation, together.
    var tableMinimumElements: UInt64 = 0
    var globals: [GlobalType] = []
    var exportNames: [String] = []
    /// Exported functions by name, with their indices in the module as deployed.
    var exportedFunctions: [String: UInt32] = [:]
    /// The type index of every function, imported ones first.
    var functionTypeIndices: [UInt32] = []
    /// Function types by type index (`nil` for other composite types).
    var types: [FunctionType?] = []
    /// The declared type of each imported function, by "module.name".
    var importTypes: [String: FunctionType] = [:]
    var rebuildReason: String?
    var hasStartFunction = false

    init(binary: WasmBinary) throws(EnclaveError) {
        var parser = WasmParser.Parser(bytes: binary.bytes)
        do {
            while let payload = try parser.parseNext() {
                switch payload {
                case .typeSection(let groups):
                    typeCount += groups.reduce(0) { $0 + $1.types.count }
                    for group in groups {
                        for type in group.types {
                            if case .function(let function) = type.body { types.append(function) } else { types.append(nil) }
                        }
                    }
                case .importSection(let imports):
                    for entry in imports {
                        switch entry.descriptor {
                        case .function(let type):
                            functionImports.append((entry.module, entry.name))
                            functionTypeIndices.append(type)
                            if Int(type) < types.count, let function = types[Int(type)] { importTypes[entry.module + "." + entry.name] = function }
                        default: otherImport = otherImport ?? "\(entry.module).\(entry.name)"
                        }
                    }
                case .memorySection(let types):
                    memories += types.map { memory in
                        // A memory64 minimum can exceed what 64 bits of bytes hold: saturate, so
                        // that the memory limit refuses it.
                        let (bytes, overflow) = memory.type.min.multipliedReportingOverflow(by: 65536)
                        return MemoryInfo(minimumBytes: overflow ? .max : bytes, shared: memory.type.shared, memory64: memory.type.isMemory64)
                    }
                case .tableSection(let tables):
                    tableCount += tables.count
                    for table in tables {
                        // Saturating: a table with an initialiser is not bounded by ModuleBounds.
                        let (sum, overflow) = tableMinimumElements.addingReportingOverflow(table.type.limits.min)
                        tableMinimumElements = overflow ? .max : sum
                    }
                case .functionSection(let types):
                    functionTypeIndices += types
                case .globalSection(let entries):
                    globals += entries.map(\.type)
                case .exportSection(let exports):
                    exportNames = exports.map(\.name)
                    for export in exports {
                        if case .function(let index) = export.descriptor { exportedFunctions[export.name] = index }
                    }
                case .startSection:
                    hasStartFunction = true
                case .codeSection(let bodies):
                    var scan = StateScan()
                    for (index, body) in bodies.enumerated() {
                        var expression = ExpressionParser(code: body)
                        var bounds = ModuleBounds.CodeBounds(function: index)
                        while let instruction = try expression.parse() {
                            instruction(visitor: &scan)
                            try instruction(visitor: &bounds)
                        }
                    }
                    rebuildReason = scan.reason
                default:
                    break
                }
            }
        } catch let error as EnclaveError {
            throw error
        } catch {
            throw EnclaveError(.invalidModule, "invalid WebAssembly module: \(error)")
        }
    }
}

extension ModuleAnalysis {
    func typeIndex(of function: UInt32) -> UInt32? {
        Int(function) < functionTypeIndices.count ? functionTypeIndices[Int(function)] : nil
    }
}

/// Finds instructions whose effects the runtime cannot undo in place: writes to tables and drops
/// of data or element segments.
private struct StateScan: InstructionVisitor {
    typealias VisitorError = Never
    var binaryOffset: Int = 0
    var reason: String?

    private mutating func note(_ instruction: String) {
        if reason == nil { reason = "the module uses \(instruction)" }
    }

    mutating func visitDataDrop(dataIndex: UInt32) { note("data.drop") }
    mutating func visitElemDrop(elemIndex: UInt32) { note("elem.drop") }
    mutating func visitTableSet(table: UInt32) { note("table.set") }
    mutating func visitTableGrow(table: UInt32) { note("table.grow") }
    mutating func visitTableFill(table: UInt32) { note("table.fill") }
    mutating func visitTableCopy(dstTable: UInt32, srcTable: UInt32) { note("table.copy") }
    mutating func visitTableInit(elemIndex: UInt32, table: UInt32) { note("table.init") }
}
