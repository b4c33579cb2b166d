import Testing
import TabulaEnclave
import TabulaWire
@testable import TabulaPlatform

/// The `capabilities` annotation: absent, the enclave's default (clocks and randomness); present,
/// exactly what it lists, so a policy can deny either.
@Suite("Capability annotation")
struct CapabilityAnnotationTests {
    @Test func absentMeansTheEnclavesDefault() throws {
        #expect(try Platform.policy(from: []).1 == Capabilities.default)
        #expect(try Platform.policy(from: [KeyValue(key: "invokers", value: ["other"])]).1 == .default)
    }

    @Test func presentListsAllThatIsGranted() throws {
        #expect(try Platform.policy(from: [KeyValue(key: "capabilities", value: [])]).1 == [])
        #expect(try Platform.policy(from: [KeyValue(key: "capabilities", value: ["clock"])]).1 == .clock)
        #expect(try Platform.policy(from: [KeyValue(key: "capabilities", value: ["random"])]).1 == .random)
    }
}
