import Foundation
import X509

extension Quote {
    /// Judges the TCB of a quote whose signatures and PCK chain already verified, with Intel's
    /// collateral, the way Intel's Quote Verification Library does (TcbLevelCheck, TdxModuleCheck,
    /// TDRelaunchCheck and the QE identity check):
    ///
    /// 1. The TCB info is signed by Intel's TCB Signing certificate, current at `time`, for this
    ///    platform's FMSPC and PCE ID, and of the quote's kind (`SGX`, or `TDX` for TDX quotes).
    /// 2. The platform's level is the first (newest) whose 16 SGX components and PCE SVN are all at most
    ///    the PCK certificate's; for TDX, also whose TDX components are at most the TD report's TEE TCB
    ///    SVN (skipping the first two, the module's, when the module version is not 0).
    /// 3. TDX: the TDX module's signer and attributes match the identity for its version, whose levels
    ///    rate the module's SVN; an out-of-date module makes the platform out of date. TDX 1.5 reports
    ///    (v5 body type 3) may then show that a relaunch of the TD would bring it up to date.
    /// 4. With a QE identity: the QE report is from the enclave it names, and its SVN is rated; an
    ///    out-of-date QE makes the platform out of date, a revoked one revokes it.
    func evaluate(
        _ collateral: IntelCollateral, pck: PCKExtension, offered: [Certificate], at time: Date
    ) async throws(AttestationError) -> TCBEvaluation {
        guard let signedTCBInfo = collateral.tcbInfo else {
            throw AttestationError(.unsupported, "collateral has no TCB info")
        }
        let info = try TCBInfo(json: try await collateral.verified(signedTCBInfo, "TCB info", offered: offered, at: time).json)
        try Self.checkPeriod("TCB info", issued: info.issueDate, next: info.nextUpdate, at: time)
        guard info.fmspc == Array(pck.fmspc) else {
            throw AttestationError(
                .bindingMismatch, "the TCB info is for FMSPC \(info.fmspc.hexString), but the PCK certificate's is \(Array(pck.fmspc).hexString)")
        }
        guard info.pceID == Array(pck.pceID) else {
            throw AttestationError(.bindingMismatch, "the TCB info is for PCE ID \(info.pceID.hexString), not the PCK certificate's")
        }
        let isTDX = tee == .tdx
        guard isTDX == (info.id == "TDX"), !isTDX || info.version >= 3 else {
            throw AttestationError(.bindingMismatch, "the TCB info is \(info.id) version \(info.version), which does not rate \(tee.rawValue) quotes")
        }
        guard pck.hasTCB else {
            throw AttestationError(.malformed, "the PCK certificate has no complete TCB (components 1-16 and PCE SVN)")
        }

        var qe: (status: TCBStatus, advisoryIDs: [String])?
        var nextUpdate = info.nextUpdate
        if let signedIdentity = collateral.qeIdentity {
            let identity = try EnclaveIdentity(
                json: try await collateral.verified(signedIdentity, "QE identity", offered: offered, at: time).json)
            try Self.checkPeriod("QE identity", issued: identity.issueDate, next: identity.nextUpdate, at: time)
            qe = try identity.evaluate(certification.qeReport, tee: tee)
            nextUpdate = min(nextUpdate, identity.nextUpdate)
        }

        let teeTcbSvn: [UInt8]?
        if case .tdx(let report) = body { teeTcbSvn = Array(report.teeTcbSvn) } else { teeTcbSvn = nil }
        var sgxLevel: TCBInfo.Level?
        var tdxLevel: TCBInfo.Level?
        for level in info.levels {
            guard zip(pck.tcbComponents, level.sgxComponents).allSatisfy({ $0 >= $1 }), pck.pceSVN >= level.pceSVN else { continue }
            guard let teeTcbSvn else {
                sgxLevel = level
                break
            }
            if sgxLevel == nil { sgxLevel = level }
            if Self.tdxAtLeast(teeTcbSvn, level) {
                tdxLevel = level
                break
            }
        }
        guard let sgxLevel else {
            throw AttestationError(
                .untrustedChain, "the platform's TCB (from its PCK certificate) is below every level of the TCB info: not supported")
        }
        var advisories = sgxLevel.advisoryIDs
        var status = sgxLevel.status
        var moduleStatus: TCBStatus?
        var matched = sgxLevel
        if let teeTcbSvn {
            guard let tdxLevel else {
                throw AttestationError(
                    .untrustedChain, "the TDX module's TCB (TEE TCB SVN \(teeTcbSvn.hexString)) is below every level of the TCB info: not supported")
            }
            matched = tdxLevel
            advisories = tdxLevel.advisoryIDs
            moduleStatus = try tdxModuleStatus(info, teeTcbSvn: teeTcbSvn)
            status = moduleStatus.map { tdxLevel.status.converged(withComponent: $0) } ?? tdxLevel.status
            if status != .revoked, bodyType == 3, case .tdx(let report) = body, let svn2 = report.teeTcbSvn2 {
                status = try relaunchStatus(
                    info, teeTcbSvn2: Array(svn2), sgx: sgxLevel.status, tdx: status, module: moduleStatus, qe: qe?.status)
            }
        }
        if let qe {
            status = status.converged(withComponent: qe.status)
            advisories += qe.advisoryIDs.filter { !advisories.contains($0) }
        }
        return TCBEvaluation(
            status: status, platformStatus: matched.status, qeStatus: qe?.status, tdxModuleStatus: moduleStatus,
            advisoryIDs: advisories, tcbDate: matched.date, nextUpdate: nextUpdate)
    }

    /// Collateral is valid from its issue date until its next update; after that Intel may have
    /// changed its verdict, so an old document must not vouch for a platform.
    private static func checkPeriod(_ what: String, issued: Date, next: Date, at time: Date) throws(AttestationError) {
        guard time >= issued else {
            throw AttestationError(.untrustedChain, "the \(what) was issued at \(issued), after the verification time \(time)")
        }
        guard time <= next else {
            throw AttestationError(
                .untrustedChain, "the \(what) expired at \(next) (its nextUpdate); fetch current collateral from Intel's PCS or a PCCS")
        }
    }

    /// Whether the TEE TCB SVN is at least the level's TDX components (Intel's isTdxTcbHigherOrEqual):
    /// when the module version (byte 1) is not 0, its first two bytes are rated by the module
    /// identity instead, and skipped here.
    private static func tdxAtLeast(_ teeTcbSvn: [UInt8], _ level: TCBInfo.Level) -> Bool {
        guard let components = level.tdxComponents else { return false }
        let start = teeTcbSvn[1] > 0 ? 2 : 0
        return (start..<16).allSatisfy { Int(teeTcbSvn[$0]) >= components[$0] }
    }

    /// The identity of the TDX module of version `version` ("TDX_03" for 3).
    private static func moduleIdentity(_ info: TCBInfo, version: UInt8) -> TCBInfo.ModuleIdentity? {
        let name = "TDX_" + [version].hexString.uppercased()
        return info.tdxModuleIdentities.first { $0.id.uppercased() == name }
    }

    /// The TDX module's status, after checking its signer and attributes; nil for module version 0,
    /// which Intel's verifier does not rate.
    private func tdxModuleStatus(_ info: TCBInfo, teeTcbSvn: [UInt8]) throws(AttestationError) -> TCBStatus? {
        guard case .tdx(let report) = body else { return nil }
        let version = teeTcbSvn[1]
        let identity = version == 0 ? info.tdxModule : Self.moduleIdentity(info, version: version)
        guard let identity else {
            throw AttestationError(.bindingMismatch, "the TCB info has no identity for TDX module version \(version)")
        }
        guard Array(report.mrSignerSeam) == identity.mrSigner else {
            throw AttestationError(.bindingMismatch, "the TDX module's signer (MRSIGNERSEAM) is not the one the TCB info names")
        }
        let attributes = zip(Array(report.seamAttributes), identity.attributesMask).map { $0 & $1 }
        guard attributes == identity.attributes else {
            throw AttestationError(.bindingMismatch, "the TDX module's attributes do not match the TCB info")
        }
        guard version != 0 else { return nil }
        guard let level = identity.levels.first(where: { Int(teeTcbSvn[0]) >= $0.isvSVN }) else {
            throw AttestationError(
                .untrustedChain, "the TDX module's SVN \(teeTcbSvn[0]) is below every level of \(identity.id): not supported")
        }
        return level.status
    }

    /// Intel's TD relaunch check for TDX 1.5: an out-of-date TD whose platform and module have
    /// since been updated (TEE TCB SVN 2 at the latest level) is "relaunch advised" instead.
    private func relaunchStatus(
        _ info: TCBInfo, teeTcbSvn2: [UInt8], sgx: TCBStatus, tdx: TCBStatus, module: TCBStatus?, qe: TCBStatus?
    ) throws(AttestationError) -> TCBStatus {
        guard qe != .outOfDate, qe != .revoked,
              [.upToDate, .swHardeningNeeded, .configurationNeeded, .configurationAndSWHardeningNeeded].contains(sgx),
              tdx == .outOfDate || tdx == .outOfDateConfigurationNeeded, module == .outOfDate,
              let latest = info.levels.first, let latestTDX = latest.tdxComponents
        else { return tdx }
        let updated: Bool
        if teeTcbSvn2[1] == 0 {
            updated = Int(teeTcbSvn2[0]) >= latestTDX[0] && Int(teeTcbSvn2[2]) >= latestTDX[2]
        } else {
            guard let identity = Self.moduleIdentity(info, version: teeTcbSvn2[1]) else {
                throw AttestationError(.bindingMismatch, "the TCB info has no identity for TDX module version \(teeTcbSvn2[1])")
            }
            guard let latestModule = identity.levels.first else { return tdx }
            updated = Int(teeTcbSvn2[0]) >= latestModule.isvSVN && Int(teeTcbSvn2[2]) >= latestTDX[2]
        }
        guard updated else { return tdx }
        return sgx.needsConfiguration || tdx.needsConfiguration ? .tdRelaunchAdvisedConfigurationNeeded : .tdRelaunchAdvised
    }
}

extension Array where Element == UInt8 {
    /// Lower-case hex, for messages.
    fileprivate var hexString: String { map { String(format: "%02x", $0) }.joined() }
}
