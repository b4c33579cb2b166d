import Crypto
import Foundation
import TabulaAttestation
import TabulaClient
import TabulaWire
import Testing

/// The real server states how it runs tenant code in its attestation; the SDK and the CLI can
/// require workers (issue #13, item 7).
@Suite("attestation states the isolation, live", .serialized)
struct AttestRuntimeTests {
    @Test("tabula serve (workers by default): attest show prints the isolation and engine, --require-workers passes; the SDK agrees")
    func workersServerPasses() async throws {
        let server = try await ServerProcess()
        defer { _ = server.terminate(); server.removeData() }
        let environment = ["TABULA_CONFIG_DIR": server.dataDirectory.path, "TABULA_APIHOST": server.apiHost.absoluteString]
        let show = try await RunCommandTests.tabula(["attest", "show", "--allow-simulated", "--require-workers", "--json"], environment: environment)
        #expect(show.status == 0, "\(show.stderr)")
        let report = try JSONValue(parsing: show.stdout)
        #expect(report["isolation"] == "workers")
        #expect(report["confinement"] == "seccomp-bpf")
        // The server compiles functions to native code by default, and says so.
        #expect(report["engine"] == "tabula-native+wasmkit-interpreter")
        #expect(report["engineVersion"] == "0.4.2")
        let text = try await RunCommandTests.tabula(["attest", "show", "--allow-simulated"], environment: environment)
        #expect(text.stdout.contains("tenant code: workers (seccomp-bpf), tabula-native+wasmkit-interpreter 0.4.2"), "\(text.stdout)")

        let client = Client(apiHost: server.apiHost, auth: try Credentials(parsing: try server.auth))
        var policy = AppraisalPolicy(allowSimulated: true)
        policy.requireWorkers()
        let enclave = try await client.attest(policy: policy)
        #expect(enclave.runtime?.isolation == "workers")
    }

    @Test("tabula serve --isolation process: --require-workers refuses it and says why; without it, it passes and says in-process")
    func inProcessServerIsRefused() async throws {
        let server = try await ServerProcess(arguments: ["--isolation", "process"])
        defer { _ = server.terminate(); server.removeData() }
        let environment = ["TABULA_CONFIG_DIR": server.dataDirectory.path, "TABULA_APIHOST": server.apiHost.absoluteString]
        let refused = try await RunCommandTests.tabula(["attest", "show", "--allow-simulated", "--require-workers"], environment: environment)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("runs tenant code in-process, beside its keys"), "\(refused.stderr)")
        let plain = try await RunCommandTests.tabula(["attest", "show", "--allow-simulated", "--json"], environment: environment)
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(try JSONValue(parsing: plain.stdout)["isolation"] == "in-process")

        let client = Client(apiHost: server.apiHost, auth: try Credentials(parsing: try server.auth))
        var policy = AppraisalPolicy(allowSimulated: true)
        policy.requireWorkers()
        let error = await #expect(throws: ClientError.self) { try await client.attest(policy: policy) }
        #expect(error?.code == .attestationFailed)
        #expect(error?.message.contains("in-process") == true)
    }

    @Test("tabula attest verify CERT --require-workers: passes a certificate stating workers, refuses in-process and one that states nothing")
    func verifyRequiresWorkers() async throws {
        let now = Date()
        func certificate(_ runtime: RuntimeClaims?) async throws -> URL {
            let issued = try await IdentityCertificate.issue(
                identityKey: P256.Signing.PrivateKey(), provider: SimulatedTEE.ephemeral(), nonce: nil, runtime: runtime,
                notValidBefore: now.addingTimeInterval(-60), notValidAfter: now.addingTimeInterval(3600))
            let url = FileManager.default.temporaryDirectory.appendingPathComponent("runtime-\(UUID().uuidString).pem")
            try Data(issued.pem.utf8).write(to: url)
            return url
        }
        let workers = try await certificate(RuntimeClaims(isolation: "workers", confinement: "seccomp-bpf", engine: "wasmkit-interpreter", engineVersion: "0.4.2"))
        let inProcess = try await certificate(RuntimeClaims(isolation: "in-process", engine: "wasmkit-interpreter", engineVersion: "0.4.2"))
        let silent = try await certificate(nil)
        defer { for url in [workers, inProcess, silent] { try? FileManager.default.removeItem(at: url) } }
        func verify(_ url: URL) async throws -> (status: Int32, report: JSONValue) {
            let output = try await RunCommandTests.tabula(["attest", "verify", url.path, "--allow-simulated", "--require-workers", "--json", "--at", ISO8601DateFormatter().string(from: now)])
            return (output.status, (try? JSONValue(parsing: output.stdout)) ?? .null)
        }
        let passed = try await verify(workers)
        #expect(passed.status == 0)
        #expect(passed.report["isolation"] == "workers" && passed.report["engine"] == "wasmkit-interpreter")
        let refused = try await verify(inProcess)
        #expect(refused.status == 1)
        #expect(refused.report["verified"] == true && refused.report["policy"] == "fail" && refused.report["isolation"] == "in-process")
        #expect(refused.report["reasons"]?.encodedString.contains("in-process, beside its keys") == true)
        let unstated = try await verify(silent)
        #expect(unstated.status == 1)
        #expect(unstated.report["reasons"]?.encodedString.contains("does not state how the enclave runs tenant code") == true)
    }
}
