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

    @Test func kindsAndReferenceMeasurements() {
        #expect(AppraisalPolicy(tees: ["sev-snp"]).appraise(claims).count == 1)
        #expect(AppraisalPolicy(measurements: ["ABCD"]).appraise(claims).isEmpty)
        #expect(AppraisalPolicy(measurements: ["abce"]).appraise(claims).count == 1)
    }
}
