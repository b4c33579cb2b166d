import Testing
@testable import TabulaEnclave
import WAT
import WasmKit

@Suite("Termination")
struct TerminationTests {
    /// The one place that recognises WasmKit's out-of-fuel trap by its text: it must match the
    /// engine's real trap, and nothing else.
    @Test func outOfFuelIsRecognised() throws {
        let engine = Engine(configuration: EngineConfiguration(fuelMetering: true))
        let store = Store(engine: engine)
        let module = try parseWasm(bytes: try wat2wasm(#"(module (func (export "spin") (loop $l (br $l))) (func (export "trap") unreachable))"#))
        let instance = try module.instantiate(store: store)
        store.fuel = Fuel(remaining: 1000)
        #expect(performing: { try instance.exports[function: "spin"]!.invoke() }, throws: { Termination.isOutOfFuel($0) })
        store.fuel = Fuel(remaining: 1000)
        #expect(performing: { try instance.exports[function: "trap"]!.invoke() }, throws: { !Termination.isOutOfFuel($0) && Termination.reason(of: $0) == "unreachable" })
    }

    /// The same for the call-stack-exhausted trap: WasmKit keeps its trap reasons `package`, so
    /// text is the only public sign of either.
    @Test func stackExhaustionIsRecognised() throws {
        let engine = Engine(configuration: EngineConfiguration(stackSize: 64 << 10, fuelMetering: true))
        let store = Store(engine: engine)
        let module = try parseWasm(bytes: try wat2wasm(#"(module (func $deep (export "deep") (call $deep)) (func (export "trap") unreachable))"#))
        let instance = try module.instantiate(store: store)
        #expect(performing: { try instance.exports[function: "deep"]!.invoke() }, throws: { Termination.isStackExhausted($0) && !Termination.isOutOfFuel($0) })
        #expect(performing: { try instance.exports[function: "trap"]!.invoke() }, throws: { !Termination.isStackExhausted($0) })
    }
}
