extension ModuleBounds {
    /// Refuses a binary module whose sizes, counts or integers are out of range, before WasmKit
    /// parses it.
    ///
    /// Reads only the parts of sections that declare sizes and counts; everything else is left to
    /// WasmKit's validation. Cannot trap: every integer is read to its width and compared before
    /// it is used as a size.
    static func check(_ binary: WasmBinary) throws(EnclaveError) {
        for section in binary.sections {
            var reader = WasmBinary.Reader(bytes: section.contents, offset: 0)
            switch section.id {
            case 0:
                _ = try name(&reader, "a custom section's name")
            case 1:
                let count = try vector(&reader, "types", maxTypes)
                for _ in 0..<count {
                    // Only function types are checked; the proposals' other forms go to WasmKit.
                    guard try reader.byte() == 0x60 else { break }
                    for what in ["parameters", "results"] {
                        let arity = try vector(&reader, "\(what) in a function type", maxTypeArity)
                        for _ in 0..<arity { try valueType(&reader) }
                    }
                }
            case 2:
                let count = try vector(&reader, "imports", maxImports)
                for _ in 0..<count {
                    _ = try name(&reader, "an import's module name")
                    _ = try name(&reader, "an import's name")
                    switch try reader.byte() {
                    case 0x00: _ = try reader.u32()
                    case 0x01: _ = try tableType(&reader)
                    case 0x02: _ = try limits(&reader, "an imported memory")
                    case 0x03:
                        try valueType(&reader)
                        _ = try reader.byte()
                    case let kind:
                        // A tag (exception handling) or anything newer: Tabula imports functions only,
                        // and stopping here would leave every later section unchecked.
                        throw EnclaveError(.invalidModule, "an import has kind 0x\(String(kind, radix: 16)); Tabula functions may import only functions (and the memory, tables and globals WasmKit understands)")
                    }
                }
            case 3:
                _ = try vector(&reader, "functions", maxFunctions)
            case 4:
                let count = try vector(&reader, "tables", maxTables)
                var elements: UInt64 = 0
                for _ in 0..<count {
                    // A table with an initialiser expression (0x40 0x00) is left to WasmKit,
                    // whose table allocation the memory limiter bounds as well.
                    guard reader.remaining > 0, reader.bytes[reader.offset] != 0x40 else { break }
                    elements += try tableType(&reader)
                    guard elements <= UInt64(maxTotalTableElements) else {
                        throw EnclaveError(.invalidModule, "the module's tables hold \(elements) elements or more at instantiation; Tabula allows at most \(maxTotalTableElements) in all its tables together")
                    }
                }
            case 5:
                let count = try vector(&reader, "memories", maxTables)
                for _ in 0..<count { _ = try limits(&reader, "a memory") }
            case 6:
                _ = try vector(&reader, "globals", maxGlobals)
            case 7:
                let count = try vector(&reader, "exports", maxExports)
                for _ in 0..<count {
                    _ = try name(&reader, "an export's name")
                    _ = try reader.byte()
                    _ = try reader.u32()
                }
            case 9:
                _ = try vector(&reader, "element segments", maxElementSegments)
            case 10:
                let count = try vector(&reader, "function bodies", maxFunctions)
                for index in 0..<count {
                    let size = Int(try reader.u32())
                    guard size <= maxFunctionBodyBytes else {
                        throw EnclaveError(.invalidModule, "function body \(index) is \(size) bytes long; Tabula loads functions of at most \(maxFunctionBodyBytes) bytes")
                    }
                    guard size <= reader.remaining else { throw WasmBinary.Reader.truncated }
                    var body = WasmBinary.Reader(bytes: Array(reader.bytes[reader.offset..<reader.offset + size]), offset: 0)
                    try reader.skip(size)
                    let groups = try vector(&body, "local declarations in function body \(index)", maxFunctionLocals)
                    var locals: UInt64 = 0
                    for _ in 0..<groups {
                        locals += UInt64(try body.u32())
                        guard locals <= UInt64(maxFunctionLocals) else {
                            throw EnclaveError(.invalidModule, "function body \(index) declares more than \(maxFunctionLocals) locals; Tabula loads functions with at most \(maxFunctionLocals)")
                        }
                        try valueType(&body)
                    }
                }
            case 11:
                _ = try vector(&reader, "data segments", maxDataSegments)
            case 12:
                let count = try reader.u32()
                guard count <= maxDataSegments else {
                    throw EnclaveError(.invalidModule, "the module declares \(count) data segments; Tabula loads at most \(maxDataSegments)")
                }
            default:
                break  // an unknown section: WasmKit refuses it
            }
        }
    }

    /// Reads a vector's count and checks it against `limit` and the bytes left to hold it.
    private static func vector(_ reader: inout WasmBinary.Reader, _ what: String, _ limit: Int) throws(EnclaveError) -> Int {
        let count = Int(try reader.u32())
        guard count <= limit else {
            throw EnclaveError(.invalidModule, "the module declares \(count) \(what); Tabula loads at most \(limit)")
        }
        guard count <= reader.remaining else {
            throw EnclaveError(.invalidModule, "malformed WebAssembly module: it declares \(count) \(what) but only \(reader.remaining) bytes follow")
        }
        return count
    }

    private static func name(_ reader: inout WasmBinary.Reader, _ what: String) throws(EnclaveError) -> Int {
        let length = Int(try reader.u32())
        guard length <= maxNameBytes else {
            throw EnclaveError(.invalidModule, "\(what) is \(length) bytes long; Tabula loads names of at most \(maxNameBytes) bytes")
        }
        try reader.skip(length)
        return length
    }

    private static func valueType(_ reader: inout WasmBinary.Reader) throws(EnclaveError) {
        let type = try reader.byte()
        // (ref ht) and (ref null ht) carry a heap type, an s33.
        if type == 0x63 || type == 0x64 { try reader.skipSigned(bits: 33) }
    }

    /// Reads a table type and returns its minimum, checked against ``maxTableElements``.
    private static func tableType(_ reader: inout WasmBinary.Reader) throws(EnclaveError) -> UInt64 {
        try valueType(&reader)
        let minimum = try limits(&reader, "a table")
        guard minimum <= UInt64(maxTableElements) else {
            throw EnclaveError(.invalidModule, "the module declares a table of \(minimum) elements; Tabula allows tables of at most \(maxTableElements)")
        }
        return minimum
    }

    /// Reads limits (flags, minimum, optional maximum) and returns the minimum.
    private static func limits(_ reader: inout WasmBinary.Reader, _ what: String) throws(EnclaveError) -> UInt64 {
        let flags = try reader.byte()
        guard flags & ~0x07 == 0 else {
            throw EnclaveError(.invalidModule, "malformed WebAssembly module: \(what) has limits flags 0x\(String(flags, radix: 16))")
        }
        let bits: UInt64 = flags & 0x04 != 0 ? 64 : 32
        let minimum = try reader.leb128(bits: bits)
        if flags & 0x01 != 0 { _ = try reader.leb128(bits: bits) }
        return minimum
    }
}
