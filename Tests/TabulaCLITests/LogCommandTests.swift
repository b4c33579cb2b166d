import Foundation
import Testing

/// `tabula log verify` against a real server: the tree head checked against the attested enclave,
/// consistency with the head kept from the last run, inclusion of a function certificate, and a
/// kept head the log does not extend refused.
@Suite("tabula log verify, live", .serialized)
struct LogCommandTests {
    @Test func theLogIsVerifiedGrowsAndHoldsTheFunctionsCertificate() async throws {
        let server = try await ServerProcess(arguments: ["--tee", "simulated", "--isolation", "process", "--no-native"])
        defer { _ = server.terminate(); server.removeData() }
        let environment = ["TABULA_CONFIG_DIR": server.dataDirectory.path, "TABULA_APIHOST": server.apiHost.absoluteString]
        #expect(try await RunCommandTests.tabula(["action", "create", "echo", "examples/echo.wat"], environment: environment).status == 0)

        let first = try await RunCommandTests.tabula(["log", "verify", "--allow-simulated"], environment: environment)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("signed by the attested enclave") && first.stdout.contains("first head seen") && first.stdout.contains("SIMULATED"))
        // Without --allow-simulated, nothing is believed.
        let refused = try await RunCommandTests.tabula(["log", "verify"], environment: environment)
        #expect(refused.status != 0 && refused.stderr.contains("simulated"))

        let second = try await RunCommandTests.tabula(["log", "verify", "--allow-simulated", "--function", "echo"], environment: environment)
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stdout.contains("extends the log of 2 entries") && second.stdout.contains("the function certificate of echo"), "\(second.stdout)")
        let json = try await RunCommandTests.tabula(["log", "verify", "--allow-simulated", "--function", "echo", "--json"], environment: environment)
        #expect(json.status == 0 && json.stdout.contains("\"leafIndex\":2") && json.stdout.contains("\"consistentWith\":3"), "\(json.stdout)")

        // A kept head that this log does not extend (another history) is refused.
        let kept = server.dataDirectory.appendingPathComponent("log-heads.json")
        var heads = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: kept)) as? [String: [String: Any]])
        for key in heads.keys {
            heads[key]?["root"] = Array(repeating: 7, count: 32)
        }
        try JSONSerialization.data(withJSONObject: heads).write(to: kept)
        let forked = try await RunCommandTests.tabula(["log", "verify", "--allow-simulated"], environment: environment)
        #expect(forked.status != 0 && forked.stderr.contains("does not extend"), "\(forked.stdout) \(forked.stderr)")
    }
}
