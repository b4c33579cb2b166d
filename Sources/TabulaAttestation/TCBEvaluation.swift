public import Foundation

/// What Intel's collateral says about the platform that produced a verified quote.
public struct TCBEvaluation: Sendable, Hashable, Codable {
    /// The overall status, as Intel's verifier converges it: the platform's TCB level, the TDX
    /// module's (TDX) and the Quoting Enclave's (when a QE identity was given).
    public var status: TCBStatus
    /// The status of the TCB level the platform matched in the TCB info, before convergence.
    public var platformStatus: TCBStatus
    /// The status of the Quoting Enclave's security version; nil without a QE identity.
    public var qeStatus: TCBStatus?
    /// The status of the TDX module's security version; nil for SGX, or when the module reports version 0.
    public var tdxModuleStatus: TCBStatus?
    /// Intel security advisories that apply (INTEL-SA-…), from the matched levels.
    public var advisoryIDs: [String]
    /// The date of the matched TCB level.
    public var tcbDate: String?
    /// When the earliest of the collateral documents used must be replaced by a newer one.
    public var nextUpdate: Date
}
