import Foundation
import Testing
import TabulaAttestation

@Suite("Appraisal policy")
struct AppraisalPolicyTests {
    private let claims = Evidence.Claims(tee: "tdx", version: 4, reportData: [], measurement: [0xAB, 0xCD], debug: false, fields: [:])

    @Test func defaultRefusesDebugAndSimulated() {
        #expect(AppraisalPolicy().appraise(claims).isEmpty)
        var debug = claims
        debug.debug = true
        #expect(AppraisalPolicy().appraise(debug).count == 1)
        #expect(AppraisalPolicy(allowDebug: true).appraise(debug).isEmpty)
        var simulated = claims
        simulated.tee = "simulated"
        #expect(AppraisalPolicy().appraise(simulated).count == 1)
        #expect(AppraisalPolicy(allowSimulated: true).appraise(simulated).isEmpty)
    }

    @Test func functionEnginesAndCompilers() {
        func function(engine: String?, compiler: String?) -> FunctionClaims {
            FunctionClaims(
                namespace: "n", name: "f", version: "0.0.1", moduleDigest: "00", policyDigest: "00", snapshotDigest: "00", limits: [:], epoch: 0,
                engine: engine, translator: engine == "native" ? "tabula-c/2" : nil, compilerDigest: compiler)
        }
        let native = function(engine: "native", compiler: "ab12")
        let interpreted = function(engine: "interpreter", compiler: nil)
        let old = function(engine: nil, compiler: nil)
        #expect(AppraisalPolicy().appraise(function: native).isEmpty)
        #expect(AppraisalPolicy().appraise(function: old).isEmpty)
        #expect(AppraisalPolicy(engines: ["native"]).appraise(function: native).isEmpty)
        #expect(AppraisalPolicy(engines: ["native"]).appraise(function: interpreted).count == 1)
        #expect(AppraisalPolicy(engines: ["native"]).appraise(function: old).first?.contains("names no engine") == true)
        #expect(AppraisalPolicy(compilerDigests: ["AB12"]).appraise(function: native).isEmpty)
        #expect(AppraisalPolicy(compilerDigests: ["cd34"]).appraise(function: native).first?.contains("ab12") == true)
        // The compiler matters only for native code.
        #expect(AppraisalPolicy(compilerDigests: ["cd34"]).appraise(function: interpreted).isEmpty)
    }

    @Test func kindsAndReferenceMeasurements() {
        #expect(AppraisalPolicy(tees: ["sev-snp"]).appraise(claims).count == 1)
        #expect(AppraisalPolicy(measurements: ["ABCD"]).appraise(claims).isEmpty)
        #expect(AppraisalPolicy(measurements: ["abce"]).appraise(claims).count == 1)
    }

    @Test("isolations: workers required; in-process refused with what to do; a claim-less evidence refused; unknown names reported")
    func isolations() throws {
        var workers = claims
        workers.runtime = RuntimeClaims(isolation: "workers", confinement: "seccomp-bpf", engine: "wasmkit-interpreter", engineVersion: "0.4.2")
        var inProcess = claims
        inProcess.runtime = RuntimeClaims(isolation: "in-process", engine: "wasmkit-interpreter", engineVersion: "0.4.2")
        var policy = AppraisalPolicy()
        #expect(policy.appraise(inProcess).isEmpty, "no requirement unless asked")
        #expect(policy.appraise(claims).isEmpty)
        policy.requireWorkers()
        #expect(policy.isolations == ["workers"])
        #expect(policy.appraise(workers).isEmpty)
        #expect(policy.appraise(inProcess) == [
            "the enclave runs tenant code in-process, beside its keys, which the policy does not accept (accepted: workers); the server must run with tabula serve --isolation workers"
        ])
        let silent = policy.appraise(claims)
        #expect(silent.count == 1 && silent[0].contains("does not state how the enclave runs tenant code"))
        #expect(AppraisalPolicy(isolations: ["workers", "in-process"]).appraise(inProcess).isEmpty)
        let typo = AppraisalPolicy(isolations: ["worker"]).appraise(workers)
        #expect(typo.count == 2 && typo[0].contains("unknown isolations worker"))
        // The JSON policy file names it as "isolations".
        let decoded = try JSONDecoder().decode(AppraisalPolicy.self, from: Data(#"{"isolations":["workers"],"allowSimulated":true}"#.utf8))
        #expect(decoded == AppraisalPolicy(allowSimulated: true, isolations: ["workers"]))
    }
}
