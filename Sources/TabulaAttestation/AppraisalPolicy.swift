/// What a verifier accepts beyond authentic evidence: a JSON document.
///
/// ```json
/// {"tees": ["tdx", "sev-snp"], "measurements": ["<hex>", …], "allowDebug": false, "allowSimulated": false}
/// ```
/// Every field is optional. The default refuses debug-mode TEEs and simulated evidence and accepts
/// any TEE kind and measurement.
public struct AppraisalPolicy: Codable, Sendable, Hashable {
    /// TEE kinds accepted (`sgx`, `tdx`, `sev-snp`, `simulated`); all when absent.
    public var tees: [String]?
    /// Reference measurements (hex); any when absent.
    public var measurements: [String]?
    public var allowDebug: Bool?
    public var allowSimulated: Bool?

    public init(tees: [String]? = nil, measurements: [String]? = nil, allowDebug: Bool? = nil, allowSimulated: Bool? = nil) {
        self.tees = tees
        self.measurements = measurements
        self.allowDebug = allowDebug
        self.allowSimulated = allowSimulated
    }

    /// The reasons the claims fail the policy; empty when they pass.
    public func appraise(_ claims: Evidence.Claims) -> [String] {
        var reasons: [String] = []
        if let tees, !tees.contains(claims.tee) {
            reasons.append("the TEE kind \(claims.tee) is not one of \(tees.joined(separator: ", "))")
        }
        if claims.tee == "simulated", allowSimulated != true {
            reasons.append("the evidence is simulated (no TEE hardware); allow it only for development")
        }
        if claims.debug, allowDebug != true {
            reasons.append("the TEE runs in debug mode, so its memory is readable by the host")
        }
        if let measurements, !measurements.map({ $0.lowercased() }).contains(claims.measurement.hex) {
            reasons.append("the measurement \(claims.measurement.hex) is not one of the reference measurements")
        }
        return reasons
    }
}
