/// How current an Intel platform's trusted computing base is, as Intel's TCB info rates it.
///
/// The raw values are Intel's own names (PCS API v4, TCB info `tcbStatus`), so that they read the same in
/// a policy file, in `tabula attest verify --json` and in Intel's documentation.
public enum TCBStatus: String, Sendable, Hashable, Codable, CaseIterable {
    /// The TCB is at the latest level.
    case upToDate = "UpToDate"
    /// The TCB is at the latest level, but the enclave software must mitigate some issues itself.
    case swHardeningNeeded = "SWHardeningNeeded"
    /// The TCB is at the latest level, but the platform's configuration (e.g. BIOS settings) needs changes.
    case configurationNeeded = "ConfigurationNeeded"
    /// Both of the above.
    case configurationAndSWHardeningNeeded = "ConfigurationAndSWHardeningNeeded"
    /// The TCB is below the latest level: a microcode, firmware or QE update is due.
    case outOfDate = "OutOfDate"
    /// Out of date, and the configuration needs changes too.
    case outOfDateConfigurationNeeded = "OutOfDateConfigurationNeeded"
    /// TDX: the platform was updated since the TD launched; relaunching the TD brings it up to date.
    case tdRelaunchAdvised = "TDRelaunchAdvised"
    /// TDX: relaunch advised, and the configuration needs changes.
    case tdRelaunchAdvisedConfigurationNeeded = "TDRelaunchAdvisedConfigurationNeeded"
    /// The TCB is revoked: its keys must not be trusted.
    case revoked = "Revoked"

    /// Whether the status says the platform's configuration needs changes.
    var needsConfiguration: Bool {
        switch self {
        case .configurationNeeded, .configurationAndSWHardeningNeeded, .outOfDateConfigurationNeeded,
            .tdRelaunchAdvisedConfigurationNeeded:
            true
        default:
            false
        }
    }

    /// A status named in collateral, or an error naming it (Intel's verifier refuses unknown statuses too).
    init(collateral name: String, in what: String) throws(AttestationError) {
        guard let status = TCBStatus(rawValue: name) else {
            throw AttestationError(.malformed, "\(what): unrecognised TCB status \"\(name)\"")
        }
        self = status
    }

    /// The platform status after combining it with the status of a component it relies on (the QE, or
    /// the TDX module), as Intel's verifier converges them: a component out of date makes an otherwise
    /// current platform out of date, and a revoked component revokes the whole.
    func converged(withComponent component: TCBStatus) -> TCBStatus {
        switch component {
        case .revoked:
            return .revoked
        case .outOfDate:
            switch self {
            case .upToDate, .swHardeningNeeded: return .outOfDate
            case .configurationNeeded, .configurationAndSWHardeningNeeded: return .outOfDateConfigurationNeeded
            default: return self
            }
        default:
            return self
        }
    }
}
