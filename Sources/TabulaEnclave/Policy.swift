import Crypto
public import TabulaWire

/// What a function's owner allows, enforced by the enclave on every invocation.
///
/// The control plane reads the policy from the action's annotations and hands it to the enclave
/// with the module; its digest goes into the function certificate, so a client sees the policy it
/// is trusting. The owner's namespace may always invoke its functions.
public struct Policy: Sendable, Hashable {
    /// Namespaces besides the owner's that may invoke the function; `nil` or empty: the owner only.
    public var invokers: [String]?
    /// Refuse plain (unsealed) invocations: parameters must reach the function only through the
    /// enclave's end-to-end encryption.
    public var requireConfidential: Bool
    /// Sign every confidential invocation's receipt with the identity key, besides logging its
    /// commitment: for functions whose clients must show a receipt to someone who trusts no log.
    public var signedReceipts: Bool

    public init(invokers: [String]? = nil, requireConfidential: Bool = false, signedReceipts: Bool = false) {
        self.invokers = invokers
        self.requireConfidential = requireConfidential
        self.signedReceipts = signedReceipts
    }

    /// The `invokers` entry that lets every namespace invoke the function (as OpenWhisk lets anyone
    /// invoke the actions of a shared package).
    public static let everyone = "*"

    /// Whether `caller` may invoke a function that `owner` owns.
    public func allows(caller: String, owner: String) -> Bool {
        // By bytes, never canonical equivalence: names are compared as the store compares them.
        EntityName.same(caller, owner) || invokers?.contains { EntityName.same($0, caller) || $0 == Self.everyone } == true
    }

    /// Why the policy refuses an invocation.
    public enum Refusal: Sendable, Hashable {
        /// A plain invocation of a function whose policy requires sealed requests.
        case confidentialRequired
        /// A caller that is neither the owner nor among the invokers.
        case notAnInvoker

        /// The HTTP status that reports the refusal (both are 403, OpenWhisk's "forbidden").
        public var status: Int { 403 }

        /// What to tell the caller about `function`.
        public func message(caller: String, function: FunctionName) -> String {
            switch self {
            case .confidentialRequired:
                "The action \(function) accepts only confidential invocations: seal the request to the enclave (tabula action invoke does so unless --plain is given)."
            case .notAnInvoker:
                // OpenWhisk's words for a namespace it may not reach, then why.
                "The supplied authentication is not authorized to access '\(function.namespace)': the namespace \(caller) may not invoke \(function), the function's policy does not list it among its invokers."
            }
        }
    }

    /// The one check of an invocation against the policy, wherever it is made (the control plane
    /// before acknowledging, the enclave before running): `nil` when the invocation may run.
    ///
    /// - Parameters:
    ///   - caller: the namespace invoking.
    ///   - owner: the namespace that owns the function.
    ///   - sealed: whether the parameters came sealed to the enclave.
    public func refusal(caller: String, owner: String, sealed: Bool) -> Refusal? {
        if requireConfidential && !sealed { return .confidentialRequired }
        if !allows(caller: caller, owner: owner) { return .notAnInvoker }
        return nil
    }
}

extension FunctionDefinition {
    /// The policy, capabilities and limits as canonical JSON: what the policy digest covers.
    public var policyDocument: JSONValue {
        var capabilities: [JSONValue] = []
        if self.capabilities.contains(.clock) { capabilities.append("clock") }
        if self.capabilities.contains(.random) { capabilities.append("random") }
        var document: [String: JSONValue] = [
            "invokers": .array((policy.invokers ?? []).sorted().map(JSONValue.string)),
            "requireConfidential": .bool(policy.requireConfidential),
            "capabilities": .array(capabilities),
            "limits": limitsDocument,
        ]
        // Only when set, so that the digests of policies that never set it stay as they were.
        if policy.signedReceipts { document["signedReceipts"] = true }
        return .object(document)
    }

    /// The limits a client can see in the function certificate.
    public var limitsDocument: JSONValue {
        .object(limitsClaims.mapValues(JSONValue.integer))
    }

    var limitsClaims: [String: Int64] {
        var claims: [String: Int64] = [
            "timeout": limits.timeoutMilliseconds,
            "memory": Int64(limits.memory >> 20),
            "logs": Int64(limits.logs >> 20),
            "concurrency": Int64(maxSandboxes),
        ]
        if let fuel = limits.fuel { claims["fuel"] = Int64(clamping: fuel) }
        return claims
    }

    /// SHA-256 of ``policyDocument``'s canonical encoding.
    public var policyDigest: [UInt8] {
        Array(SHA256.hash(data: policyDocument.encoded))
    }
}
