import Foundation
import Testing
@testable import TabulaAttestation

@Suite("TCB status")
struct TCBStatusTests {
    @Test("a component's status converges into the platform's as Intel's verifier does")
    func convergence() {
        #expect(TCBStatus.upToDate.converged(withComponent: .upToDate) == .upToDate)
        #expect(TCBStatus.upToDate.converged(withComponent: .outOfDate) == .outOfDate)
        #expect(TCBStatus.swHardeningNeeded.converged(withComponent: .outOfDate) == .outOfDate)
        #expect(TCBStatus.configurationNeeded.converged(withComponent: .outOfDate) == .outOfDateConfigurationNeeded)
        #expect(TCBStatus.configurationAndSWHardeningNeeded.converged(withComponent: .outOfDate) == .outOfDateConfigurationNeeded)
        #expect(TCBStatus.outOfDate.converged(withComponent: .outOfDate) == .outOfDate)
        for status in TCBStatus.allCases {
            #expect(status.converged(withComponent: .revoked) == .revoked)
        }
    }

    static func intel(_ status: TCBStatus?, tee: String = "tdx") -> Evidence.Claims {
        Evidence.Claims(tee: tee, version: 4, reportData: [], measurement: [1], debug: false, tcbStatus: status)
    }

    @Test("without a list, a quote with a TCB status must be UpToDate; one without passes")
    func defaultPolicy() {
        #expect(AppraisalPolicy().appraise(Self.intel(.upToDate)).isEmpty)
        #expect(AppraisalPolicy().appraise(Self.intel(nil)).isEmpty)
        for status in TCBStatus.allCases where status != .upToDate {
            #expect(AppraisalPolicy().appraise(Self.intel(status, tee: "sgx")).count == 1, "\(status)")
        }
    }

    @Test("a list accepts its statuses and requires collateral")
    func acceptedList() {
        let policy = AppraisalPolicy(acceptedTCBStatuses: ["UpToDate", "SWHardeningNeeded"])
        #expect(policy.appraise(Self.intel(.swHardeningNeeded)).isEmpty)
        #expect(policy.appraise(Self.intel(.outOfDate)).first?.contains("OutOfDate") == true)
        #expect(policy.appraise(Self.intel(nil)).first?.contains("collateral") == true)
        // Other kinds have no Intel TCB status to require.
        #expect(policy.appraise(Evidence.Claims(tee: "sev-snp", version: 2, reportData: [], measurement: [1], debug: false)).isEmpty)
        // A misspelt status would silently refuse everything: it is a reason of its own.
        let typo = AppraisalPolicy(acceptedTCBStatuses: ["Uptodate"])
        #expect(typo.appraise(Self.intel(.upToDate)).contains { $0.contains("unknown TCB statuses Uptodate") })
    }

    @Test("a minimum SEV-SNP TCB refuses any component below it")
    func snpMinimum() throws {
        let claims = Evidence.Claims(
            tee: "sev-snp", version: 2, reportData: [], measurement: [1], debug: false,
            snpTCB: SNPTCBVersion(bootloader: 2, tee: 0, snp: 5, microcode: 68))
        #expect(AppraisalPolicy(minimumSNPTCB: SNPTCBVersion(bootloader: 2, tee: 0, snp: 5, microcode: 68)).appraise(claims).isEmpty)
        let reasons = AppraisalPolicy(minimumSNPTCB: SNPTCBVersion(bootloader: 3, tee: 0, snp: 8, microcode: 68)).appraise(claims)
        #expect(reasons == ["the SEV-SNP reported TCB is below the minimum: bootloader 2 < 3, SNP 5 < 8"])
        // The policy file spells it as JSON.
        let policy = try JSONDecoder().decode(
            AppraisalPolicy.self, from: Data(#"{"minimumSNPTCB": {"bootloader": 2, "tee": 0, "snp": 6, "microcode": 0}}"#.utf8))
        #expect(policy.appraise(claims) == ["the SEV-SNP reported TCB is below the minimum: SNP 5 < 6"])
    }

    @Test("Turin's TCB layout puts FMC first")
    func turinLayout() {
        let raw: UInt64 = 0x2A00_0000_0B05_0403
        #expect(SNPTCBVersion(raw: raw, product: .turin) == SNPTCBVersion(bootloader: 4, tee: 5, snp: 11, microcode: 42, fmc: 3))
        #expect(SNPTCBVersion(raw: raw, product: .genoa) == SNPTCBVersion(bootloader: 3, tee: 4, snp: 0, microcode: 42))
    }
}
