/// What a verifier accepts beyond authentic evidence: a JSON document.
///
/// ```json
/// {"tees": ["tdx", "sev-snp"], "measurements": ["<hex>", …], "allowDebug": false, "allowSimulated": false,
///  "acceptedTCBStatuses": ["UpToDate", "SWHardeningNeeded"],
///  "minimumSNPTCB": {"bootloader": 4, "tee": 0, "snp": 22, "microcode": 213}, "isolations": ["workers"],
///  "engines": ["native"], "compilerDigests": ["<hex>", …], "minimumSimulatedTCB": 1}
/// ```
/// Every field is optional. The default refuses debug-mode TEEs and simulated evidence, accepts any
/// TEE kind and measurement, and, for Intel quotes verified with collateral, only the TCB status
/// `UpToDate`.
public struct AppraisalPolicy: Codable, Sendable, Hashable {
    /// TEE kinds accepted (`sgx`, `tdx`, `sev-snp`, `simulated`); all when absent.
    public var tees: [String]?
    /// Reference measurements (hex); any when absent.
    public var measurements: [String]?
    public var allowDebug: Bool?
    public var allowSimulated: Bool?
    /// Intel TCB statuses accepted (``TCBStatus`` raw values, e.g. `UpToDate`). When absent, a quote
    /// verified with Intel's TCB info must be `UpToDate` and one verified without passes; when set,
    /// every Intel quote must have been verified with a TCB info and have one of these statuses.
    public var acceptedTCBStatuses: [String]?
    /// The lowest SEV-SNP TCB accepted: each component of the reported TCB (which the VCEK or VLEK
    /// certificate vouches for) must be at least this; `fmc` applies to Turin and later only.
    public var minimumSNPTCB: SNPTCBVersion?
    /// The lowest TCB level accepted from simulated evidence (``SimulatedTEE/tcb``): the stand-in
    /// for a minimum firmware version on a machine without TEE hardware.
    public var minimumSimulatedTCB: Int?
    /// How tenant code may run (``RuntimeClaims/isolation``: `workers`, `in-process`), as Tabula's
    /// identity certificate states it; any when absent. When set, evidence that states nothing
    /// (bare evidence, another framework's certificate, a server from before the claim) fails.
    public var isolations: [String]?
    /// The engines a function may run with (``FunctionClaims/engine``: `native`, `interpreter`), as
    /// its function certificate states; any when absent. When set, a certificate that names no
    /// engine (a server from before the claim) fails.
    public var engines: [String]?
    /// The C compilers (hex SHA-256 of the executable, ``FunctionClaims/compilerDigest``) whose
    /// code is accepted for a function that runs native code; any when absent.
    public var compilerDigests: [String]?

    public init(
        tees: [String]? = nil, measurements: [String]? = nil, allowDebug: Bool? = nil, allowSimulated: Bool? = nil,
        acceptedTCBStatuses: [String]? = nil, minimumSNPTCB: SNPTCBVersion? = nil, isolations: [String]? = nil,
        engines: [String]? = nil, compilerDigests: [String]? = nil, minimumSimulatedTCB: Int? = nil
    ) {
        self.minimumSimulatedTCB = minimumSimulatedTCB
        self.engines = engines
        self.compilerDigests = compilerDigests
        self.tees = tees
        self.measurements = measurements
        self.allowDebug = allowDebug
        self.allowSimulated = allowSimulated
        self.acceptedTCBStatuses = acceptedTCBStatuses
        self.minimumSNPTCB = minimumSNPTCB
        self.isolations = isolations
    }

    /// A policy that accepts only enclaves running tenant code in confined workers (what
    /// `--require-workers` asks for).
    public mutating func requireWorkers() {
        isolations = [RuntimeClaims.workers]
    }

    /// The reasons a function certificate's claims fail the policy's `engines` and
    /// `compilerDigests`; empty when they pass.
    public func appraise(function claims: FunctionClaims) -> [String] {
        var reasons: [String] = []
        if let engines {
            if let engine = claims.engine {
                if !engines.contains(engine) {
                    reasons.append("the function runs with the \(engine) engine, which the policy does not accept (accepted: \(engines.joined(separator: ", ")))")
                }
            } else {
                reasons.append("the function certificate names no engine, and the policy accepts only \(engines.joined(separator: ", "))")
            }
        }
        if let compilerDigests, claims.engine == "native" {
            let digest = claims.compilerDigest ?? "none"
            if !compilerDigests.map({ $0.lowercased() }).contains(digest) {
                reasons.append("the function's native code was compiled by the compiler sha-256=\(digest), which the policy does not accept")
            }
        }
        return reasons
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
        reasons += appraiseTCB(claims)
        reasons += appraiseIsolation(claims.runtime)
        return reasons
    }

    private func appraiseIsolation(_ runtime: RuntimeClaims?) -> [String] {
        guard let isolations else { return [] }
        var reasons: [String] = []
        let known = [RuntimeClaims.workers, RuntimeClaims.inProcess]
        let unknown = isolations.filter { !known.contains($0) }
        if !unknown.isEmpty {
            reasons.append("the policy names unknown isolations \(unknown.joined(separator: ", ")) (known: \(known.joined(separator: ", ")))")
        }
        let accepted = isolations.joined(separator: ", ")
        if let runtime {
            if !isolations.contains(runtime.isolation) {
                reasons.append("the enclave runs tenant code \(runtime.isolation == RuntimeClaims.inProcess ? "in-process, beside its keys" : "with isolation \(runtime.isolation)"), which the policy does not accept (accepted: \(accepted))\(isolations.contains(RuntimeClaims.workers) ? "; the server must run with tabula serve --isolation workers" : "")")
            }
        } else {
            reasons.append("the evidence does not state how the enclave runs tenant code, and the policy requires isolation \(accepted): only the identity certificate of a Tabula server that states it (the \"tabula-runtime\" claim) can satisfy it")
        }
        return reasons
    }

    private func appraiseTCB(_ claims: Evidence.Claims) -> [String] {
        var reasons: [String] = []
        let unknown = (acceptedTCBStatuses ?? []).filter { TCBStatus(rawValue: $0) == nil }
        if !unknown.isEmpty {
            let known = TCBStatus.allCases.map(\.rawValue).joined(separator: ", ")
            reasons.append("the policy names unknown TCB statuses \(unknown.joined(separator: ", ")) (known: \(known))")
        }
        if claims.tee == "sgx" || claims.tee == "tdx" {
            let accepted = acceptedTCBStatuses ?? [TCBStatus.upToDate.rawValue]
            if let status = claims.tcbStatus {
                if !accepted.contains(status.rawValue) {
                    reasons.append("the TCB status \(status.rawValue) is not accepted (accepted: \(accepted.joined(separator: ", ")))")
                }
            } else if acceptedTCBStatuses != nil {
                reasons.append("the policy requires a TCB status, but the quote was verified without Intel's TCB info (give collateral)")
            }
        }
        if claims.tee == "simulated", let minimumSimulatedTCB {
            var level = 0
            if case .integer(let stated) = claims.fields["tcb"] { level = Int(stated) }
            if level < minimumSimulatedTCB {
                reasons.append("the simulated TCB level \(level) is below the minimum \(minimumSimulatedTCB)")
            }
        }
        if claims.tee == "sev-snp", let minimumSNPTCB {
            if let tcb = claims.snpTCB {
                let below = tcb.shortfalls(against: minimumSNPTCB)
                if !below.isEmpty {
                    reasons.append("the SEV-SNP reported TCB is below the minimum: \(below.joined(separator: ", "))")
                }
            } else {
                reasons.append("the SEV-SNP reported TCB is unknown")
            }
        }
        return reasons
    }
}
