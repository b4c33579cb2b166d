public import Crypto
public import Foundation
public import Logging
public import TabulaAttestation
import TabulaWire

/// The key broker: appraises TEEs against its manifest and releases resources (the cluster's
/// identity key and gateway key epochs, tenants' secrets, its own state key) wrapped to the key
/// each TEE's evidence binds.
///
/// Its state (``BrokerState``) lives in a store shared by every broker instance, encrypted under a
/// state key that is sealed to each instance's TEE and split between the manifest's recovery
/// holders. An instance that cannot unseal it gets the key from a running instance after
/// attesting (``Manifest/stateKey``), or waits for the holders' shares (``Broker/Phase/recovering``).
public actor Broker {
    public struct Configuration: Sendable {
        /// How long a session (from `auth`) and an attestation token last.
        public var sessionLifetime: Duration = .seconds(300)
        /// The most sessions kept; the oldest go first.
        public var maximumSessions = 10_000

        public init() {}
    }

    /// Whether the broker serves, or waits for its state key.
    public enum Phase: Sendable, Equatable {
        case serving
        case recovering
    }

    let provider: any TEEProvider
    let storage: any BrokerStorage
    let configuration: Configuration
    let logger: Logger
    let clock: @Sendable () -> Date
    /// This instance's own key: it signs the recovery key while the cluster key is sealed away.
    let instanceKey = P256.Signing.PrivateKey()
    var unlocked: Unlocked?
    var recovery: Recovery?
    var sessions: [String: Session] = [:]
    /// The identity certificates over the cluster key and the broker key with this instance's
    /// evidence, made once each.
    var certificate: (key: [UInt8], issued: IdentityCertificate.Issued)?
    var brokerCertificate: (key: [UInt8], issued: IdentityCertificate.Issued)?
    /// The highest state generation this instance has seen: the store cannot hand it an older one.
    var highestGeneration: UInt64 = 0

    /// The opened state and what is derived from it.
    struct Unlocked {
        var stateKey: [UInt8]
        var state: BrokerState
        var sealed: SealedBrokerState
        var version: Int64
        var manifest: Manifest
        var clusterKey: P256.Signing.PrivateKey
        var brokerKey: P256.Signing.PrivateKey
        var intakeKey: P256.KeyAgreement.PrivateKey
    }

    /// A session from `auth` to `attest` and the resource requests after it.
    struct Session {
        var tee: String
        var nonce: String?
        var expires: Date
        var token: String?
        var attested: AttestationToken?
    }

    public var phase: Phase { unlocked == nil ? .recovering : .serving }

    /// The label of this TEE's sealing key for the state key.
    static let sealingLabel = "tabula broker state"

    init(provider: any TEEProvider, storage: any BrokerStorage, configuration: Configuration, logger: Logger, clock: @escaping @Sendable () -> Date) {
        self.provider = provider
        self.storage = storage
        self.configuration = configuration
        self.logger = logger
        self.clock = clock
    }

    /// Starts a broker: opens the stored state, or creates it with `manifest` when the store has
    /// none, or gets the state key from `peer` (another instance that runs the same code, after
    /// each attested to the other), or else waits for recovery.
    ///
    /// - Parameters:
    ///   - manifest: the manifest's JSON for a new state; ignored (with a warning) when a state
    ///     exists, whose manifest changes only by signed update.
    ///   - peer: a running broker instance to ask for the state key.
    public static func start(
        provider: any TEEProvider, storage: any BrokerStorage, manifest: [UInt8]?, peer: URL? = nil,
        configuration: Configuration = Configuration(), logger: Logger, clock: @escaping @Sendable () -> Date = { Date() }
    ) async throws -> Broker {
        let broker = Broker(provider: provider, storage: storage, configuration: configuration, logger: logger, clock: clock)
        try await broker.open(manifest: manifest, peer: peer)
        return broker
    }

    private func open(manifest: [UInt8]?, peer: URL?) async throws {
        let sealingKey = provider.sealingKey(label: Self.sealingLabel)
        for _ in 0..<5 {
            guard let (bytes, version) = try await storage.loadBrokerState() else {
                guard let manifestBytes = manifest else {
                    throw BrokerError(.invalidManifest, "the store holds no broker state yet: start the first broker with --manifest FILE (docs/broker.md, \"The manifest\")")
                }
                let parsed = try Manifest.decode(manifestBytes)
                let stateKey = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
                let state = BrokerState.create(manifest: manifestBytes, rotation: Double(parsed.keys.rotationSeconds), now: clock())
                var slots: [String: String] = [:]
                if let sealingKey {
                    slots[SealedBrokerState.slot(sealingKey)] = try SealedBrokerState.wrap(stateKey, sealingKey: sealingKey)
                } else {
                    logger.warning("this TEE (\(provider.tee)) has no sealing key: after a restart, the broker's state opens only with a running peer (--peer) or the recovery holders' shares")
                }
                let sealed = try SealedBrokerState.seal(state, stateKey: stateKey, sealedKeys: slots, holders: parsed.recovery)
                if let saved = try await storage.saveBrokerState(sealed.encoded(), replacing: nil) {
                    try install(try Self.unlock(stateKey: stateKey, sealed: sealed, version: saved))
                    logger.info("created the broker state (manifest version \(parsed.version), \(parsed.classes.count) TEE classes, \(parsed.recovery.count) recovery holders)")
                    return
                }
                continue  // another instance created it first: open theirs
            }
            let sealed = try SealedBrokerState.decode(bytes)
            if manifest != nil {
                logger.warning("the store already holds a broker state: --manifest is ignored (change the manifest with a signed update, docs/broker.md)")
            }
            if let sealingKey, let stateKey = sealed.unwrap(sealingKey: sealingKey) {
                try install(try Self.unlock(stateKey: stateKey, sealed: sealed, version: version))
                logger.info("opened the broker state with this TEE's sealing key")
                return
            }
            if let peer {
                let (stateKey, peerKey) = try await KBSClient(broker: peer, provider: provider).stateKey(fromPeerRunning: try await ownMeasurement())
                let opened = try Self.unlock(stateKey: stateKey, sealed: sealed, version: version)
                guard opened.brokerKey.publicKey.rawRepresentation == peerKey.rawRepresentation else {
                    throw BrokerError(.forbidden, "the peer \(peer.absoluteString) is not the broker of this state: its attested broker key is not the state's")
                }
                try install(opened)
                logger.info("opened the broker state with the state key from the peer \(peer.absoluteString)")
                if sealingKey != nil { try await addOwnSlot() }
                return
            }
            recovery = Recovery(sealed: sealed)
            logger.warning("the broker state cannot be opened here (no slot for this TEE's sealing key, no --peer): waiting for recovery by \(sealed.recovery.map(\.name).joined(separator: ", "))")
            return
        }
        throw BrokerError(.stateFailure, "the broker state kept changing while this instance started; retry")
    }

    static func unlock(stateKey: [UInt8], sealed: SealedBrokerState, version: Int64) throws(BrokerError) -> Unlocked {
        let state = try sealed.open(stateKey: stateKey)
        let manifest = try Manifest.decode(Array(Data(base64Encoded: state.manifest) ?? Data()))
        guard let clusterBytes = Data(base64Encoded: state.clusterKey), let clusterKey = try? P256.Signing.PrivateKey(rawRepresentation: clusterBytes),
              let brokerBytes = Data(base64Encoded: state.brokerKey), let brokerKey = try? P256.Signing.PrivateKey(rawRepresentation: brokerBytes),
              let intakeBytes = Data(base64Encoded: state.intakeKey), let intakeKey = try? P256.KeyAgreement.PrivateKey(rawRepresentation: intakeBytes)
        else {
            throw BrokerError(.stateFailure, "the broker state's keys are not P-256 keys")
        }
        return Unlocked(stateKey: stateKey, state: state, sealed: sealed, version: version, manifest: manifest, clusterKey: clusterKey, brokerKey: brokerKey, intakeKey: intakeKey)
    }

    /// Makes `opened` the state served, unless it is older than one seen before (the store
    /// rolled it back) or than the one in memory (another task of this actor installed a newer
    /// one while this one waited).
    func install(_ opened: Unlocked) throws(BrokerError) {
        guard opened.state.generation >= highestGeneration else {
            logger.error("the store offered broker state generation \(opened.state.generation), older than generation \(highestGeneration) seen before: refused (a rollback)")
            throw BrokerError(.stateFailure, "the stored broker state is older than one this broker served (generation \(opened.state.generation) < \(highestGeneration)): it was rolled back; the broker keeps the newer one")
        }
        highestGeneration = opened.state.generation
        unlocked = opened
    }

    /// This instance's own measurement, from evidence it makes over random data: a peer must
    /// run the same code to be given the state key.
    func ownMeasurement() async throws -> [UInt8] {
        let evidence = try await provider.evidence(reportData: (0..<64).map { _ in UInt8.random(in: 0...255) })
        return try await Evidence.verify(evidence, certificate: nil, at: clock()).measurement
    }

    /// The opened state, or 503 while the broker waits for recovery.
    func serving() throws(BrokerError) -> Unlocked {
        guard let unlocked else {
            throw BrokerError(.unavailable, "the broker's state is sealed and awaits recovery (docs/broker.md, \"Recovery\"); try again later")
        }
        return unlocked
    }

    /// Reads the state again when another instance changed it.
    public func refresh() async throws {
        guard let current = unlocked, let (bytes, version) = try await storage.loadBrokerState(), version != current.version else {
            if unlocked != nil { try await advanceEpochs() }
            return
        }
        let sealed = try SealedBrokerState.decode(bytes)
        try install(try Self.unlock(stateKey: current.stateKey, sealed: sealed, version: version))
        try await advanceEpochs()
    }

    /// Changes the state: reads the newest, applies `change`, seals and saves it, again when
    /// another instance saved in between.
    func mutate(_ change: (inout BrokerState) throws(BrokerError) -> Void) async throws {
        for _ in 0..<8 {
            var current = try serving()
            if let (bytes, version) = try await storage.loadBrokerState(), version != current.version {
                current = try Self.unlock(stateKey: current.stateKey, sealed: try SealedBrokerState.decode(bytes), version: version)
            }
            var base = current
            if base.state.generation < highestGeneration, let known = unlocked, known.state.generation >= highestGeneration {
                // The store holds an older state than this broker served (a rollback): the change
                // is made to the newer one, which replaces it.
                logger.error("the stored broker state (generation \(base.state.generation)) is older than the one served (\(known.state.generation)): writing the newer one back")
                base = known
                base.version = current.version
            }
            guard base.state.generation >= highestGeneration else {
                throw BrokerError(.stateFailure, "the stored broker state was rolled back (generation \(base.state.generation) < \(highestGeneration)); not changing it")
            }
            var state = base.state
            try change(&state)
            state.generation = base.state.generation + 1
            let manifest = try Manifest.decode(Array(Data(base64Encoded: state.manifest) ?? Data()))
            let sealed = try SealedBrokerState.seal(state, stateKey: current.stateKey, sealedKeys: current.sealed.sealedKeys, holders: manifest.recovery)
            if let version = try await storage.saveBrokerState(sealed.encoded(), replacing: current.version) {
                try install(try Self.unlock(stateKey: current.stateKey, sealed: sealed, version: version))
                return
            }
        }
        throw BrokerError(.unavailable, "the broker state is being changed by other instances; retry")
    }

    /// Adds this TEE's sealing key slot, so that it opens the state by itself after a restart.
    func addOwnSlot() async throws {
        guard let sealingKey = provider.sealingKey(label: Self.sealingLabel), let current = unlocked else { return }
        let slot = SealedBrokerState.slot(sealingKey)
        guard current.sealed.sealedKeys[slot] == nil else { return }
        let wrapped = try SealedBrokerState.wrap(current.stateKey, sealingKey: sealingKey)
        for _ in 0..<8 {
            var latest = try serving()
            if let (bytes, version) = try await storage.loadBrokerState(), version != latest.version {
                latest = try Self.unlock(stateKey: latest.stateKey, sealed: try SealedBrokerState.decode(bytes), version: version)
            }
            var sealed = latest.sealed
            sealed.sealedKeys[slot] = wrapped
            if let version = try await storage.saveBrokerState(sealed.encoded(), replacing: latest.version) {
                try install(try Self.unlock(stateKey: latest.stateKey, sealed: sealed, version: version))
                return
            }
        }
    }

    /// Starts the epoch the clock has reached, and drops the previous one after its grace.
    func advanceEpochs() async throws {
        let current = try serving()
        let rotation = Double(current.manifest.keys.rotationSeconds)
        let grace = Double(current.manifest.keys.graceSeconds)
        var probe = current.state
        guard probe.advance(to: clock(), rotation: rotation, grace: grace) else { return }
        let now = clock()
        try await mutate { state in _ = state.advance(to: now, rotation: rotation, grace: grace) }
        let number = try serving().state.current.number
        logger.info("key epoch \(number) is current")
    }
}
