import Testing
import TabulaEnclave
import TabulaWire

/// The checkpoints that every module gets, through which a run polls its own deadline: each kind
/// of unbounded work stops at the deadline, and the rewrite keeps every function reference right.
@Suite("Deadline checks")
struct DeadlineChecksTests {
    /// `{"fib":…}` recurses without a single loop (only function entries poll); `{"bulk":…}` fills
    /// 15 MiB of memory 2,000 times in a loop whose instructions are few (only the charge of the
    /// fill's length polls in time).
    private let worker = probe("""
        (func $fib (param $n i32) (result i32)
          (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
            (then (local.get $n))
            (else (i32.add (call $fib (i32.sub (local.get $n) (i32.const 1)))
                           (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
        (func (export "main")
          (local $i i32)
          (drop (call $read))
          (call $begin)
          (if (i32.eq (i32.load8_u (i32.const 4098)) (i32.const 102))
            (then (local.set $i (call $fib (i32.const 38)))))
          (if (i32.eq (i32.load8_u (i32.const 4098)) (i32.const 98))
            (then
              (drop (memory.grow (i32.const 255)))
              (loop $again
                (memory.fill (i32.const 0x10000) (i32.const 7) (i32.const 0xF00000))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br_if $again (i32.lt_u (local.get $i) (i32.const 2000))))))
          (call $num (local.get $i))
          (call $end))
        """)

    private func expectTimeout(_ input: JSONValue) async throws {
        try await withEnclave { enclave in
            let name = try await enclave.load(worker, limits: Limits(timeout: .milliseconds(100)))
            let clock = ContinuousClock()
            let started = clock.now
            let failed = try await enclave.invoke(name, parameters: input)
            #expect(failed.response.result["error"] == "The action exceeded its time limits of 100 milliseconds.")
            #expect(clock.now - started < .seconds(10))
            #expect(try await enclave.call(name, ["x": 1]) == #"{"status":"success","success":true,"result":{"v":[0]}}"#)
        }
    }

    @Test("recursion without loops stops at the deadline")
    func recursionStops() async throws {
        try await expectTimeout(["fib": true])
    }

    @Test("bulk memory work in a short loop stops at the deadline")
    func bulkMemoryStops() async throws {
        try await expectTimeout(["bulk": true])
    }

    /// Loads `module` with a 100 ms timeout and expects its run to stop at the deadline. Each
    /// module below does a bounded amount of work that the checkpoints once undercharged: without
    /// the right charge it ran to its end without polling (seconds later) and this fails.
    private func expectStops(_ module: [UInt8], capabilities: Capabilities = []) async throws {
        try await withEnclave { enclave in
            let name = try await enclave.load(module, limits: Limits(timeout: .milliseconds(100)), capabilities: capabilities)
            let failed = try await enclave.invoke(name, parameters: [:])
            #expect(failed.response.result["error"] == "The action exceeded its time limits of 100 milliseconds.")
        }
    }

    /// WasmKit copies every local's initial value into each new frame: 50,000 v128 locals are an
    /// 800 KB copy per call of a function whose body is a `nop`, which was charged 2 units at the
    /// call site. 70,000 calls (about 2 s) then ran between two polls.
    @Test("a function's locals are charged at each call")
    func localsAreCharged() async throws {
        // (func $big (local v128 ×50000) nop)
        // (func (export "main") (local $i i32)
        //   (loop (call $big) (br_if 0 (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 70000)))))
        let big: [UInt8] = [0x01] + leb(50_000) + [0x7B, 0x01, 0x0B]
        let main: [UInt8] = [0x01, 0x01, 0x7F, 0x03, 0x40, 0x10, 0x00, 0x20, 0x00, 0x41, 0x01, 0x6A, 0x22, 0x00, 0x41]
            + sleb(70_000) + [0x49, 0x0D, 0x00, 0x0B, 0x0B]
        let code: [UInt8] = [0x02] + leb(big.count) + big + leb(main.count) + main
        let module: [UInt8] = [0x00, 0x61, 0x73, 0x6D, 0x01, 0x00, 0x00, 0x00,
            0x01, 0x04, 0x01, 0x60, 0x00, 0x00,
            0x03, 0x03, 0x02, 0x00, 0x00,
            0x07, 0x08, 0x01, 0x04, 0x6D, 0x61, 0x69, 0x6E, 0x00, 0x01,
            0x0A] + leb(code.count) + code
        try await expectStops(module)
    }

    /// Entering a `try_table` registers each of its catch clauses: 9,999 of them made one
    /// instruction as costly as 10,000, and 5,000 entries (about 6 s) ran between two polls.
    @Test("a try_table is charged by its catch clauses")
    func catchClausesAreCharged() async throws {
        let catches = String(repeating: "(catch $t 0) ", count: 9_999)
        try await expectStops(Array("""
            (module
              (tag $t)
              (func (export "main") (local $i i32)
                (loop $l
                  (try_table \(catches)(nop))
                  (local.set $i (i32.add (local.get $i) (i32.const 1)))
                  (br_if $l (i32.lt_u (local.get $i) (i32.const 5000))))))
            """.utf8))
    }

    /// A loop that carries 1,000 values as its parameters throws them and catches them back to
    /// its head: no instruction per value, but WasmKit copies the payload twice. Charged a few
    /// units, 10,000 rounds (about 3 s) ran between two polls.
    @Test("a throw is charged by its payload")
    func throwPayloadIsCharged() async throws {
        let values = String(repeating: "i64 ", count: 1_000)
        let zeros = String(repeating: "(i64.const 0) ", count: 1_000)
        try await expectStops(Array("""
            (module
              (tag $t (param \(values)))
              (global $rounds (mut i32) (i32.const 0))
              (func (export "main")
                (block $out (result \(values))
                  \(zeros)
                  (loop $l (param \(values)) (result \(values))
                    (global.set $rounds (i32.add (global.get $rounds) (i32.const 1)))
                    (br_if $out (i32.ge_u (global.get $rounds) (i32.const 10000)))
                    (try_table (param \(values)) (result \(values)) (catch $t $l) (throw $t))))
                \(String(repeating: "drop ", count: 1_000))))
            """.utf8))
    }

    /// A function of a few table fills has no loop or call, so its entry had no checkpoint and
    /// its callers paid its 12 instructions, not the 12 fills of 2^20 elements; 400 calls (about
    /// 8 s) ran between two polls.
    @Test("a small function pays for its table work at the call site")
    func smallFunctionTableWorkIsCharged() async throws {
        let fills = String(repeating: "(table.fill $t (i32.const 0) (ref.null func) (i32.const 1048576)) ", count: 12)
        try await expectStops(Array("""
            (module
              (table $t 1048576 funcref)
              (func $fill \(fills))
              (func (export "main") (local $i i32)
                (loop $l
                  (call $fill)
                  (local.set $i (i32.add (local.get $i) (i32.const 1)))
                  (br_if $l (i32.lt_u (local.get $i) (i32.const 400))))))
            """.utf8))
    }

    /// A host function's work grows with its arguments: `fd_write` walks every iovec (1,024 empty
    /// ones here, the most one call takes: about 1 ms a call in a debug build) and `random_get`
    /// fills its buffer. Such a call was charged like any other (a few units), so 10,000 calls
    /// (seconds) ran between two polls; through a table, the import's call site was not even seen.
    @Test("host calls are charged by what their arguments ask for, also through a table", arguments: [
        "(drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1024) (i32.const 0)))",
        "(drop (call_indirect (type $write) (i32.const 2) (i32.const 0) (i32.const 1024) (i32.const 0) (i32.const 0)))",
        "(drop (call $random_get (i32.const 0) (i32.const 65536)))",
    ])
    func hostCallsAreCharged(call: String) async throws {
        try await expectStops(Array("""
            (module
              (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
              (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
              (type $write (func (param i32 i32 i32 i32) (result i32)))
              (table 1 funcref)
              (elem (i32.const 0) $fd_write)
              (memory 8)
              (func (export "main") (local $i i32)
                (loop $l
                  \(call)
                  (local.set $i (i32.add (local.get $i) (i32.const 1)))
                  (br_if $l (i32.lt_u (local.get $i) (i32.const 10000))))))
            """.utf8), capabilities: [.random])
    }

    /// Imports are reached through wrappers: called directly, from a table, through `ref.func`
    /// and as an export, they still do what they did.
    @Test("imports work through their wrappers")
    func importsThroughWrappers() async throws {
        let module = probe("""
            (type $write (func (param i32 i32 i32 i32) (result i32)))
            (table 2 funcref)
            (elem (i32.const 0) $fd_write)
            (elem declare func $fd_write)
            (export "write" (func $fd_write))
            (func (export "main")
              (local $n i32)
              (local.set $n (call $read))
              (call $begin)
              (call $num (local.get $n))
              (call $end)
              (i32.store (i32.const 0) (i32.const 4096))
              (i32.store (i32.const 4) (local.get $n))
              (drop (call_indirect (type $write) (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8) (i32.const 0)))
              (table.set (i32.const 1) (ref.func $fd_write))
              (drop (call_indirect (type $write) (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8) (i32.const 1))))
            """)
        try await withEnclave { enclave in
            let name = try await enclave.load(module)
            for _ in 0..<2 {
                let run = try await enclave.invoke(name, parameters: ["a": 1])
                #expect(run.response.jsonLine == #"{"status":"success","success":true,"result":{"v":[7]}}"#)
                #expect(run.logs.joined() == #"{"a":1}{"a":1}"#)
            }
        }
    }

    /// Every way a module names a function (calls, tail calls, table elements, `ref.func` in a
    /// global, the start function, exports) still names the same function once the poll is
    /// imported before them all.
    @Test("function references survive the rewrite")
    func functionReferences() async throws {
        let module = probe("""
            (table 3 funcref)
            (elem (i32.const 0) $double $triple)
            (elem declare func $square)
            (global $started (mut i32) (i32.const 0))
            (global $square funcref (ref.func $square))
            (start $init)
            (type $unary (func (param i32) (result i32)))
            (func $init (global.set $started (i32.const 5)))
            (func $double (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2)))
            (func $triple (param i32) (result i32) (i32.mul (local.get 0) (i32.const 3)))
            (func $square (param i32) (result i32) (i32.mul (local.get 0) (local.get 0)))
            (func $tail (param i32) (result i32) (return_call $double (local.get 0)))
            (func (export "main")
              (call $begin)
              (call $num (call_indirect (type $unary) (global.get $started) (i32.const 0)))
              (call $num (call_indirect (type $unary) (i32.const 7) (i32.const 1)))
              (table.set (i32.const 2) (global.get $square))
              (call $num (call_indirect (type $unary) (i32.const 4) (i32.const 2)))
              (call $num (call $tail (i32.const 8)))
              (call $end))
            """)
        try await withEnclave { enclave in
            let name = try await enclave.load(module)
            for _ in 0..<2 {
                #expect(try await enclave.call(name) == #"{"status":"success","success":true,"result":{"v":[10,21,16,16]}}"#)
            }
        }
    }

    /// Function indices are moved up by one for the poll: an index of 2^32 - 1 overflowed (a trap
    /// that ended the process) in an export, a call, an element segment and a `ref.func`.
    @Test("a function index the module does not define is refused, whatever its size")
    func outOfRangeFunctionIndices() async throws {
        let huge = leb(Int(UInt32.max))
        let header: [UInt8] = [0x00, 0x61, 0x73, 0x6D, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00]
        let exportMain: [UInt8] = [0x04, 0x6D, 0x61, 0x69, 0x6E, 0x00, 0x00]
        func section(_ id: UInt8, _ entries: [[UInt8]]) -> [UInt8] {
            let contents = leb(entries.count) + entries.flatMap { $0 }
            return [id] + leb(contents.count) + contents
        }
        let emptyCode = section(0x0A, [[0x02, 0x00, 0x0B]])
        let modules: [(String, [UInt8])] = [
            ("export", header + section(0x07, [exportMain, [0x01, 0x78, 0x00] + huge]) + emptyCode),
            ("call", header + section(0x07, [exportMain]) + section(0x0A, [leb(3 + huge.count) + [0x00, 0x10] + huge + [0x0B]])),
            ("element", header + section(0x04, [[0x70, 0x00, 0x01]]) + section(0x07, [exportMain])
                + section(0x09, [[0x00, 0x41, 0x00, 0x0B, 0x01] + huge]) + emptyCode),
            ("ref.func", header + section(0x06, [[0x70, 0x00, 0xD2] + huge + [0x0B]]) + section(0x07, [exportMain]) + emptyCode),
        ]
        for (place, module) in modules {
            let error = await loadingError(module)
            #expect(error?.code == .invalidModule, "\(place)")
            #expect(error?.message.contains("refers to function 4294967295, but the module has 1") == true, "\(place): \(String(describing: error))")
        }
    }

    /// An export of a global the module does not define named the countdown after the rewrite.
    @Test("a module cannot export the runtime's countdown")
    func countdownCannotBeExported() async throws {
        // (func (export "main")) (export "g" (global 0)), without globals.
        let module: [UInt8] = [
            0x00, 0x61, 0x73, 0x6D, 0x01, 0x00, 0x00, 0x00,
            0x01, 0x04, 0x01, 0x60, 0x00, 0x00,
            0x03, 0x02, 0x01, 0x00,
            0x07, 0x0C, 0x02, 0x04, 0x6D, 0x61, 0x69, 0x6E, 0x00, 0x00, 0x01, 0x67, 0x03, 0x00,
            0x0A, 0x04, 0x01, 0x02, 0x00, 0x0B,
        ]
        let error = await loadingError(module)
        #expect(error?.code == .invalidModule)
        #expect(error?.message.contains("refers to global 0, but the module defines 0") == true)
    }

    /// The countdown and scratch globals are added after the module's own: code that names a
    /// global the module does not define must not reach them.
    @Test("code cannot name the runtime's globals")
    func addedGlobalsAreOutOfReach() async throws {
        // (func (export "main") (drop (global.get 0))) in a module without globals.
        let module: [UInt8] = [
            0x00, 0x61, 0x73, 0x6D, 0x01, 0x00, 0x00, 0x00,
            0x01, 0x04, 0x01, 0x60, 0x00, 0x00,
            0x03, 0x02, 0x01, 0x00,
            0x07, 0x08, 0x01, 0x04, 0x6D, 0x61, 0x69, 0x6E, 0x00, 0x00,
            0x0A, 0x07, 0x01, 0x05, 0x00, 0x23, 0x00, 0x1A, 0x0B,
        ]
        let error = await loadingError(module)
        #expect(error?.code == .invalidModule)
        #expect(error?.message.contains("refers to global 0, but the module defines 0") == true)
    }
}

/// Unsigned LEB128, for modules written byte by byte.
private func leb(_ value: Int) -> [UInt8] {
    var value = value
    var out: [UInt8] = []
    repeat {
        let byte = UInt8(value & 0x7F)
        value >>= 7
        out.append(value != 0 ? byte | 0x80 : byte)
    } while value != 0
    return out
}

/// Signed LEB128 of a non-negative value.
private func sleb(_ value: Int) -> [UInt8] {
    var value = value
    var out: [UInt8] = []
    while true {
        let byte = UInt8(value & 0x7F)
        value >>= 7
        if value == 0 && byte & 0x40 == 0 { return out + [byte] }
        out.append(byte | 0x80)
    }
}
