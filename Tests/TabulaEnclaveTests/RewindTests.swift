import Testing
import TabulaEnclave
import TabulaWire

/// Every invocation must observe exactly the snapshot state, whatever earlier invocations did.
/// Each probe reports what it sees of one kind of state and then changes that state; the output
/// of every later invocation must equal the first one's.
@Suite("Snapshot and rewind")
struct RewindTests {
    /// Invokes `module` once per input and checks every output equals the first.
    private func expectNoLeak(
        _ module: [UInt8], inputs: [JSONValue] = [["a": "secret-1"], ["b": "x"], [:], ["a": "secret-2"]], expected: String? = nil, limits: Limits = Limits(),
        isolation: TestIsolation
    ) async throws {
        try await withEnclave(runtime: isolation) { enclave in
            let name = try await enclave.load(module, limits: limits)
            let first = try await enclave.call(name, inputs[0])
            if let expected { #expect(first == expected) }
            for input in inputs.dropFirst() + inputs {
                #expect(try await enclave.call(name, input) == first)
            }
        }
    }

    @Test(arguments: TestIsolation.allCases)
    func inputStashedInLinearMemory(isolation: TestIsolation) async throws {
        try await expectNoLeak(probe("""
            (func (export "main")
              (local $n i32)
              (call $begin)
              (call $num (i32.load (i32.const 8192)))
              (call $num (i32.load8_u (i32.const 8200)))
              (local.set $n (call $read))
              (memory.copy (i32.const 8192) (i32.const 4096) (local.get $n))
              (call $end))
            """), expected: #"{"status":"success","success":true,"result":{"v":[0,0]}}"#, isolation: isolation)
    }

    @Test(arguments: TestIsolation.allCases)
    func globalCounters(isolation: TestIsolation) async throws {
        try await expectNoLeak(probe("""
            (global $counter (mut i32) (i32.const 7))
            (global $wide (mut i64) (i64.const 5))
            (global $float (mut f64) (f64.const 1.5))
            (func (export "main")
              (call $begin)
              (call $num (global.get $counter))
              (call $num (i32.wrap_i64 (global.get $wide)))
              (call $num (i32.trunc_f64_u (global.get $float)))
              (global.set $counter (i32.add (global.get $counter) (i32.const 1)))
              (global.set $wide (i64.mul (global.get $wide) (i64.const 3)))
              (global.set $float (f64.add (global.get $float) (f64.const 2)))
              (call $end))
            """), expected: #"{"status":"success","success":true,"result":{"v":[7,5,1]}}"#, isolation: isolation)
    }

    @Test(arguments: TestIsolation.allCases)
    func memoryGrowthAndGrownPages(isolation: TestIsolation) async throws {
        try await expectNoLeak(probe("""
            (func (export "main")
              (local $old i32)
              (call $begin)
              (call $num (memory.size))
              (local.set $old (memory.grow (i32.const 2)))
              (call $num (i32.load (i32.mul (local.get $old) (i32.const 65536))))
              (call $num (i32.load (i32.add (i32.mul (local.get $old) (i32.const 65536)) (i32.const 65536))))
              (i32.store (i32.mul (local.get $old) (i32.const 65536)) (i32.const 48879))
              (i32.store (i32.add (i32.mul (local.get $old) (i32.const 65536)) (i32.const 65536)) (i32.const 48879))
              (call $end))
            """), expected: #"{"status":"success","success":true,"result":{"v":[1,0,0]}}"#, isolation: isolation)
    }

    @Test(arguments: TestIsolation.allCases)
    func memoryGrownDuringInitialisationKeepsItsContents(isolation: TestIsolation) async throws {
        // The snapshot holds two pages and a value written by _initialize on the grown page.
        try await expectNoLeak(probe("""
            (func (export "_initialize")
              (drop (memory.grow (i32.const 1)))
              (i32.store (i32.const 65536) (i32.const 42)))
            (func (export "main")
              (call $begin)
              (call $num (memory.size))
              (call $num (i32.load (i32.const 65536)))
              (i32.store (i32.const 65536) (i32.const 99))
              (drop (memory.grow (i32.const 1)))
              (call $end))
            """), expected: #"{"status":"success","success":true,"result":{"v":[2,42]}}"#, isolation: isolation)
    }

    @Test(arguments: TestIsolation.allCases)
    func tableSlots(isolation: TestIsolation) async throws {
        try await expectNoLeak(probe("""
            (type $ret (func (result i32)))
            (table $t 2 funcref)
            (elem (table $t) (i32.const 0) func $ten $twenty)
            (func $ten (result i32) (i32.const 10))
            (func $twenty (result i32) (i32.const 20))
            (func (export "main")
              (call $begin)
              (call $num (call_indirect $t (type $ret) (i32.const 0)))
              (call $num (table.size $t))
              (table.set $t (i32.const 0) (ref.func $twenty))
              (drop (table.grow $t (ref.null func) (i32.const 3)))
              (call $end))
            """), expected: #"{"status":"success","success":true,"result":{"v":[10,2]}}"#, isolation: isolation)
    }

    @Test(arguments: TestIsolation.allCases)
    func droppedDataSegment(isolation: TestIsolation) async throws {
        try await expectNoLeak(probe("""
            (data $secret "hello")
            (data $gone "bye")
            (global $ready (mut i32) (i32.const 0))
            (func (export "_initialize")
              (data.drop $gone)
              (global.set $ready (i32.const 1)))
            (func (export "main")
              (call $begin)
              (call $num (global.get $ready))
              (memory.init $secret (i32.const 12000) (i32.const 0) (i32.const 5))
              (call $num (i32.load8_u (i32.const 12000)))
              (data.drop $secret)
              (call $end))
            """), expected: #"{"status":"success","success":true,"result":{"v":[1,104]}}"#, isolation: isolation)
    }

    @Test(arguments: TestIsolation.allCases)
    func droppedElementSegment(isolation: TestIsolation) async throws {
        try await expectNoLeak(probe("""
            (type $ret (func (result i32)))
            (table $t 4 funcref)
            (elem $e func $thirty)
            (func $thirty (result i32) (i32.const 30))
            (func (export "main")
              (call $begin)
              (call $num (ref.is_null (table.get $t (i32.const 1))))
              (table.init $t $e (i32.const 1) (i32.const 0) (i32.const 1))
              (call $num (call_indirect $t (type $ret) (i32.const 1)))
              (elem.drop $e)
              (call $end))
            """), expected: #"{"status":"success","success":true,"result":{"v":[1,30]}}"#, isolation: isolation)
    }

    /// A probe that writes a secret to memory and a global, then traps, loops or exits as asked.
    private let secretThenFail = probe("""
        (global $secret (mut i32) (i32.const 0))
        (func (export "main")
          (drop (call $read))
          (call $begin)
          (call $num (global.get $secret))
          (call $num (i32.load (i32.const 9000)))
          (global.set $secret (i32.const 1516))
          (i32.store (i32.const 9000) (i32.const 1516))
          ;; stdin is {"trap":…}, {"loop":…} or {"exit":…}: the byte at 4098 picks the failure
          (if (i32.eq (i32.load8_u (i32.const 4098)) (i32.const 116)) (then unreachable))
          (if (i32.eq (i32.load8_u (i32.const 4098)) (i32.const 108)) (then (loop $forever (br $forever))))
          (if (i32.eq (i32.load8_u (i32.const 4098)) (i32.const 101)) (then (call $proc_exit (i32.const 3))))
          (call $end))
        """)

    @Test(arguments: TestIsolation.allCases)
    func trapRightAfterWritingASecret(isolation: TestIsolation) async throws {
        try await withEnclave(runtime: isolation) { enclave in
            let name = try await enclave.load(secretThenFail)
            let clean = try await enclave.call(name, ["x": 1])
            #expect(clean == #"{"status":"success","success":true,"result":{"v":[0,0]}}"#)
            let trapped = try await enclave.invoke(name, parameters: ["trap": true])
            #expect(trapped.response.status == .developerError)
            #expect(trapped.response.result["error"] == "The action trapped: unreachable.")
            #expect(try await enclave.call(name, ["x": 1]) == clean)
            let exited = try await enclave.invoke(name, parameters: ["exit": true])
            #expect(exited.response.result["error"] == "The action did not produce a valid response and exited unexpectedly (exit status 3).")
            #expect(try await enclave.call(name, ["x": 1]) == clean)
        }
    }

    @Test(arguments: TestIsolation.allCases)
    func timeoutRightAfterWritingASecret(isolation: TestIsolation) async throws {
        try await withEnclave(runtime: isolation) { enclave in
            let name = try await enclave.load(secretThenFail, limits: Limits(timeout: .milliseconds(200)))
            let clean = try await enclave.call(name, ["x": 1])
            let timedOut = try await enclave.invoke(name, parameters: ["loop": true])
            #expect(timedOut.response.status == .developerError)
            #expect(timedOut.response.result["error"] == "The action exceeded its time limits of 200 milliseconds.")
            #expect(timedOut.duration >= .milliseconds(200))
            #expect(try await enclave.call(name, ["x": 1]) == clean)
        }
    }

    @Test(arguments: TestIsolation.allCases)
    func longInputFollowedByShortOne(isolation: TestIsolation) async throws {
        let strlen = probe("""
            (func (export "main")
              (local $i i32)
              (drop (call $read))
              (call $begin)
              (block $b
                (loop $l
                  (br_if $b (i32.eqz (i32.load8_u (i32.add (i32.const 4096) (local.get $i)))))
                  (local.set $i (i32.add (local.get $i) (i32.const 1)))
                  (br $l)))
              (call $num (local.get $i))
              (call $end))
            """)
        try await withEnclave(runtime: isolation) { enclave in
            let name = try await enclave.load(strlen)
            let short = try await enclave.call(name, ["k": "v"])
            #expect(short == #"{"status":"success","success":true,"result":{"v":[9]}}"#)
            let long = try await enclave.call(name, ["k": .string(String(repeating: "s", count: 3000))])
            #expect(long == #"{"status":"success","success":true,"result":{"v":[3008]}}"#)
            #expect(try await enclave.call(name, ["k": "v"]) == short)
        }
    }

    @Test(arguments: TestIsolation.allCases)
    func inPlaceRewindCopiesOnlyWrittenChunks(isolation: TestIsolation) async throws {
        try await withEnclave(runtime: isolation) { enclave in
            let name = try await enclave.load(probe("""
                (func (export "main")
                  (call $begin)
                  (i32.store (i32.const 200000) (i32.const 1))
                  (call $end))
                """, memory: "16"))
            let invocation = try await enclave.invoke(name, parameters: [:])
            // The output buffer, the iovec, the stdin-free probe and the one store: a few chunks of 256.
            guard case .inPlace(let chunks) = invocation.rewind.kind else {
                Issue.record("expected an in-place rewind, got \(invocation.rewind.kind)")
                return
            }
            #expect(chunks >= 2 && chunks <= 4)
        }
    }

    @Test(arguments: TestIsolation.allCases)
    func rewindTracksThePagesWrittenEvenWhenTheyHoldTheSameBytes(isolation: TestIsolation) async throws {
        try await withEnclave(runtime: isolation) { enclave in
            // 64 MiB; four stores of zero, which a comparison with the snapshot would not notice.
            let name = try await enclave.load(probe("""
                (func (export "main")
                  (call $begin)
                  (i32.store (i32.const 1048576) (i32.const 0))
                  (i32.store (i32.const 9437184) (i32.const 0))
                  (i32.store (i32.const 33554432) (i32.const 0))
                  (i32.store (i32.const 67104768) (i32.const 0))
                  (call $end))
                """, memory: "1024"), limits: Limits(memory: 64 << 20))
            for _ in 0..<3 {
                let invocation = try await enclave.invoke(name, parameters: [:])
                #expect(invocation.rewind.tracked)
                guard case .inPlace(let pages) = invocation.rewind.kind else {
                    Issue.record("expected an in-place rewind, got \(invocation.rewind.kind)")
                    return
                }
                // The four stores, plus the probe's output and iovec pages.
                #expect(pages >= 5 && pages <= 8, "\(pages) pages")
            }
        }
    }

    @Test(arguments: TestIsolation.allCases)
    func trackedRewindRestoresWhatTheHostWroteAndWhatTheFunctionWrote(isolation: TestIsolation) async throws {
        // Input copied in by fd_read (the host) lands in page 1; the function copies it to the last
        // page. A rewind that missed either would show the first input to the second invocation.
        try await expectNoLeak(probe("""
            (func (export "main")
              (local $i i32)
              (call $begin)
              (call $num (i32.load8_u (i32.const 65000)))
              (call $num (i32.load8_u (i32.const 4096)))
              (drop (call $read))
              (memory.copy (i32.const 65000) (i32.const 4096) (i32.const 64))
              (call $end))
            """), expected: #"{"status":"success","success":true,"result":{"v":[0,0]}}"#, isolation: isolation)
    }

    /// Writes scattered pages of a 16 MiB memory (4,096 pages of 4 KiB) whose snapshot holds 0xAB on
    /// pages 16-19: 13 pages in all, of which 11 end up differing from the snapshot.
    ///
    /// - page 1: the iovec and the byte count of `fd_read`;
    /// - pages 255-257: stdin, copied in by the WASI host (5,000 bytes from 100 bytes before page 256);
    /// - page 17: a snapshotted page, overwritten;
    /// - pages 300-302 (one run), 500, 777 and 4095 (the last, far enough from the others to be
    ///   protected again separately): pages initialisation never wrote;
    /// - pages 18 and 900: written with the bytes they already hold, which a tracker sees as written
    ///   and a comparison does not.
    ///
    /// Input starting with "S" stops after reading it (4 pages: 1 and 255-257), so that pages
    /// written by the run before and not protected again would show up in the count. Input starting
    /// with "G" also grows the memory, which makes the sandbox rebuild.
    private static let scatteredWriter = Array("""
        (module
          (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 256)
          (func (export "_initialize")
            (memory.fill (i32.const 65536) (i32.const 0xAB) (i32.const 16384)))
          (func (export "main")
            (i32.store (i32.const 4096) (i32.const 1048476))
            (i32.store (i32.const 4100) (i32.const 8192))
            (drop (call $fd_read (i32.const 0) (i32.const 4096) (i32.const 1) (i32.const 4104)))
            (if (i32.eq (i32.load8_u (i32.const 1048476)) (i32.const 83)) (then return))
            (i32.store (i32.const 69632) (i32.const 0x01020304))
            (memory.fill (i32.const 1228800) (i32.const 7) (i32.const 12288))
            (i32.store8 (i32.const 2048000) (i32.const 1))
            (i32.store8 (i32.const 3182592) (i32.const 1))
            (i32.store (i32.const 16777212) (i32.const -1))
            (i32.store (i32.const 3686400) (i32.const 0))
            (i32.store8 (i32.const 73728) (i32.const 0xAB))
            (if (i32.eq (i32.load8_u (i32.const 1048476)) (i32.const 71))
              (then (drop (memory.grow (i32.const 1)))))))
        """.utf8)

    /// With each tracking mechanism this machine offers, every invocation's writes are undone
    /// exactly: after each rewind memory and globals equal the snapshot byte for byte, so a write
    /// the tracker missed fails the test, and the rewind reports the pages written (or, comparing,
    /// the pages that differ), which fails if written pages were not protected again. A rebuild in
    /// between (the memory grew) re-arms the tracking.
    ///
    /// With a writable limit of 0 every written page is protected again, so a short run reports only
    /// its own pages; with the default limit the 13 pages stay writable and every rewind copies them
    /// all back, until a rebuild starts the working set over.
    @Test(arguments: Rewind.Tracking.allCases, [0, DirtyPages.defaultWritableLimit])
    func rewindUndoesEveryWrittenPageExactly(tracking: Rewind.Tracking, writableLimit: Int) throws {
        let module = try FunctionModule(bytes: Self.scatteredWriter, memoryLimit: Limits().memory)
        let sandbox = try Sandbox(id: 0, module: module, limits: Limits(), name: "test/scattered", tracking: tracking, writableLimit: writableLimit)
        // A mechanism this kernel or environment does not offer leaves the sandbox comparing;
        // there is nothing of it to test here.
        guard sandbox.tracking == tracking else { return }
        #expect(sandbox.matchesSnapshot)
        let allPages = tracking == .comparison ? 11 : 13
        var leftWritable = false
        for letter in ["Z", "S", "Y", "G", "S", "X", "W"] {
            let run = try sandbox.run(input: Array(String(repeating: letter, count: 5000).utf8), environment: [], capabilities: [])
            #expect(run.termination == .returned)
            #expect(run.rewind.tracking == tracking)
            if letter == "G" {
                #expect(run.rewind.kind == .rebuilt(reason: "memory grew from 16777216 to 16842752 bytes"))
                #expect(sandbox.tracking == tracking)
                leftWritable = false
            } else {
                let expected = letter == "S" && (!leftWritable || tracking == .comparison) ? 4 : allPages
                #expect(run.rewind.kind == .inPlace(chunks: expected), "input \(letter)")
                leftWritable = leftWritable || (tracking != .comparison && writableLimit >= allPages)
            }
            #expect(sandbox.matchesSnapshot, "input \(letter): memory differs from the snapshot after the rewind")
        }
    }

    @Test(arguments: TestIsolation.allCases)
    func modulesThatDropSegmentsAreRebuiltWithAReason(isolation: TestIsolation) async throws {
        try await withEnclave(runtime: isolation) { enclave in
            let name = try await enclave.load(probe("""
                (data $d "x")
                (func (export "main") (data.drop $d) (call $begin) (call $end))
                """))
            let invocation = try await enclave.invoke(name, parameters: [:])
            #expect(invocation.rewind.kind == .rebuilt(reason: "the module uses data.drop"))
        }
    }

    @Test func snapshotDigestIsStableAcrossEnclaves() async throws {
        let module = try example("c/transform.wasm")
        let first = try await withEnclave { try await $0.load(FunctionDefinition(name: FunctionName(namespace: "a", name: "t"), module: module)) }
        let second = try await withEnclave { try await $0.load(FunctionDefinition(name: FunctionName(namespace: "b", name: "t"), module: module)) }
        #expect(first.snapshotDigest == second.snapshotDigest)
        #expect(first.snapshotDigest.count == 32)
        // A worker builds the snapshot itself, from the same bytes: the same state, the same digest.
        let inWorker = try await withEnclave(isolation: try TestIsolation.workers.isolation) {
            try await $0.load(FunctionDefinition(name: FunctionName(namespace: "c", name: "t"), module: module))
        }
        #expect(inWorker.snapshotDigest == first.snapshotDigest)
        #expect(first.kind == "reactor")
    }
}
