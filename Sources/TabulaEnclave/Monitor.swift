public import Crypto
public import Foundation
import Synchronization
public import TabulaAttestation
public import TabulaLog
public import TabulaWire

/// The enclave's monitor: the only holder of its long-term keys and of its attestation.
///
/// It holds an identity signing key (P-256), made fresh at every start and bound to the TEE's
/// evidence through the identity certificate, and the HPKE keys that clients seal requests to.
/// HPKE keys live in epochs: a new epoch (new keys, new key ids) starts every ``Configuration/rotation``;
/// the previous epoch's keys still open requests for ``Configuration/grace`` after it ended, then
/// are dropped. Each epoch remembers the requests it opened, so a replayed request is refused.
/// Nothing outside this type can read a private key: the rest of the enclave asks it to open,
/// sign and issue.
public final class Monitor: Sendable {
    public struct Configuration: Sendable {
        /// How long an epoch's keys are current.
        public var rotation: Duration
        /// How long after its epoch ended a key still opens requests (clients with a stale bundle).
        public var grace: Duration
        /// How long the identity certificate is valid.
        public var validity: Duration

        public init(rotation: Duration = .seconds(3600), grace: Duration = .seconds(600), validity: Duration = .seconds(86_400 * 365)) {
            self.rotation = rotation
            self.grace = grace
            self.validity = validity
        }
    }

    /// `sgx`, `tdx`, `sev-snp`, or `simulated`.
    public var tee: String { provider.tee }
    /// How the enclave runs tenant code, as every identity certificate of this monitor states it.
    public let runtime: RuntimeClaims
    /// The identity certificate without a nonce: made at start, and again when the monitor adopts
    /// a cluster's identity key from a key broker.
    public var identity: IdentityCertificate.Issued { signer.withLock { $0.certificate } }
    public let configuration: Configuration
    /// When the identity certificate, and every certificate it issues, expires.
    public let notValidAfter: Date
    let started: Date
    private let provider: any TEEProvider
    private let signer: Mutex<Signer>
    private let keyring: Mutex<Keyring>
    private let clock: @Sendable () -> Date
    private let processCacheKey = (0..<32).map { _ in UInt8.random(in: 0...UInt8.max) }
    /// The log's tag key, made once: the process's, and the cluster's once adopted.
    private let logTagKeys = Mutex<[[UInt8]: SymmetricKey]>([:])

    /// Starts a monitor: a new identity key, its certificate with fresh evidence, the first epoch.
    ///
    /// - Parameters:
    ///   - isolation: how the enclave this monitor serves runs tenant code; its identity
    ///     certificates state it (``RuntimeClaims``), so give the isolation the enclave is made
    ///     with. The default, in-process, never claims more than an enclave does.
    ///   - engines: the engines of the enclave this monitor serves, stated beside the isolation.
    ///   - clock: the time source; tests pass a settable one to exercise rotation.
    public static func start(
        provider: any TEEProvider, isolation: Isolation = .inProcess, engines: Engines = .interpreterOnly, configuration: Configuration = Configuration(),
        clock: @escaping @Sendable () -> Date = { Date() }
    ) async throws -> Monitor {
        guard configuration.rotation > .zero, configuration.grace >= .zero else {
            throw EnclaveError(.invalidConfiguration, "the key rotation period must be positive and the grace period not negative")
        }
        let key = P256.Signing.PrivateKey()
        let now = clock()
        let runtime = isolation.runtimeClaims(native: engines.compiler != nil)
        let identity = try await IdentityCertificate.issue(
            identityKey: key, provider: provider, nonce: nil, runtime: runtime,
            notValidBefore: now.addingTimeInterval(-60), notValidAfter: now.addingTimeInterval(configuration.validity.seconds))
        return try Monitor(provider: provider, runtime: runtime, identityKey: key, identity: identity, configuration: configuration, started: now, clock: clock)
    }

    private init(
        provider: any TEEProvider, runtime: RuntimeClaims, identityKey: P256.Signing.PrivateKey, identity: IdentityCertificate.Issued,
        configuration: Configuration, started: Date, clock: @escaping @Sendable () -> Date
    ) throws {
        self.provider = provider
        self.runtime = runtime
        self.signer = Mutex(Signer(key: identityKey, certificate: identity))
        self.configuration = configuration
        self.started = started
        self.notValidAfter = started.addingTimeInterval(configuration.validity.seconds)
        self.clock = clock
        let base = UInt8.random(in: 0...UInt8.max)
        let first = try Epoch(number: 0, starts: started, rotation: configuration.rotation, keyIDBase: base, identityKey: identityKey)
        self.keyring = Mutex(Keyring(current: first, keyIDBase: base))
    }

    /// The key that authenticates the native engine's code cache (``NativeCodeCache``): the TEE's
    /// sealing key for it where the provider has one, so that the cache outlives a restart;
    /// otherwise a key that lives as long as this monitor.
    public var codeCacheKey: [UInt8] {
        provider.sealingKey(label: "tabula native code cache") ?? processCacheKey
    }

    /// The key that seals multi-party jobs' inputs in the store until their job runs: derived from
    /// the cluster's identity key once a key broker gave it (so that any node can run a job whose
    /// inputs another node took), else the TEE's sealing key where the provider has one, else a
    /// key that lives as long as this monitor (inputs taken before a restart must be sent again).
    package var jobStorageKey: SymmetricKey {
        let secret: [UInt8]
        if servesClusterKeys {
            secret = Array(identityKey.rawRepresentation)
        } else {
            secret = provider.sealingKey(label: "tabula job inputs") ?? processCacheKey
        }
        return HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: secret), info: Array("tabula job inputs v1".utf8), outputByteCount: 32)
    }

    /// The key that tags the verifiable log's entries (HMAC-SHA256 of each leaf hash), so that
    /// the store cannot add an entry the log's tree heads would then cover: the cluster's, derived
    /// from its identity key once a key broker gave it (every node checks every node's entries),
    /// else one that lives as long as this monitor.
    package var logTagKey: SymmetricKey {
        let cluster = servesClusterKeys
        let signing = identityKey
        // By the key it derives from: a cluster key the broker changed gives a new tag key.
        let name = cluster ? Array(signing.publicKey.rawRepresentation) : []
        if let cached = logTagKeys.withLock({ $0[name] }) { return cached }
        let secret = cluster ? Array(signing.rawRepresentation) : processCacheKey
        let key = HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: secret), info: Array("tabula log entries v1".utf8), outputByteCount: 32)
        logTagKeys.withLock { $0[name] = key }
        return key
    }

    /// The identity key's public half: what receipts and certificates are checked with.
    public var identityPublicKey: P256.Signing.PublicKey { identityKey.publicKey }

    /// The key that signs: this enclave's own, or the cluster's once adopted.
    private var identityKey: P256.Signing.PrivateKey { signer.withLock { $0.key } }

    /// The private bytes of every long-term key the monitor holds now (the identity key, and each
    /// live epoch's HPKE keys): for the tests that search other processes' memory for them.
    package var privateKeyBytesForTests: [[UInt8]] {
        let epochs = keyring.withLock { keyring in [keyring.current] + (keyring.previous.map { [$0] } ?? []) }
        return [Array(identityKey.rawRepresentation)] + epochs.flatMap { $0.keys.map(\.privateKeyBytes) }
    }

    // MARK: Attestation

    /// The attestation bundle: evidence, identity certificate, and the current epoch's signed keys.
    ///
    /// - Parameter nonce: up to 64 bytes from the client; when given, fresh evidence and a fresh
    ///   certificate carry it, proving the evidence is no older than the client's request.
    public func bundle(nonce: [UInt8]? = nil) async throws -> AttestationBundle {
        let identity: IdentityCertificate.Issued
        if let nonce {
            let now = clock()
            identity = try await IdentityCertificate.issue(
                identityKey: identityKey, provider: provider, nonce: nonce, runtime: runtime,
                notValidBefore: now.addingTimeInterval(-60), notValidAfter: notValidAfter)
        } else {
            identity = self.identity
        }
        let epoch = currentEpoch()
        return AttestationBundle(
            tee: tee, evidence: Data(identity.evidence).base64EncodedString(), certificate: identity.pem,
            keyConfigs: Data(epoch.list).base64EncodedString(), keyConfigsSignature: Data(epoch.signature).base64EncodedString(),
            epoch: epoch.number, expires: epoch.expires)
    }

    /// The current epoch's `application/ohttp-keys` list (what `/.well-known/ohttp-gateway` serves).
    public var keyConfigurations: [UInt8] { currentEpoch().list }

    /// The current key epoch's number.
    public var epoch: UInt64 { currentEpoch().number }

    /// The current epoch's key configurations as the identity key signed them: its number, and
    /// the canonical JSON the verifiable log records (the attestation bundle's fields `epoch`,
    /// `expires`, `keyConfigs` and `keyConfigsSignature`).
    package var epochStatement: (number: UInt64, json: [UInt8]) {
        let epoch = currentEpoch()
        let json = JSONValue.object([
            "epoch": .integer(Int64(clamping: epoch.number)), "expires": .string(epoch.expires),
            "keyConfigs": .string(Data(epoch.list).base64EncodedString()), "keyConfigsSignature": .string(Data(epoch.signature).base64EncodedString()),
        ])
        return (epoch.number, Array(json.encoded))
    }

    /// Issues the certificate of a loaded function, signed by the identity key.
    func functionCertificate(_ claims: FunctionClaims) throws -> String {
        let now = clock()
        return try FunctionCertificate.issue(claims, identityKey: identityKey, notValidBefore: now.addingTimeInterval(-60), notValidAfter: notValidAfter)
    }

    /// Signs a tree head of the verifiable log with the identity key (the cluster's, when a key
    /// broker gave it): only tree heads, in their own format, never a message of the caller's.
    package func signTreeHead(size: UInt64, timestamp: UInt64, root: [UInt8]) throws -> SignedTreeHead {
        try SignedTreeHead.sign(size: size, timestamp: timestamp, root: root, key: identityKey)
    }

    /// Signs, for one recipient, the sealed result of a job this enclave ran
    /// (``JobResult/signedMessage(jobDigest:sealed:name:)``): only that format.
    package func signJobResult(jobDigest: [UInt8], sealed: [UInt8], name: String) throws -> [UInt8] {
        try sign(JobResult.signedMessage(jobDigest: jobDigest, sealed: sealed, name: name))
    }

    /// An ECDSA P-256/SHA-256 signature (DER) by the identity key.
    func sign(_ message: [UInt8]) throws -> [UInt8] {
        Array(try identityKey.signature(for: message).derRepresentation)
    }

    // MARK: Opening requests

    /// A request opened by one of the epoch keys.
    struct Opened {
        var request: [UInt8]
        var context: ObliviousHTTP.ServerContext
        var epoch: UInt64
    }

    /// Opens a sealed request: finds the key its header names, decrypts, and refuses a replay.
    func open(_ sealed: [UInt8]) throws(EnclaveError) -> Opened {
        guard let keyID = sealed.first else {
            throw EnclaveError(.sealedRequest, "the sealed request is empty")
        }
        let now = clock()
        let found: (GatewayKeyEntry)? = keyring.withLock { keyring in
            keyring.advance(to: now, configuration: configuration, started: started, identityKey: identityKey)
            return keyring.key(id: keyID)
        }
        guard let (key, epoch) = found else {
            throw EnclaveError(.sealedRequest, "the request is sealed to key \(keyID), which this enclave does not have (unknown, or erased after its epoch); fetch the attestation bundle again")
        }
        let opened: (request: [UInt8], context: ObliviousHTTP.ServerContext)
        do {
            opened = try key.decapsulateRequest(sealed)
        } catch let error as WireError {
            throw EnclaveError(.sealedRequest, "\(Self.undecryptablePrefix): \(error.message)")
        } catch {
            throw EnclaveError(.sealedRequest, "\(Self.undecryptablePrefix): \(error)")
        }
        // Only requests that authenticate are remembered, so garbage cannot fill the set.
        let fingerprint = Array(BoringSSL.sha256(sealed).prefix(16))
        switch keyring.withLock({ $0.remember(fingerprint, epoch: epoch) }) {
        case .first:
            break
        case .replay:
            throw EnclaveError(.replayedRequest, "this sealed request was already received; seal every invocation afresh")
        case .expired:
            throw EnclaveError(.sealedRequest, "the key this request is sealed to was erased while it was being opened; fetch the attestation bundle again")
        }
        return Opened(request: opened.request, context: opened.context, epoch: epoch)
    }

    /// How the error of a request that names a key of this enclave but does not decrypt with it
    /// begins (altered, or sealed to another enclave's key of the same one-byte id).
    public static let undecryptablePrefix = "the sealed request cannot be opened"

    /// Whether a request sealed to key `id` opens here (a key of the current or the previous epoch):
    /// in a cluster, one that does not is another node's.
    public func holdsKey(_ id: UInt8) -> Bool {
        let now = clock()
        return keyring.withLock { keyring in
            keyring.advance(to: now, configuration: configuration, started: started, identityKey: identityKey)
            return keyring.key(id: id) != nil
        }
    }

    /// The ids of the keys that open requests now: the current epoch's and, during its grace
    /// period, the previous one's.
    public var keyIDs: [UInt8] {
        let now = clock()
        return keyring.withLock { keyring in
            keyring.advance(to: now, configuration: configuration, started: started, identityKey: identityKey)
            return keyring.sharedExpired ? [] : (keyring.current.keys + (keyring.previous?.keys ?? [])).map(\.keyID)
        }
    }

    /// The name clients pin this enclave by (``Confidential/enclaveFingerprint(_:)``).
    public var fingerprint: String {
        Confidential.enclaveFingerprint(Array(identityKey.publicKey.derRepresentation))
    }

    private func currentEpoch() -> Epoch {
        let now = clock()
        return keyring.withLock { keyring in
            keyring.advance(to: now, configuration: configuration, started: started, identityKey: identityKey)
            return keyring.current
        }
    }
}

extension Monitor {
    /// The signing key and the identity certificate that binds it to this TEE's evidence.
    struct Signer: Sendable {
        var key: P256.Signing.PrivateKey
        var certificate: IdentityCertificate.Issued
    }

    /// Takes a cluster's keys, as a key broker released them to this attested enclave: its
    /// identity key becomes the cluster's (with a new identity certificate over fresh evidence of
    /// this TEE), and the broker's key epochs replace the monitor's own, which it stops making.
    ///
    /// Every node of the cluster then publishes the same key configurations and signs with the
    /// same key, so a client that verified one of them (or the broker) can seal to any. Called
    /// again with the broker's later epochs, it moves to them; the epochs a request was opened
    /// with keep their replay memory.
    public func adopt(_ keys: ClusterKeys) async throws {
        let key: P256.Signing.PrivateKey
        do {
            key = try P256.Signing.PrivateKey(rawRepresentation: keys.identityKey)
        } catch {
            throw EnclaveError(.invalidConfiguration, "the key broker's cluster identity key is not a P-256 private key")
        }
        let sorted = keys.epochs.sorted { $0.number > $1.number }
        guard let newest = sorted.first else {
            throw EnclaveError(.invalidConfiguration, "the key broker released no key epoch")
        }
        let current = try Epoch(newest, clusterKey: key.publicKey)
        let previous = try sorted.dropFirst().first.map { try Epoch($0, clusterKey: key.publicKey) }
        if signer.withLock({ $0.key.rawRepresentation != key.rawRepresentation }) {
            let now = clock()
            let certificate = try await IdentityCertificate.issue(
                identityKey: key, provider: provider, nonce: nil, runtime: runtime,
                notValidBefore: now.addingTimeInterval(-60), notValidAfter: notValidAfter)
            signer.withLock { $0 = Signer(key: key, certificate: certificate) }
        }
        keyring.withLock { keyring in
            keyring.sharedGrace = keys.grace
            keyring.sharedExpired = false
            keyring.current = current
            keyring.previous = previous
            keyring.seen = keyring.seen.filter { $0.key == current.number || $0.key == previous?.number }
        }
    }

    /// Whether the monitor serves a key broker's epochs (``adopt(_:)``) rather than its own.
    public var servesClusterKeys: Bool { keyring.withLock { $0.sharedGrace != nil } }

    /// When the current epoch's keys stop being current.
    public var epochEnds: Date { currentEpoch().ends }

    /// Until when a request opened now could be opened again (the current epoch's end and its
    /// grace period): how long a cluster must remember it to refuse its replay.
    public var replayHorizon: Date {
        let grace = keyring.withLock { $0.sharedGrace } ?? configuration.grace
        return currentEpoch().ends.addingTimeInterval(grace.seconds)
    }
}

typealias GatewayKeyEntry = (key: ObliviousHTTP.GatewayKey, epoch: UInt64)

extension Monitor {
    /// The keys of one epoch and their signed list.
    struct Epoch: Sendable {
        let number: UInt64
        let starts: Date
        let ends: Date
        let keys: [ObliviousHTTP.GatewayKey]
        let list: [UInt8]
        let signature: [UInt8]
        let expires: String

        /// New keys: X25519 (the default suite) and X-Wing (post-quantum hybrid), each accepting
        /// AES-128-GCM and ChaCha20-Poly1305; key ids advance by two per epoch, so the ids of the
        /// current and the previous epoch never collide.
        init(number: UInt64, starts: Date, rotation: Duration, keyIDBase: UInt8, identityKey: P256.Signing.PrivateKey) throws {
            self.number = number
            self.starts = starts
            self.ends = starts.addingTimeInterval(rotation.seconds)
            let id = keyIDBase &+ UInt8(truncatingIfNeeded: number &* 2)
            keys = [
                try .generate(keyID: id, kem: .x25519HKDFSHA256),
                try .generate(keyID: id &+ 1, kem: .xWing),
            ]
            list = KeyConfiguration.encodeList(keys.map(\.configuration))
            expires = ends.formatted(.iso8601)
            signature = Array(try identityKey.signature(for: AttestationBundle.signedMessage(epoch: number, expires: expires, keyConfigs: list)).derRepresentation)
        }

        /// An epoch a key broker released: keys derived from its seed, and the list the broker
        /// signed, which the derived keys must reproduce exactly.
        init(_ shared: ClusterKeys.Epoch, clusterKey: P256.Signing.PublicKey) throws(EnclaveError) {
            number = shared.number
            starts = shared.starts
            ends = shared.ends
            expires = shared.expires
            do {
                keys = try ObliviousHTTP.GatewayKey.derive(seed: shared.seed, keyID: shared.keyID)
            } catch {
                throw EnclaveError(.invalidConfiguration, "the key broker's epoch \(shared.number) has no usable seed: \(error)")
            }
            list = KeyConfiguration.encodeList(keys.map(\.configuration))
            signature = shared.signature
            let message = AttestationBundle.signedMessage(epoch: number, expires: expires, keyConfigs: list)
            guard let parsed = try? P256.Signing.ECDSASignature(derRepresentation: signature), clusterKey.isValidSignature(parsed, for: message) else {
                throw EnclaveError(.invalidConfiguration, "the key broker's signature does not cover the keys derived from epoch \(shared.number)'s seed: the broker and this node disagree on the derivation; refusing the keys")
            }
        }
    }

    /// The current epoch and the previous one while its grace period lasts, and the requests each
    /// opened.
    struct Keyring: Sendable {
        var current: Epoch
        var previous: Epoch?
        let keyIDBase: UInt8
        /// The grace period of epochs a key broker gave (``Monitor/adopt(_:)``): then the monitor
        /// never makes keys of its own, it only drops the previous epoch when its grace is over.
        var sharedGrace: Duration?

        /// Whether a broker's current epoch ended more than its grace ago without a newer one
        /// arriving: the node then opens nothing (its keys, and the store's replay memory, are
        /// stale) until the broker is reached again.
        var sharedExpired = false
        /// By epoch, the first 16 bytes of SHA-256 of each request opened, for replay refusal. Kept
        /// apart from the epochs so that reading an epoch never copies (or later forces a copy of)
        /// a set that may hold millions of entries.
        var seen: [UInt64: Set<[UInt8]>] = [:]

        init(current: Epoch, keyIDBase: UInt8) {
            self.current = current
            self.keyIDBase = keyIDBase
        }

        /// Starts the epoch `now` falls in, if it is not the current one, and drops the previous
        /// epoch's keys once their grace period is over.
        mutating func advance(to now: Date, configuration: Configuration, started: Date, identityKey: @autoclosure () -> P256.Signing.PrivateKey) {
            if let sharedGrace {
                sharedExpired = now >= current.ends.addingTimeInterval(sharedGrace.seconds)
                if let previous, now >= previous.ends.addingTimeInterval(sharedGrace.seconds) {
                    self.previous = nil
                    seen = seen.filter { $0.key == current.number }
                }
                return
            }
            let elapsed = max(0, now.timeIntervalSince(started))
            let number = UInt64(elapsed / configuration.rotation.seconds)
            var dropped = false
            if number > current.number {
                let starts = started.addingTimeInterval(Double(number) * configuration.rotation.seconds)
                // Key generation cannot fail for these built-in suites; keep the old epoch if it does.
                if let next = try? Epoch(number: number, starts: starts, rotation: configuration.rotation, keyIDBase: keyIDBase, identityKey: identityKey()) {
                    dropped = previous != nil || number != current.number + 1
                    previous = number == current.number + 1 ? current : nil
                    current = next
                }
            }
            if let previous, now >= previous.ends.addingTimeInterval(configuration.grace.seconds) {
                self.previous = nil
                dropped = true
            }
            if dropped {
                seen = seen.filter { $0.key == current.number || $0.key == previous?.number }
            }
        }

        func key(id: UInt8) -> GatewayKeyEntry? {
            if sharedExpired { return nil }
            if let key = current.keys.first(where: { $0.keyID == id }) { return (key, current.number) }
            if let previous, let key = previous.keys.first(where: { $0.keyID == id }) { return (key, previous.number) }
            return nil
        }

        enum Sighting {
            case first, replay, expired
        }

        /// Records an opened request of `epoch`.
        mutating func remember(_ fingerprint: [UInt8], epoch: UInt64) -> Sighting {
            guard epoch == current.number || epoch == previous?.number else { return .expired }
            return seen[epoch, default: []].insert(fingerprint).inserted ? .first : .replay
        }
    }
}
