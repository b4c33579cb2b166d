/// How an attested Tabula enclave runs its tenants' code: the layering a verifier may require.
///
/// The identity certificate carries it as a custom claim, `"tabula-runtime"`, in its RA-TLS claims
/// map (other RA-TLS verifiers ignore keys they do not know), so it is hashed into the evidence's
/// report data with the certificate's key: nobody without the TEE can change it, not even the holder
/// of the identity key, without new evidence. What it states is what the attested code (pinned by its
/// measurement) was started with; a verifier that pins the measurement and requires
/// ``isolation`` == ``workers`` knows that tenant code runs outside the monitor's process.
///
/// Encoded as a CBOR map with text keys: `"isolation"`, `"engine"`, `"engine-version"` (text), and
/// `"confinement"` (text) when there is one. Other keys are ignored, so that later versions may add
/// facts.
public struct RuntimeClaims: Codable, Sendable, Hashable {
    /// `workers` (confined worker processes, none holding a long-term key) or `in-process` (beside
    /// the monitor's keys); text, so that a verifier can name a value it does not know.
    public var isolation: String
    /// How workers are confined (`seccomp-bpf`: a system-call allow-list, `no_new_privs`, resource
    /// limits); nil when tenant code runs in the monitor's process.
    public var confinement: String?
    /// The WebAssembly engine, e.g. `wasmkit-interpreter`.
    public var engine: String
    /// The engine's version, e.g. `0.4.2`.
    public var engineVersion: String

    /// ``isolation`` of tenant code in confined worker processes.
    public static let workers = "workers"
    /// ``isolation`` of tenant code in the monitor's own process.
    public static let inProcess = "in-process"

    public init(isolation: String, confinement: String? = nil, engine: String, engineVersion: String) {
        self.isolation = isolation
        self.confinement = confinement
        self.engine = engine
        self.engineVersion = engineVersion
    }

    /// One line for people, e.g. `workers (seccomp-bpf), wasmkit-interpreter 0.4.2`.
    public var summary: String {
        let confined = confinement.map { "\(isolation) (\($0))" } ?? isolation
        return "\(confined), \(engine) \(engineVersion)"
    }

    /// The longest value read: each is a short name, printed by the CLI, so neither a long one nor
    /// a control character (a terminal escape) is accepted.
    static let maximumLength = 64

    /// The key of the custom claim in the identity certificate's claims map.
    static let claimKey = "tabula-runtime"

    /// The claim's value.
    var cbor: CBOR {
        var entries = [
            CBOR.Entry(.text("isolation"), .text(isolation)),
            CBOR.Entry(.text("engine"), .text(engine)),
            CBOR.Entry(.text("engine-version"), .text(engineVersion)),
        ]
        if let confinement { entries.append(CBOR.Entry(.text("confinement"), .text(confinement))) }
        return .map(entries)
    }

    /// Reads the claim; anything but a map of the texts above (printable ASCII, at most
    /// ``maximumLength`` bytes each) is `.malformed`.
    init(cbor value: CBOR) throws(AttestationError) {
        func bad(_ what: String) -> AttestationError {
            AttestationError(.malformed, "identity certificate: RA-TLS claims: \"\(Self.claimKey)\" \(what)")
        }
        guard case .map = value else { throw bad("is not a CBOR map") }
        func text(_ key: String) throws(AttestationError) -> String? {
            switch value[key] {
            case nil: return nil
            case .text(let text)? where text.utf8.count <= Self.maximumLength && text.utf8.allSatisfy({ (0x20...0x7E).contains($0) }):
                return text
            default: throw bad("has a \"\(key)\" that is not a text of at most \(Self.maximumLength) printable ASCII characters")
            }
        }
        guard let isolation = try text("isolation") else { throw bad("has no \"isolation\"") }
        guard let engine = try text("engine") else { throw bad("has no \"engine\"") }
        guard let engineVersion = try text("engine-version") else { throw bad("has no \"engine-version\"") }
        self.init(isolation: isolation, confinement: try text("confinement"), engine: engine, engineVersion: engineVersion)
    }
}
