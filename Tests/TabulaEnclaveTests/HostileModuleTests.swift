import Crypto
import Testing
import TabulaEnclave
import TabulaWire

/// Malformed and absurd modules, run through the loader in this process: each is refused with an
/// error naming the problem, and a crash (a Swift runtime trap, a stack overflow, an allocation
/// by a declared count) would take the whole test run down with it.
@Suite("Hostile modules")
struct HostileModuleTests {
    private func loadError(_ bytes: [UInt8], memoryLimit: Int = 256 << 20) -> EnclaveError? {
        do {
            _ = try FunctionModule(bytes: bytes, memoryLimit: memoryLimit)
            return nil
        } catch {
            return error
        }
    }

    private func text(_ wat: String) -> [UInt8] { Array(wat.utf8) }

    /// A binary module: the header, then each section as (id, contents).
    private func binary(_ sections: [(UInt8, [UInt8])]) -> [UInt8] {
        var bytes: [UInt8] = [0x00, 0x61, 0x73, 0x6D, 0x01, 0x00, 0x00, 0x00]
        for (id, contents) in sections {
            bytes.append(id)
            bytes += leb(UInt64(contents.count))
            bytes += contents
        }
        return bytes
    }

    private func leb(_ value: UInt64) -> [UInt8] {
        var value = value
        var out: [UInt8] = []
        repeat {
            var byte = UInt8(value & 0x7F)
            value >>= 7
            if value != 0 { byte |= 0x80 }
            out.append(byte)
        } while value != 0
        return out
    }

    /// Type 0 is `() -> ()`, function 0 has that type, and its body is `bodies`.
    private func oneFunction(body: [UInt8]) -> [UInt8] {
        binary([(1, [1, 0x60, 0, 0]), (3, [1, 0]), (10, [1] + leb(UInt64(body.count)) + body)])
    }

    // MARK: LEB128 and sizes

    @Test func sectionSizeBeyondInt() {
        // A ten-byte LEB128 of 2^64 - 1 as a section size: Int(UInt64) would trap.
        let bytes = [0x00, 0x61, 0x73, 0x6D, 0x01, 0x00, 0x00, 0x00, 0x01] + [UInt8](repeating: 0xFF, count: 9) + [0x01]
        let error = loadError(bytes)
        #expect(error?.code == .invalidModule)
        #expect(error?.message.contains("does not fit in 32 bits") == true, "\(String(describing: error))")
    }

    @Test func overlongLEB128() {
        // Eleven bytes of continuation: longer than any integer of the format.
        let bytes = [0x00, 0x61, 0x73, 0x6D, 0x01, 0x00, 0x00, 0x00, 0x01] + [UInt8](repeating: 0x80, count: 11) + [0x00]
        #expect(loadError(bytes)?.message.contains("does not fit in 32 bits") == true)
    }

    @Test func sectionPastTheEnd() {
        let bytes = [0x00, 0x61, 0x73, 0x6D, 0x01, 0x00, 0x00, 0x00, 0x01] + leb(0xFFFF_FFFF) + [0x60]
        #expect(loadError(bytes)?.message.contains("runs past the end of the file") == true)
    }

    // MARK: Counts

    @Test func countOfFunctionsBeyondTheLimit() {
        let error = loadError(binary([(3, leb(0xFFFF_FFFF))]))
        #expect(error?.code == .invalidModule)
        #expect(error?.message == "the module declares 4294967295 functions; Tabula loads at most 1000000")
    }

    @Test func countLargerThanTheBytesThatFollow() {
        // Within the limit, but 500,000 entries cannot fit in the two bytes left.
        let error = loadError(binary([(6, leb(500_000) + [0x7F, 0x00])]))
        #expect(error?.message == "malformed WebAssembly module: it declares 500000 globals but only 2 bytes follow")
    }

    /// An import of a kind the check does not know (a tag, 0x04) is refused, rather than leaving
    /// the sections after it unchecked.
    @Test func tagImportDoesNotEndTheCheck() {
        // One import "m" "t" of kind 0x04 (tag, attribute 0, type 0), then a function section
        // declaring 2^32-1 functions.
        let imports: [UInt8] = [0x01, 0x01, UInt8(ascii: "m"), 0x01, UInt8(ascii: "t"), 0x04, 0x00, 0x00]
        let error = loadError(binary([(2, imports), (3, leb(0xFFFF_FFFF))]))
        #expect(error?.code == .invalidModule)
        #expect(error?.message.contains("kind 0x4") == true, "\(String(describing: error))")
    }

    @Test func absurdCountsInEverySection() {
        // (section id, what the error names) for each counted section.
        let cases: [(UInt8, String)] = [
            (1, "types"), (2, "imports"), (4, "tables"), (5, "memories"), (6, "globals"), (7, "exports"),
            (9, "element segments"), (10, "function bodies"), (11, "data segments"), (12, "data segments"),
        ]
        for (id, what) in cases {
            let error = loadError(binary([(id, leb(0xFFFF_FFFF))]))
            #expect(error?.code == .invalidModule, "section \(id)")
            #expect(error?.message.contains("declares 4294967295 \(what)") == true, "section \(id): \(String(describing: error))")
        }
    }

    @Test func functionTypeWithTooManyParameters() {
        let error = loadError(binary([(1, [1, 0x60] + leb(1_000_000) + [UInt8](repeating: 0x7F, count: 10))]))
        #expect(error?.message.contains("declares 1000000 parameters in a function type") == true)
    }

    @Test func millionLocals() {
        // One declaration of a million i32 locals: a vector WasmKit would allocate by that count.
        let error = loadError(oneFunction(body: [1] + leb(1_000_000) + [0x7F, 0x0B]))
        #expect(error?.message == "function body 0 declares more than 50000 locals; Tabula loads functions with at most 50000")
    }

    @Test func localCountsThatOverflowWhenAdded() {
        // Two declarations of 2^32 - 1 locals each: the sum overflows 32 bits.
        let error = loadError(oneFunction(body: [2] + leb(0xFFFF_FFFF) + [0x7F] + leb(0xFFFF_FFFF) + [0x7F, 0x0B]))
        #expect(error?.message.contains("declares more than 50000 locals") == true)
    }

    @Test func hugeTableMinimum() {
        // (table 4294967295 funcref)
        let error = loadError(binary([(4, [1, 0x70, 0x00] + leb(0xFFFF_FFFF))]))
        #expect(error?.message == "the module declares a table of 4294967295 elements; Tabula allows tables of at most 1048576")
        let imported = loadError(binary([(2, [1, 1, 0x65, 1, 0x74, 0x01, 0x70, 0x00] + leb(0xFFFF_FFFF))]))
        #expect(imported?.message.contains("a table of 4294967295 elements") == true)
    }

    @Test func tablesTogetherAreBounded() {
        // A hundred tables of 2^20 elements each: 800 MiB beside the memory, were each table
        // bounded alone.
        let table: [UInt8] = [0x70, 0x00] + leb(1 << 20)
        let error = loadError(binary([(4, [100] + Array([[UInt8]](repeating: table, count: 100).joined()))]))
        #expect(error?.message == "the module's tables hold 2097152 elements or more at instantiation; Tabula allows at most 1048576 in all its tables together", "\(String(describing: error))")
        // Tables count toward the memory limit: 64 KiB of memory and 200,000 elements (1.6 MB)
        // do not fit in 1 MiB.
        let tight = loadError(text("(module (memory 1) (table 200000 funcref) (func (export \"main\")))"), memoryLimit: 1 << 20)
        #expect(tight?.code == .limitExceeded)
        #expect(tight?.message == "the module's initial memory and tables take 1665536 bytes (8 bytes per table element) but the function's memory limit is 1 MiB; raise the limit or shrink the module's memory or tables", "\(String(describing: tight))")
        #expect(loadError(text("(module (memory 1) (table 100000 funcref) (func (export \"main\")))"), memoryLimit: 1 << 20) == nil)
    }

    @Test func tableGrowthIsBoundedAcrossTablesAndByTheMemoryLimit() async throws {
        // Four tables, each grown by 300,000 elements: the fourth would pass 2^20 in all.
        let grow = probe("""
            (table $t0 0 funcref) (table $t1 0 funcref) (table $t2 0 funcref) (table $t3 0 funcref)
            (func (export "main")
              (call $begin)
              (call $num (table.grow $t0 (ref.null func) (i32.const 300000)))
              (call $num (table.grow $t1 (ref.null func) (i32.const 300000)))
              (call $num (table.grow $t2 (ref.null func) (i32.const 300000)))
              (call $num (table.grow $t3 (ref.null func) (i32.const 300000)))
              (call $end))
            """)
        try await withEnclave { enclave in
            let roomy = try await enclave.load(grow, name: "roomy")
            // Twice: table growth rebuilds the sandbox, whose accounting starts again.
            for _ in 0..<2 {
                #expect(try await enclave.invoke(roomy, parameters: [:]).response.result == ["v": [0, 0, 0, 4_294_967_295]])
            }
            // Under a 4 MiB memory limit, 300,000 elements (2.4 MB) fit once beside the 64 KiB memory.
            let tight = try await enclave.load(grow, name: "tight", limits: Limits(memory: 4 << 20))
            #expect(try await enclave.invoke(tight, parameters: [:]).response.result == ["v": [0, 4_294_967_295, 4_294_967_295, 4_294_967_295]])
        }
    }

    @Test func hugeMemoryMinimums() {
        // A 32-bit memory of 65,536 pages (4 GiB) is over the limit; a memory64 minimum of 2^60
        // pages would overflow a byte count.
        let large = loadError(binary([(5, [1, 0x00] + leb(65536))]))
        #expect(large?.code == .limitExceeded)
        let memory64 = loadError(binary([(5, [1, 0x04] + leb(1 << 60))]))
        #expect(memory64 != nil)
        let badFlags = loadError(binary([(5, [1, 0x80, 0x01])]))
        #expect(badFlags?.message.contains("limits flags 0x80") == true)
    }

    @Test func hugeNames() {
        let error = loadError(binary([(7, [1] + leb(0xFFFF_FFFF) + [0x41])]))
        #expect(error?.message == "an export's name is 4294967295 bytes long; Tabula loads names of at most 100000 bytes")
        let custom = loadError(binary([(0, leb(90_000) + [0x41])]))
        #expect(custom?.message.contains("runs past the end of the file") == true)
    }

    @Test func functionBodyTooLarge() {
        let error = loadError(binary([(1, [1, 0x60, 0, 0]), (3, [1, 0]), (10, [1] + leb(8_000_000))]))
        #expect(error?.message == "function body 0 is 8000000 bytes long; Tabula loads functions of at most 7654321 bytes")
    }

    @Test func deeplyNestedBlocksInABinary() {
        // 100,000 nested blocks: WasmKit's validator and translator keep their control stacks on
        // the heap, so this loads (or fails) without touching the native stack.
        let depth = 100_000
        var body: [UInt8] = [0]
        for _ in 0..<depth { body += [0x02, 0x40] }
        body += [UInt8](repeating: 0x0B, count: depth + 1)
        var module = binary([(1, [1, 0x60, 0, 0]), (3, [1, 0])])
        module += [7] + leb(8) + [1, 4] + Array("main".utf8) + [0x00, 0x00]
        module += [10] + leb(UInt64(body.count + 1 + leb(UInt64(body.count)).count)) + [1] + leb(UInt64(body.count)) + body
        let error = loadError(module)
        #expect(error == nil || error?.code == .invalidModule)
    }

    @Test func tooManyFunctionsWithTheBytesToMatch() {
        let count = 1_000_001
        let error = loadError(binary([(3, leb(UInt64(count)) + [UInt8](repeating: 0, count: count))]))
        #expect(error?.message == "the module declares 1000001 functions; Tabula loads at most 1000000")
    }

    // MARK: WAT text

    @Test func deeplyNestedParentheses() {
        let depth = 100_000
        let wat = "(module (func (export \"main\")" + String(repeating: "(block ", count: depth) + String(repeating: ")", count: depth) + "))"
        let error = loadError(text(wat))
        #expect(error?.code == .invalidModule)
        #expect(error?.message.contains("nests parentheses more than 500 deep") == true, "\(String(describing: error))")
    }

    @Test func deeplyNestedFlatBlocks() {
        let depth = 100_000
        let wat = "(module (func (export \"main\")\n" + String(repeating: "block\n", count: depth) + String(repeating: "end\n", count: depth) + "))"
        let error = loadError(text(wat))
        #expect(error?.message.contains("nests blocks more than 500 deep (line 502)") == true, "\(String(describing: error))")
    }

    @Test func labelsWithSymbolsHideNoEnd() {
        // `block $a-end` opens one block labelled `$a-end`: every idchar of the text format
        // belongs to the label, and none of them may make the checker see an `end` there.
        for symbol in "!#$%&'*+-./:<=>?@\\^_`|~" {
            let label = "$a\(symbol)end"
            let depth = 100_000
            let wat = "(module (func (export \"main\")\n" + String(repeating: "block \(label)\n", count: depth) + String(repeating: "end\n", count: depth) + "))"
            let error = loadError(text(wat))
            #expect(error?.message.contains("nests blocks more than 500 deep (line 502)") == true, "\(label): \(String(describing: error))")
        }
        // At the limit, such labels load: they are labels to WasmKit too.
        let flat = "(module (func (export \"main\")\n" + String(repeating: "block $a-end\n", count: 500) + String(repeating: "end\n", count: 500) + "))"
        #expect(loadError(text(flat)) == nil)
    }

    @Test func nestingAtTheLimitLoads() {
        // The bound leaves WasmKit's recursive WAT parser room on a test thread's stack; folded
        // and flat blocks at the limit, and parentheses in strings and comments, which do not count.
        let folded = "(module (func (export \"main\")" + String(repeating: "(block ", count: 497) + String(repeating: ")", count: 497) + "))"
        #expect(loadError(text(folded)) == nil)
        let flat = "(module (func (export \"main\")\n" + String(repeating: "loop\n", count: 500) + String(repeating: "end\n", count: 500) + "))"
        #expect(loadError(text(flat)) == nil)
        let quoted = "(module (func (export \"main\")) (memory 1) (data (i32.const 0) \"" + String(repeating: "((((", count: 1000) + "\") ;; " + String(repeating: "(", count: 1000) + "\n (; " + String(repeating: "(block ", count: 1000) + ";))"
        #expect(loadError(text(quoted)) == nil)
    }

    @Test func hugeText() {
        let wat = "(module" + String(repeating: " ", count: 17 << 20) + ")"
        let error = loadError(text(wat))
        #expect(error?.message.hasPrefix("the WAT text is 17825800 bytes long, more than the 16 MiB Tabula parses") == true, "\(String(describing: error))")
    }

    @Test func hugeBinary() {
        let error = loadError(binary([(0, [1, 0x41] + [UInt8](repeating: 0, count: 65 << 20))]))
        #expect(error?.message.contains("more than the 64 MiB Tabula loads") == true)
    }

    // MARK: What WasmKit reads later

    /// `main` is `unreachable`; a "name" section maps function 0x0FFFFFFF to "x", an index WasmKit
    /// looked up unchecked when it first named a function in a trap's backtrace.
    private func nameSectionOutOfRange(trappingStart: Bool) -> [UInt8] {
        let names: [UInt8] = [4] + Array("name".utf8) + [1, 7, 1, 0xFF, 0xFF, 0xFF, 0x7F, 1, UInt8(ascii: "x")]
        return binary([(1, [1, 0x60, 0, 0]), (3, [1, 0]), (7, [1, 4] + Array("main".utf8) + [0, 0])]
            + (trappingStart ? [(8, [0])] : [])
            + [(10, [1, 3, 0, 0x00, 0x0B]), (0, names)])
    }

    @Test func nameSectionWithAnIndexOutOfRange() async throws {
        // The module loads (custom sections are not the runtime's business), keeps the digest of
        // the bytes as deployed, and its trap is reported like any other.
        let bytes = nameSectionOutOfRange(trappingStart: false)
        #expect(bytes.count == 51)
        let module = try FunctionModule(bytes: bytes, memoryLimit: 1 << 20)
        #expect(module.digest == Array(SHA256.hash(data: bytes)))
        try await withEnclave { enclave in
            let name = try await enclave.load(bytes)
            for _ in 0..<2 {
                let invocation = try await enclave.invoke(name, parameters: [:])
                #expect(invocation.response.status == .developerError)
                #expect(invocation.response.jsonLine.contains("The action trapped: unreachable"), "\(invocation.response.jsonLine)")
            }
            // A start function that traps at once: the deploy check fails, the enclave serves on.
            await #expect(throws: EnclaveError.self) { try await enclave.load(nameSectionOutOfRange(trappingStart: true), name: "start") }
            #expect(try await enclave.invoke(name, parameters: [:]).response.status == .developerError)
        }
    }

    /// A `try_table` of `clauses` `catch_all 0` clauses around another such, then `br 1`: WasmKit
    /// added up the clauses a branch leaves in 16 bits, and trapped past 65,535.
    private func nestedCatchClauses(_ clauses: Int) -> [UInt8] {
        let tryTable: [UInt8] = [0x1F, 0x40] + leb(UInt64(clauses)) + Array([[UInt8]](repeating: [0x02, 0x00], count: clauses).joined())
        let body: [UInt8] = [0] + tryTable + tryTable + [0x0C, 0x01, 0x0B, 0x0B, 0x0B]
        return binary([(1, [1, 0x60, 0, 0]), (3, [1, 0]), (7, [1, 4] + Array("main".utf8) + [0, 0]), (10, [1] + leb(UInt64(body.count)) + body)])
    }

    @Test func tooManyCatchClauses() async throws {
        let error = loadError(nestedCatchClauses(40_000))
        #expect(error?.code == .invalidModule)
        #expect(error?.message == "function body 0 has more than 10000 catch clauses in its try_table instructions; Tabula loads functions with at most 10000, split the function", "\(String(describing: error))")
        try await withEnclave { enclave in
            await #expect(throws: EnclaveError.self) { try await enclave.load(nestedCatchClauses(40_000)) }
            // At the bound, the module loads and runs.
            let name = try await enclave.load(nestedCatchClauses(5_000), name: "fine")
            let invocation = try await enclave.invoke(name, parameters: [:])
            // It returns without output: not a dictionary, but no trap either.
            #expect(invocation.response.status == .developerError)
            #expect(!invocation.response.jsonLine.contains("trapped"), "\(invocation.response.jsonLine)")
        }
    }

    @Test func hostileModulesThroughTheEnclave() async throws {
        // The same refusals reach a deploy: the enclave answers with the error and keeps serving.
        try await withEnclave { enclave in
            for bytes in [binary([(3, leb(0xFFFF_FFFF))]), oneFunction(body: [1] + leb(1_000_000) + [0x7F, 0x0B])] {
                await #expect(throws: EnclaveError.self) { try await enclave.load(bytes) }
            }
            let name = try await enclave.load(Array(#"(module (func (export "main")))"#.utf8))
            #expect(try await enclave.invoke(name, parameters: [:]).response.status == .developerError)
        }
    }
}
