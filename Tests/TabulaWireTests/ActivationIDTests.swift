import Testing
import TabulaWire

@Suite("Activation ids")
struct ActivationIDTests {
    private func isID(_ id: String) -> Bool {
        id.utf8.count == 32 && id.allSatisfy { $0.isHexDigit && !$0.isUppercase }
    }

    @Test func randomIDsAre32HexDigitsAndDistinct() {
        let ids = (0..<1000).map { _ in ActivationID.random() }
        #expect(ids.allSatisfy(isID))
        #expect(Set(ids).count == ids.count)
    }

    /// Time-ordered ids sort by their millisecond, carry it in their first 12 digits, and stay
    /// distinct within one millisecond.
    @Test func timeOrderedIDsSortByTime() {
        let now: Int64 = 1_795_000_000_123
        let sameMillisecond = (0..<1000).map { _ in ActivationID.timeOrdered(milliseconds: now) }
        #expect(sameMillisecond.allSatisfy(isID))
        #expect(Set(sameMillisecond).count == sameMillisecond.count)
        #expect(sameMillisecond.allSatisfy { Int64($0.prefix(12), radix: 16) == now })
        let later = ActivationID.timeOrdered(milliseconds: now + 1)
        #expect(sameMillisecond.allSatisfy { $0 < later })
        #expect(ActivationID.timeOrdered(milliseconds: -5).hasPrefix("000000000000"))
    }
}
