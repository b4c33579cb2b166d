public import Crypto
public import Foundation
public import TabulaAttestation

/// What the key broker enforces: which TEEs get which resources, how key epochs turn, who may
/// change the manifest, and who can recover the broker's state.
///
/// ```json
/// {"version": 1,
///  "classes": [{"name": "nodes", "policy": {"tees": ["tdx"], "measurements": ["<hex>"], "acceptedTCBStatuses": ["UpToDate"]},
///               "resources": ["tabula/gateway/keys", "tabula/secrets/*"]},
///              {"name": "brokers", "policy": {…}, "resources": ["tabula/broker/state-key"]}],
///  "keys": {"rotationSeconds": 3600, "graceSeconds": 600},
///  "updaters": [{"name": "ops", "key": "-----BEGIN PUBLIC KEY-----…"}], "threshold": 1,
///  "recovery": [{"name": "alice", "key": {"kty": "EC", "crv": "P-256", "x": "…", "y": "…"}}]}
/// ```
/// A TEE gets the resources of every class whose policy (``AppraisalPolicy``: TEE kinds,
/// measurements, minimum TCB, debug, simulated) its evidence satisfies. A resource pattern ending
/// in `*` matches any last path segment. The manifest is replaced only by a newer version signed
/// by `threshold` of the current manifest's `updaters`, over the current manifest's hash and the new
/// bytes (``Manifest/verifyUpdate(_:signatures:current:)``).
public struct Manifest: Codable, Sendable, Hashable {
    /// A group of TEEs with one set of reference values and the resources they may get.
    public struct TEEClass: Codable, Sendable, Hashable {
        public var name: String
        public var policy: AppraisalPolicy
        public var resources: [String]

        public init(name: String, policy: AppraisalPolicy, resources: [String]) {
            self.name = name
            self.policy = policy
            self.resources = resources
        }
    }

    /// How the gateway key epochs turn.
    public struct Keys: Codable, Sendable, Hashable {
        public var rotationSeconds: Int
        public var graceSeconds: Int

        public init(rotationSeconds: Int = 3600, graceSeconds: Int = 600) {
            self.rotationSeconds = rotationSeconds
            self.graceSeconds = graceSeconds
        }
    }

    /// Someone whose signature counts toward a manifest update: a P-256 public key, PEM.
    public struct Updater: Codable, Sendable, Hashable {
        public var name: String
        public var key: String

        public init(name: String, key: String) {
            self.name = name
            self.key = key
        }
    }

    /// A holder of a recovery share: the state key is split between all of them.
    public struct RecoveryHolder: Codable, Sendable, Hashable {
        public var name: String
        public var key: JWK

        public init(name: String, key: JWK) {
            self.name = name
            self.key = key
        }
    }

    public var version: Int
    public var classes: [TEEClass]
    public var keys: Keys
    public var updaters: [Updater]
    public var threshold: Int
    public var recovery: [RecoveryHolder]

    public init(version: Int = 1, classes: [TEEClass], keys: Keys = Keys(), updaters: [Updater] = [], threshold: Int = 1, recovery: [RecoveryHolder] = []) {
        self.version = version
        self.classes = classes
        self.keys = keys
        self.updaters = updaters
        self.threshold = threshold
        self.recovery = recovery
    }

    /// The resource a node fetches for the cluster's identity key and key epochs.
    public static let gatewayKeys = "tabula/gateway/keys"
    /// The resource of one namespace's secrets: `tabula/secrets/<namespace>`.
    public static func secrets(namespace: String) -> String { "tabula/secrets/\(namespace)" }
    /// The resource another broker instance fetches to open the shared state.
    public static let stateKey = "tabula/broker/state-key"

    /// Parses and checks a manifest.
    public static func decode(_ bytes: [UInt8]) throws(BrokerError) -> Manifest {
        let manifest: Manifest
        do {
            manifest = try JSONDecoder().decode(Manifest.self, from: Data(bytes))
        } catch {
            throw BrokerError(.invalidManifest, "the manifest is not the JSON docs/broker.md describes: \(error)")
        }
        try manifest.check()
        return manifest
    }

    /// Refuses a manifest that cannot work: no class, an empty name, keys that never rotate, a
    /// threshold the updaters cannot reach, an updater key that is not P-256.
    public func check() throws(BrokerError) {
        guard version >= 1 else { throw BrokerError(.invalidManifest, "the manifest's version must be 1 or more") }
        guard !classes.isEmpty else { throw BrokerError(.invalidManifest, "the manifest names no TEE class, so nothing could ever be released") }
        for teeClass in classes where teeClass.name.isEmpty || teeClass.name.contains(",") || teeClass.resources.isEmpty {
            throw BrokerError(.invalidManifest, "every class needs a name (without commas) and at least one resource")
        }
        guard Set(classes.map(\.name)).count == classes.count, Set(updaters.map(\.name)).count == updaters.count,
              Set(updaters.map(\.key)).count == updaters.count, Set(recovery.map(\.name)).count == recovery.count,
              Set(recovery.map(\.key)).count == recovery.count
        else {
            throw BrokerError(.invalidManifest, "class, updater and recovery holder names, and updater and holder keys, must each be distinct")
        }
        guard keys.rotationSeconds >= 60, keys.graceSeconds >= 0 else {
            throw BrokerError(.invalidManifest, "keys.rotationSeconds must be at least 60 and keys.graceSeconds not negative")
        }
        guard updaters.isEmpty || (1...updaters.count).contains(threshold) else {
            throw BrokerError(.invalidManifest, "the threshold \(threshold) is not between 1 and the number of updaters (\(updaters.count))")
        }
        for updater in updaters where (try? P256.Signing.PublicKey(pemRepresentation: updater.key)) == nil {
            throw BrokerError(.invalidManifest, "the updater \(updater.name)'s key is not a P-256 public key in PEM")
        }
        for holder in recovery {
            do { _ = try holder.key.p256() } catch { throw BrokerError(.invalidManifest, "the recovery holder \(holder.name)'s key is not an EC P-256 JWK: \(error.message)") }
        }
    }

    /// The classes whose policies the claims satisfy, or the reasons each class refused them.
    public func classify(_ claims: Evidence.Claims) -> Result<[TEEClass], BrokerError> {
        var refusals: [String] = []
        var matched: [TEEClass] = []
        for teeClass in classes {
            let reasons = teeClass.policy.appraise(claims)
            if reasons.isEmpty {
                matched.append(teeClass)
            } else {
                refusals.append("\(teeClass.name): \(reasons.joined(separator: "; "))")
            }
        }
        guard matched.isEmpty else { return .success(matched) }
        return .failure(BrokerError(.attestationRefused, "the evidence satisfies no class of the manifest (\(refusals.joined(separator: " | ")))"))
    }

    /// Where this manifest lets in TEEs that `policy` (a client's) would refuse, among the
    /// classes that get the cluster's keys or tenants' secrets; empty when it lets in none.
    ///
    /// A client that verified the broker checks this too: the broker's attestation says what it
    /// runs, the manifest says which nodes it trusts with the keys the client seals to.
    public func weaknesses(against policy: AppraisalPolicy) -> [String] {
        var found: [String] = []
        for teeClass in classes where teeClass.resources.contains(where: { $0 == Self.gatewayKeys || $0.hasPrefix("tabula/secrets/") }) {
            let admits = teeClass.policy
            if admits.allowSimulated == true, policy.allowSimulated != true {
                found.append("class \(teeClass.name) admits simulated evidence")
            }
            if admits.allowDebug == true, policy.allowDebug != true {
                found.append("class \(teeClass.name) admits debug-mode TEEs")
            }
            if let yours = policy.measurements {
                let mine = Set(yours.map { $0.lowercased() })
                if admits.measurements.map({ !Set($0.map { $0.lowercased() }).isSubset(of: mine) }) ?? true {
                    found.append("class \(teeClass.name) admits measurements outside your reference values")
                }
            }
            if let yours = policy.tees, admits.tees.map({ !Set($0).isSubset(of: Set(yours)) }) ?? true {
                found.append("class \(teeClass.name) admits TEE kinds outside \(yours.joined(separator: ", "))")
            }
            if let yours = policy.isolations, admits.isolations.map({ !Set($0).isSubset(of: Set(yours)) }) ?? true {
                found.append("class \(teeClass.name) does not require the isolation \(yours.joined(separator: ", ")) of its nodes")
            }
        }
        return found
    }

    /// Whether `teeClass` may get the resource at `path`.
    public static func allows(_ teeClass: TEEClass, _ path: String) -> Bool {
        teeClass.resources.contains { pattern in
            if pattern.hasSuffix("/*") {
                let prefix = pattern.dropLast()
                return path.hasPrefix(prefix) && !path.dropFirst(prefix.count).contains("/") && path.count > prefix.count
            }
            return pattern == path
        }
    }

    /// What an updater signs to replace `current` (the manifest in force, its exact bytes) by
    /// `next`: `"tabula manifest update v1" ‖ 0x00 ‖ SHA-256(current) ‖ next`.
    public static func updateMessage(current: [UInt8], next: [UInt8]) -> [UInt8] {
        Array("tabula manifest update v1".utf8) + [0] + KBSHash.sha256(current) + next
    }

    /// Checks an update to `bytes` (the new manifest's exact JSON): signed by ``threshold``
    /// distinct updaters of this manifest (ECDSA P-256/SHA-256 over the bytes, DER, base64),
    /// a valid manifest, and a higher version than this one (so that an old, signed manifest
    /// cannot be replayed).
    ///
    /// - Parameter current: this manifest's exact bytes: each signature covers
    ///   ``updateMessage(current:next:)``, so an update signed for one broker's manifest cannot be
    ///   replayed onto another's that shares updaters.
    public func verifyUpdate(_ bytes: [UInt8], signatures: [String], current: [UInt8]) throws(BrokerError) -> Manifest {
        let message = Self.updateMessage(current: current, next: bytes)
        guard !updaters.isEmpty else {
            throw BrokerError(.forbidden, "the current manifest names no updaters: it cannot be changed (start a new broker state instead)")
        }
        var signers = Set<String>()
        for text in signatures {
            guard let der = Data(base64Encoded: text), let signature = try? P256.Signing.ECDSASignature(derRepresentation: der) else {
                throw BrokerError(.invalidRequest, "a signature is not base64 of a DER ECDSA signature")
            }
            for updater in updaters {
                if let key = try? P256.Signing.PublicKey(pemRepresentation: updater.key), key.isValidSignature(signature, for: message) {
                    signers.insert(updater.name)
                }
            }
        }
        guard signers.count >= threshold else {
            throw BrokerError(.forbidden, "the update carries valid signatures of \(signers.count) updater(s) (\(signers.sorted().joined(separator: ", "))); the current manifest needs \(threshold)")
        }
        let next = try Manifest.decode(bytes)
        guard next.version > version else {
            throw BrokerError(.forbidden, "the new manifest's version \(next.version) is not above the current \(version): an old manifest cannot be replayed")
        }
        return next
    }
}
