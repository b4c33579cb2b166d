import Testing
import TabulaEnclave
import TabulaWire

/// ``Enclave/endRuns()``: what a server's shutdown does once its grace period is over.
@Suite("Ending runs")
struct EndRunsTests {
    static let spinner = Array(#"(module (memory (export "memory") 1) (func (export "_start") (loop $l (br $l))))"#.utf8)
    static let slowStart = Array(#"(module (memory (export "memory") 1) (func (export "_initialize") (loop $l (br $l))) (func (export "main")))"#.utf8)
    /// Far beyond what the test waits: a run that ends did not reach its own deadline.
    static let limits = Limits(timeout: .seconds(300))

    /// Invocations spinning far from their deadline, and an initialisation spinning, all end
    /// (as timed out, or refused had they not started yet); what comes later is refused.
    @Test func endsEveryRunInProgress() async throws {
        try await withEnclave(threads: 2) { enclave in
            let name = try await enclave.load(Self.spinner, name: "spinner", limits: Self.limits, maxSandboxes: 2)
            let runs = (0..<2).map { _ in
                Task { try await enclave.invoke(name, parameters: [:]) }
            }
            let load = Task { try await enclave.load(Self.slowStart, name: "slow", limits: Self.limits) }
            // Give them time to start; ending them before they start is also correct (refused).
            try await Task.sleep(for: .milliseconds(300))
            enclave.endRuns()
            for run in runs {
                switch await run.result {
                case .success(let invocation):
                    #expect(invocation.response.status == .developerError)
                    #expect(invocation.duration < Self.limits.timeout)
                case .failure(let error):
                    #expect((error as? EnclaveError)?.code == .shuttingDown, "\(error)")
                }
            }
            await #expect(throws: EnclaveError.self) { try await load.value }
            await #expect(throws: EnclaveError.self) { try await enclave.invoke(name, parameters: [:]) }
        }
    }
}
