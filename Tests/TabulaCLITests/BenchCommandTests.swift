import Foundation
import Testing
import TabulaWire

/// `tabula bench` through the real binary, run briefly: what it reports, not how fast (speed is
/// for the benchmarks, never for a unit test on a shared machine).
@Suite("tabula bench")
struct BenchCommandTests {
    @Test func jsonReportHoldsEveryFigureAndSaysSimulated() async throws {
        // The engine comparison without examples or kernels: echo alone (compiles take seconds).
        let output = try await RunCommandTests.tabula([
            "bench", "--duration", "0.05", "--invocations", "200", "--clients", "4", "--json", "--examples", "/nonexistent", "--kernels", "/nonexistent",
        ])
        #expect(output.status == 0, "\(output.stderr)")
        guard case .object(let report) = try JSONValue(parsing: output.stdout) else {
            Issue.record("not a JSON object: \(output.stdout)")
            return
        }
        #expect(report["tee"] == "simulated")
        let positive = [
            "coldP50Us", "vanillaP50Us", "warmP50Us", "rewindP50Us", "httpThroughputRps", "httpP99Ms", "warmConfidentialP50Us",
            "keyAgreementP50Us", "receiptSignatureP50Us", "confidentialFloorUs", "httpCpuPerInvocationUs", "fullCopyP50Us", "warmConfidentialSignedP50Us",
        ]
        func number(_ key: String) -> Double? {
            switch report[key] {
            case .integer(let value)?: Double(value)
            case .number(let value)?: value
            default: nil
            }
        }
        for key in positive {
            #expect((number(key) ?? 0) > 0, "\(key) is missing or not positive")
        }
        // The overhead is a difference of medians, so it may be anything; it must be there and be it.
        if let overhead = number("confidentialOverheadP50Us"), let confidential = number("warmConfidentialP50Us"), let agreement = number("keyAgreementP50Us"), let warm = number("warmP50Us") {
            #expect(abs(overhead - (confidential - agreement - warm)) < 0.05)
        } else {
            Issue.record("confidentialOverheadP50Us is missing")
        }
        guard case .object(let engines)? = report["engines"] else {
            Issue.record("no engine comparison: \(output.stdout)")
            return
        }
        for key in ["coldNativeUncachedP50Ms", "coldNativeCachedP50Ms", "coldInterpreterP50Ms", "warmEchoNativeP50Us", "warmEchoInterpreterP50Us", "runawayMedianMs"] {
            let value: Double? = switch engines[key] {
            case .integer(let value)?: Double(value)
            case .number(let value)?: value
            default: nil
            }
            #expect((value ?? 0) > 0, "engines.\(key) is missing or not positive")
        }
        // The rewind figure is for a call that writes 4 pages: at least those are restored.
        #expect((number("rewindPages") ?? 0) >= 4)
        #expect(report["httpClients"] == 4)
        #expect(report["memoryInvocations"] == 200)
    }

    @Test func refusesANonPositiveDuration() async throws {
        let output = try await RunCommandTests.tabula(["bench", "--duration", "0"])
        #expect(output.status != 0)
        #expect(output.stderr.contains("--duration must be a positive number of seconds"))
    }
}
