import WasmKit
import WasmParser

extension CTranslator {
    /// What the translation needs of a module, read with WasmKit's parser, with every feature the
    /// native engine does not translate refused on the way.
    struct Module {
        /// The deadline countdown, kept in a local by every function (see ``CTranslator/translate(_:countdownGlobal:)``).
        var countdown: UInt32?
        /// Function types by type index; `nil` for a type this engine refuses if used.
        var types: [FunctionType?] = []
        /// Type index -> canonical id (an index in ``canonicalTypes``); -1 for a non-function type.
        var canonical: [Int] = []
        var canonicalTypes: [FunctionType] = []
        /// The type index of each imported function, then of each defined one.
        var functionTypeIndices: [UInt32] = []
        var importCount = 0
        var tables: [TableType] = []
        var memory: WasmParser.Limits?
        var globals: [WasmParser.Global] = []
        var exports: [Export] = []
        var start: UInt32?
        var elements: [ElementSegment] = []
        var data: [DataSegment] = []
        var codes: [Code] = []

        init(bytes: [UInt8]) throws(EnclaveError) {
            // Every feature parses, so that a refusal can name the feature instead of failing to parse.
            var parser = Parser(bytes: bytes, features: .all)
            var memories = 0
            do {
                while let payload = try parser.parseNext() {
                    switch payload {
                    case .header, .customSection, .dataCount:
                        break
                    case .typeSection(let groups):
                        try readTypes(groups)
                    case .importSection(let imports):
                        for entry in imports {
                            switch entry.descriptor {
                            case .function(let type):
                                guard functionTypeIndices.count == importCount else { throw malformed("an import after the function section") }
                                functionTypeIndices.append(type)
                                importCount += 1
                            case .tag: throw unsupported("exceptions", "an imported tag")
                            default: throw unsupported("imported memories, tables or globals", "an import")
                            }
                        }
                    case .functionSection(let indices):
                        functionTypeIndices += indices
                    case .tableSection(let tables):
                        for table in tables {
                            try Self.checkTable(table.type)
                            guard table.initializer == nil else {
                                throw unsupported("typed function references and GC", "a table with an initializer")
                            }
                            self.tables.append(table.type)
                        }
                    case .memorySection(let entries):
                        for entry in entries {
                            memories += 1
                            guard memories == 1 else { throw unsupported("multiple memories", "a second memory") }
                            guard !entry.type.isMemory64 else { throw unsupported("memory64", "a 64-bit memory") }
                            guard !entry.type.shared else { throw unsupported("threads", "a shared memory") }
                            memory = entry.type
                        }
                    case .globalSection(let globals):
                        for global in globals {
                            try checkValueType(global.type.valueType, "global")
                            self.globals.append(global)
                        }
                    case .tagSection:
                        throw unsupported("exceptions", "the tag section")
                    case .exportSection(let exports):
                        for export in exports {
                            if case .tag = export.descriptor { throw unsupported("exceptions", "an exported tag") }
                        }
                        self.exports = exports
                    case .startSection(let function):
                        start = function
                    case .elementSection(let segments):
                        for segment in segments {
                            guard segment.type.heapType == .funcRef else {
                                throw unsupported(feature(of: segment.type), "an element segment")
                            }
                        }
                        elements = segments
                    case .codeSection(let codes):
                        self.codes = codes
                    case .dataSection(let segments):
                        data = segments
                    }
                }
            } catch let error as EnclaveError {
                throw error
            } catch {
                throw malformed("\(error)")
            }
            guard functionTypeIndices.count == importCount + codes.count else {
                throw malformed("\(functionTypeIndices.count - importCount) functions declared, \(codes.count) bodies")
            }
            for index in functionTypeIndices.indices {
                let function = try functionType(UInt32(index))
                for parameter in function.parameters { try checkValueType(parameter, "parameter of function \(index)") }
                for result in function.results { try checkValueType(result, "result of function \(index)") }
            }
            if let start {
                let type = try functionType(start)
                guard type.parameters.isEmpty, type.results.isEmpty else { throw malformed("the start function takes or returns values") }
            }
        }

        private mutating func readTypes(_ groups: [RecursiveGroup]) throws(EnclaveError) {
            for group in groups {
                let gc = group.types.count != 1
                for subtype in group.types {
                    guard case .function(let function) = subtype.body, !gc, subtype.supertypes.isEmpty, subtype.isFinal else {
                        // A GC type is refused only where a function uses it.
                        types.append(nil)
                        canonical.append(-1)
                        continue
                    }
                    types.append(function)
                    if let id = canonicalTypes.firstIndex(of: function) {
                        canonical.append(id)
                    } else {
                        canonical.append(canonicalTypes.count)
                        canonicalTypes.append(function)
                    }
                }
            }
        }

        private static func checkTable(_ type: TableType) throws(EnclaveError) {
            guard !type.limits.isMemory64 else { throw unsupported("memory64", "a 64-bit table") }
            guard type.elementType.heapType == .funcRef else { throw unsupported(feature(of: type.elementType), "a table") }
            guard type.limits.min <= UInt64(UInt32.max), (type.limits.max ?? 0) <= UInt64(UInt32.max) else {
                throw malformed("a table limit above 2^32")
            }
        }

        /// The function type at `typeIndex`.
        func type(at typeIndex: UInt32) throws(EnclaveError) -> FunctionType {
            guard Int(typeIndex) < types.count else { throw malformed("type index \(typeIndex) out of range") }
            guard let type = types[Int(typeIndex)] else {
                throw unsupported("typed function references and GC", "type \(typeIndex) is not a plain function type")
            }
            return type
        }

        /// The canonical id of the type at `typeIndex`.
        func canonicalID(_ typeIndex: UInt32) throws(EnclaveError) -> Int {
            _ = try type(at: typeIndex)
            return canonical[Int(typeIndex)]
        }

        /// The type of function `index` (imported or defined).
        func functionType(_ index: UInt32) throws(EnclaveError) -> FunctionType {
            guard Int(index) < functionTypeIndices.count else { throw malformed("function index \(index) out of range") }
            return try type(at: functionTypeIndices[Int(index)])
        }

        /// The canonical type id of function `index`.
        func functionCanonicalID(_ index: UInt32) throws(EnclaveError) -> Int {
            guard Int(index) < functionTypeIndices.count else { throw malformed("function index \(index) out of range") }
            return try canonicalID(functionTypeIndices[Int(index)])
        }

        var functionCount: Int { functionTypeIndices.count }
    }
}
