import Foundation
import Testing
import TabulaWire

/// Hostile modules deployed through the HTTP API: a 400 naming the problem, and the server keeps
/// serving.
@Suite("Hostile modules over HTTP")
struct HostileModuleAPITests {
    @Test func refusedWithA400AndTheServerKeepsServing() async throws {
        try await Harness().run { client async throws in
            let header: [UInt8] = [0x00, 0x61, 0x73, 0x6D, 0x01, 0x00, 0x00, 0x00]
            let cases: [([UInt8], String)] = [
                // A function section declaring 2^32 - 1 functions.
                (header + [3, 5, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F], "declares 4294967295 functions"),
                // A section size that does not fit in 32 bits.
                (header + [1] + [UInt8](repeating: 0xFF, count: 9) + [0x01], "does not fit in 32 bits"),
                // A million locals in one function.
                (header + [1, 4, 1, 0x60, 0, 0, 3, 2, 1, 0, 10, 8, 1, 6, 1, 0xC0, 0x84, 0x3D, 0x7F, 0x0B], "more than 50000 locals"),
                (Array(("(module (func (export \"main\")" + String(repeating: "(block ", count: 20_000) + String(repeating: ")", count: 20_000) + "))").utf8), "nests parentheses more than 500 deep"),
                (Array(#"(module (func $spin (loop $l (br $l))) (start $spin) (func (export "main")))"#.utf8), "the start function failed: it exceeded the time limit of 100 ms"),
                // A "name" section naming function 0x0FFFFFFF, and a start function that traps:
                // WasmKit read that index unchecked when it named the trap's function.
                (header + [1, 4, 1, 0x60, 0, 0, 3, 2, 1, 0, 7, 8, 1, 4] + Array("main".utf8) + [0, 0, 8, 1, 0, 10, 5, 1, 3, 0, 0x00, 0x0B]
                    + [0, 14, 4] + Array("name".utf8) + [1, 7, 1, 0xFF, 0xFF, 0xFF, 0x7F, 1, UInt8(ascii: "x")], "the start function failed"),
                // 2 × 40,000 catch clauses on nested try_tables, left by a branch: WasmKit summed them in 16 bits.
                (catchClauses(40_000), "more than 10000 catch clauses"),
            ]
            for (module, problem) in cases {
                let reply = try await client.deploy("hostile", module: module, extra: #","limits":{"timeout":100}"#)
                #expect(reply.status == .badRequest, "\(problem)")
                #expect(reply.json["error"]?.stringValue?.contains(problem) == true, "\(reply.body)")
            }
            let good = try await client.deploy("fine", module: Array(#"(module (func (export "main")))"#.utf8))
            #expect(good.status == .ok)
        }
    }

    /// `main` holds a `try_table` of `clauses` `catch_all 0` clauses around another, then `br 1`.
    private func catchClauses(_ clauses: Int) -> [UInt8] {
        func leb(_ value: Int) -> [UInt8] {
            var value = value
            var out: [UInt8] = []
            repeat {
                out.append(UInt8(value & 0x7F) | (value >= 0x80 ? 0x80 : 0))
                value >>= 7
            } while value != 0
            return out
        }
        let tryTable: [UInt8] = [0x1F, 0x40] + leb(clauses) + Array([[UInt8]](repeating: [0x02, 0x00], count: clauses).joined())
        let body: [UInt8] = [0] + tryTable + tryTable + [0x0C, 0x01, 0x0B, 0x0B, 0x0B]
        let code: [UInt8] = [1] + leb(body.count) + body
        return [0x00, 0x61, 0x73, 0x6D, 0x01, 0x00, 0x00, 0x00, 1, 4, 1, 0x60, 0, 0, 3, 2, 1, 0, 7, 8, 1, 4] + Array("main".utf8) + [0, 0, 10] + leb(code.count) + code
    }
}
