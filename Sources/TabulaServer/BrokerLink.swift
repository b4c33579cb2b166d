public import Foundation
public import Logging
import Crypto
import Synchronization
public import TabulaAttestation
public import TabulaEnclave
import TabulaKBS
import TabulaWire

/// A node's link to its key broker (`tabula serve --broker URL`): it attests this node's TEE to
/// the broker, gives the monitor the cluster's keys, keeps them current as epochs turn, and
/// fetches the tenant secrets functions may read.
///
/// Every fetch is a fresh attestation (a new nonce and a new wrapping key), so nothing the broker
/// releases can be opened outside this TEE.
public final class BrokerLink: SecretSource {
    let client: KBSClient
    let policy: AppraisalPolicy
    let monitor: Monitor
    let logger: Logger
    /// How long fetched secrets are used before asking again (changes reach functions this late).
    static let secretsFreshFor: Duration = .seconds(5)
    /// How long fetched secrets are still used while the broker cannot be reached.
    static let secretsUsableFor: Duration = .seconds(60)
    private let cache = Mutex<[String: (fetched: ContinuousClock.Instant, secrets: [ReleasedSecret])]>([:])
    /// The fetch in progress for each namespace: invocations that find the cache stale at once
    /// wait for one attestation to the broker instead of making one each.
    private let fetching = Mutex<[String: Task<[ReleasedSecret], any Error>]>([:])

    /// - Parameter policy: what the broker's evidence must satisfy (its measurement, above all):
    ///   the cluster's keys are taken only from a broker whose attested keys released them.
    public init(broker: URL, provider: any TEEProvider, policy: AppraisalPolicy, monitor: Monitor, logger: Logger) {
        self.client = KBSClient(broker: broker, provider: provider)
        self.policy = policy
        self.monitor = monitor
        self.logger = logger
    }

    /// Verifies the broker (its evidence against the policy), fetches the cluster's identity key
    /// and key epochs, checks that the key is the one the broker's own attestation binds, and
    /// has the monitor adopt them.
    public func obtainKeys() async throws {
        let cluster = try await client.attestedClusterKey(policy: policy)
        let bytes = try await client.resource(Manifest.gatewayKeys)
        let released = try JSONDecoder().decode(ReleasedGatewayKeys.self, from: Data(bytes))
        guard let identityKey = Data(base64Encoded: released.identityKey),
              let key = try? P256.Signing.PrivateKey(rawRepresentation: identityKey)
        else {
            throw BrokerError(.invalidRequest, "the broker's cluster identity key is not a P-256 key")
        }
        guard key.publicKey.rawRepresentation == cluster.rawRepresentation else {
            throw BrokerError(.attestationRefused, "the released cluster key is not the one the broker's attestation binds: refusing it")
        }
        let epochs = try released.epochs.map { epoch in
            guard let seed = Data(base64Encoded: epoch.seed), let signature = Data(base64Encoded: epoch.signature) else {
                throw BrokerError(.invalidRequest, "the broker's epoch \(epoch.number) has a seed or signature that is not base64")
            }
            return ClusterKeys.Epoch(
                number: epoch.number, starts: Date(timeIntervalSince1970: epoch.starts), ends: Date(timeIntervalSince1970: epoch.ends),
                expires: epoch.expires, seed: Array(seed), keyID: epoch.keyID, signature: Array(signature))
        }
        try await monitor.adopt(ClusterKeys(identityKey: Array(identityKey), epochs: epochs, grace: .seconds(released.graceSeconds)))
    }

    /// Keeps the keys current until cancelled: again shortly after each epoch ends, and every
    /// 30 seconds (a manifest or epoch change made early), retrying every 2 seconds on failure.
    public func keepKeysCurrent() async {
        while !Task.isCancelled {
            let untilEnd = monitor.epochEnds.timeIntervalSinceNow + 1
            let wait = max(1, min(30, untilEnd))
            try? await Task.sleep(for: .seconds(wait))
            do {
                try await obtainKeys()
            } catch {
                logger.warning("cannot renew the cluster keys from the key broker \(client.broker.absoluteString): \(error); retrying")
                try? await Task.sleep(for: .seconds(2))
            }
        }
    }

    public func environment(namespace: String, action: String, moduleDigest: [UInt8]) async throws -> [(String, String)] {
        let now = ContinuousClock.now
        var secrets: [ReleasedSecret]
        if let cached = cache.withLock({ $0[namespace] }), now - cached.fetched < Self.secretsFreshFor {
            secrets = cached.secrets
        } else {
            do {
                secrets = try await fetch(namespace).value
            } catch {
                guard let cached = cache.withLock({ $0[namespace] }), now - cached.fetched < Self.secretsUsableFor else {
                    logger.warning("cannot fetch the secrets of namespace \(namespace) from the key broker: \(error)")
                    throw EnclaveError(.secretsUnavailable, "the key broker that holds this namespace's secrets cannot be reached now; retry shortly")
                }
                secrets = cached.secrets
            }
        }
        let digest = moduleDigest.hex
        return secrets.compactMap { secret in
            guard secret.readers.contains(where: { $0.admits(action: action, digest: digest) }), let value = Data(base64Encoded: secret.value) else { return nil }
            return (SecretPolicy.environmentName(secret.name), String(decoding: value, as: UTF8.self))
        }
    }

    /// The fetch of `namespace`'s secrets: the one in progress, or a new one that fills the cache.
    private func fetch(_ namespace: String) -> Task<[ReleasedSecret], any Error> {
        fetching.withLock { fetching in
            if let running = fetching[namespace] { return running }
            let task = Task { [self] in
                defer { _ = self.fetching.withLock { $0.removeValue(forKey: namespace) } }
                let bytes = try await self.client.resource(Manifest.secrets(namespace: namespace))
                let secrets = try JSONDecoder().decode(ReleasedSecrets.self, from: Data(bytes)).secrets
                self.cache.withLock { cache in
                    if cache.count > 10_000 { cache.removeAll() }
                    cache[namespace] = (ContinuousClock.now, secrets)
                }
                return secrets
            }
            fetching[namespace] = task
            return task
        }
    }
}
