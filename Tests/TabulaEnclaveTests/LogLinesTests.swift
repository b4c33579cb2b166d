import Testing
@testable import TabulaEnclave

/// stderr is split into no more lines than the platform could store under the logs limit.
@Suite("Log lines")
struct LogLinesTests {
    @Test func splitsAsBefore() {
        #expect(Invocation.logLines(Array("a\n\nb\n".utf8), truncated: false, limit: 1 << 20) == ["a", "", "b"])
        #expect(Invocation.logLines(Array("a".utf8), truncated: false, limit: 1 << 20) == ["a"])
        #expect(Invocation.logLines(Array("\n".utf8), truncated: false, limit: 1 << 20) == [""])
        #expect(Invocation.logLines([], truncated: false, limit: 1 << 20) == [])
        #expect(Invocation.logLines(Array("x\n".utf8), truncated: true, limit: 10).last?.hasPrefix("Logs were truncated") == true)
    }

    /// A megabyte of newlines under a 1 MiB limit: some twenty-eight thousand lines, not a million.
    @Test func stopsSplittingAtTheLimit() {
        let limit = 1 << 20
        let lines = Invocation.logLines([UInt8](repeating: UInt8(ascii: "\n"), count: 1_000_000), truncated: false, limit: limit)
        #expect(lines.count == limit / Invocation.storedLineOverhead + 1, "as many as the platform could store, and the notice")
        #expect(lines.last == "Logs were truncated because the total bytes size exceeds the limit of \(limit) bytes.")
        let allEmpty = lines.dropLast().allSatisfy { $0.isEmpty }
        #expect(allEmpty)
    }
}
