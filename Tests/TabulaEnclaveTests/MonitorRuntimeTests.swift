import Foundation
import TabulaAttestation
import TabulaEnclave
import TabulaTestSupport
import Testing

/// The monitor's identity certificates state how the enclave runs tenant code (issue #13, item 7).
@Suite("Monitor: the attested runtime")
struct MonitorRuntimeTests {
    static var requireWorkers: AppraisalPolicy {
        var policy = AppraisalPolicy(allowSimulated: true)
        policy.requireWorkers()
        return policy
    }

    @Test("a monitor started for workers states it in every identity certificate, which a policy requiring workers accepts")
    func workersMonitorPasses() async throws {
        let monitor = try await Monitor.start(provider: SimulatedTEE.ephemeral(), isolation: .workers(executable: "/nonexistent/tabula"))
        #expect(monitor.runtime == RuntimeClaims(isolation: "workers", confinement: "seccomp-bpf", engine: "wasmkit-interpreter", engineVersion: "0.4.2"))
        for nonce in [nil, [UInt8]([9, 9])] {
            let bundle = try await monitor.bundle(nonce: nonce)
            let verified = try await IdentityCertificate.verify(Array(bundle.certificate.utf8), nonce: nonce, at: Date())
            #expect(verified.claims.runtime == monitor.runtime)
            #expect(Self.requireWorkers.appraise(verified.claims).isEmpty)
        }
    }

    @Test("a monitor started in-process (the default) states it, and a policy requiring workers refuses it with what to do")
    func inProcessMonitorIsRefused() async throws {
        let monitor = try await Monitor.start(provider: SimulatedTEE.ephemeral())
        let bundle = try await monitor.bundle(nonce: [1])
        let verified = try await IdentityCertificate.verify(Array(bundle.certificate.utf8), nonce: [1], at: Date())
        #expect(verified.claims.runtime?.isolation == "in-process")
        #expect(verified.claims.runtime?.confinement == nil)
        #expect(Self.requireWorkers.appraise(verified.claims) == [
            "the enclave runs tenant code in-process, beside its keys, which the policy does not accept (accepted: workers); the server must run with tabula serve --isolation workers"
        ])
        #expect(AppraisalPolicy(allowSimulated: true).appraise(verified.claims).isEmpty)
    }

    /// The engine version is a constant (WasmKit has none at run time): it must follow the pin.
    @Test("the attested engine version is the WasmKit version Package.resolved pins")
    func engineVersionFollowsThePin() throws {
        let resolved = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Package.resolved")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: resolved)) as? [String: Any])
        let pins = try #require(json["pins"] as? [[String: Any]])
        let wasmkit = try #require(pins.first { ($0["identity"] as? String) == "wasmkit" })
        let version = try #require((wasmkit["state"] as? [String: Any])?["version"] as? String)
        #expect(Isolation.inProcess.runtimeClaims.engineVersion == version)
        #expect(Isolation.workers(executable: "/x").runtimeClaims.engineVersion == version)
    }
}
