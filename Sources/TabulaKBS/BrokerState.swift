import Crypto
import TabulaWire
import Foundation

/// Everything the broker knows that must survive it, in the clear: what ``SealedBrokerState``
/// encrypts before it reaches the store.
struct BrokerState: Codable, Sendable {
    /// A tenant's secret and who may read it.
    struct Secret: Codable, Sendable {
        var policy: SecretPolicy
        /// The value, base64.
        var value: String
        /// The namespace's owner (its credentials' UUID) when the secret was set: a namespace
        /// deleted and made again by someone else does not inherit it.
        var owner: String
    }

    /// A key epoch: its seed is derived from ``gatewaySeed`` and its number.
    struct Epoch: Codable, Sendable, Hashable {
        var number: UInt64
        var starts: Double
        var ends: Double
    }

    /// The manifest's exact bytes, base64 (what updaters signed).
    var manifest: String
    /// The cluster's identity key (raw P-256 scalar, base64): it signs key configurations,
    /// function certificates and receipts on every node, and the broker's statements.
    var clusterKey: String
    /// The broker's own signing key (raw P-256, base64): it signs attestation tokens and the
    /// statement, and never leaves the broker (nodes hold the cluster key, not this one).
    var brokerKey: String
    /// Counts every change: an older state offered by the store (a rollback) is refused.
    var generation: UInt64
    /// The key tenants seal secrets to (raw P-256 key agreement scalar, base64).
    var intakeKey: String
    /// The root the epochs' gateway key seeds derive from (32 bytes, base64).
    var gatewaySeed: String
    /// The first epoch's key id; each epoch's id is two above the last.
    var keyIDBase: UInt8
    var current: Epoch
    var previous: Epoch?
    var secrets: [Secret]

    /// A new state: fresh keys, epoch 0 starting now.
    static func create(manifest: [UInt8], rotation: Double, now: Date) -> BrokerState {
        func random() -> String { Data(SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }).base64EncodedString() }
        let start = now.timeIntervalSince1970
        return BrokerState(
            manifest: Data(manifest).base64EncodedString(),
            clusterKey: P256.Signing.PrivateKey().rawRepresentation.base64EncodedString(),
            brokerKey: P256.Signing.PrivateKey().rawRepresentation.base64EncodedString(), generation: 1,
            intakeKey: P256.KeyAgreement.PrivateKey().rawRepresentation.base64EncodedString(),
            gatewaySeed: random(), keyIDBase: UInt8.random(in: 0...UInt8.max),
            current: Epoch(number: 0, starts: start, ends: start + rotation), previous: nil, secrets: [])
    }

    /// The seed of epoch `number`: `HKDF-SHA256(gatewaySeed, info: "tabula gateway epoch" ‖ number)`.
    func seed(of number: UInt64) -> [UInt8] {
        let root = SymmetricKey(data: Data(base64Encoded: gatewaySeed) ?? Data())
        let info = Array("tabula gateway epoch".utf8) + (0..<8).reversed().map { UInt8(truncatingIfNeeded: number >> ($0 * 8)) }
        return HKDF<SHA256>.deriveKey(inputKeyMaterial: root, info: info, outputByteCount: 32).withUnsafeBytes { Array($0) }
    }

    func keyID(of number: UInt64) -> UInt8 {
        keyIDBase &+ UInt8(truncatingIfNeeded: number &* 2)
    }

    /// Moves to the epoch `now` falls in; `false` when nothing changed. The previous epoch is
    /// kept through its grace period.
    mutating func advance(to now: Date, rotation: Double, grace: Double) -> Bool {
        let time = now.timeIntervalSince1970
        var changed = false
        if time >= current.ends {
            let skipped = UInt64(((time - current.ends) / rotation).rounded(.down))
            let starts = current.ends + Double(skipped) * rotation
            let next = Epoch(number: current.number + 1 + skipped, starts: starts, ends: starts + rotation)
            previous = skipped == 0 ? current : nil
            current = next
            changed = true
        }
        if let previous, time >= previous.ends + grace {
            self.previous = nil
            changed = true
        }
        return changed
    }

    func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return (try? Array(encoder.encode(self))) ?? []
    }
}

/// The broker's state as the store holds it: encrypted under a random state key, which is itself
/// sealed to each broker instance's TEE (its sealing key) and split between the recovery holders.
///
/// ```json
/// {"format": 1, "state": "<base64 AES-256-GCM(state key, state JSON)>",
///  "sealedKeys": {"<hex SHA-256 of a sealing key, 16 bytes>": "<base64 AES-256-GCM(sealing key, state key)>"},
///  "recovery": [{"name": "alice", "share": <JWE to alice's key>}]}
/// ```
/// The store sees none of the keys, secrets or seeds; changing a byte makes opening fail.
struct SealedBrokerState: Codable, Sendable {
    struct Share: Codable, Sendable {
        var name: String
        var share: JWE
    }

    var format: Int
    var state: String
    var sealedKeys: [String: String]
    var recovery: [Share]

    static let aad = Array("tabula broker state v1".utf8)

    /// Encrypts `state`, keeps `sealedKeys`, and splits `stateKey` anew between `holders`.
    static func seal(_ state: BrokerState, stateKey: [UInt8], sealedKeys: [String: String], holders: [Manifest.RecoveryHolder]) throws(BrokerError) -> SealedBrokerState {
        let box: Data
        do {
            box = try AES.GCM.seal(state.encoded(), using: SymmetricKey(data: stateKey), authenticating: aad).combined ?? Data()
        } catch {
            throw BrokerError(.stateFailure, "cannot encrypt the broker state: \(error)")
        }
        var shares: [Share] = []
        let parts = RecoveryShares.split(stateKey, into: holders.count)
        for (holder, part) in zip(holders, parts) {
            do {
                shares.append(Share(name: holder.name, share: try JWE.seal(part, to: holder.key)))
            } catch {
                throw BrokerError(.invalidManifest, "cannot wrap a recovery share to \(holder.name)'s key: \(error.message)")
            }
        }
        return SealedBrokerState(format: 1, state: box.base64EncodedString(), sealedKeys: sealedKeys, recovery: shares)
    }

    /// The state, opened with `stateKey`.
    func open(stateKey: [UInt8]) throws(BrokerError) -> BrokerState {
        do {
            guard let data = Data(base64Encoded: state) else { throw BrokerError(.stateFailure, "not base64") }
            let plaintext = try AES.GCM.open(AES.GCM.SealedBox(combined: data), using: SymmetricKey(data: stateKey), authenticating: Self.aad)
            return try JSONDecoder().decode(BrokerState.self, from: plaintext)
        } catch {
            throw BrokerError(.stateFailure, "the broker state does not open with this state key: it was altered, or the key is not its own")
        }
    }

    /// The name a sealing key's entry has in ``sealedKeys``.
    static func slot(_ sealingKey: [UInt8]) -> String {
        Array(KBSHash.sha256(Array("tabula broker sealing slot".utf8) + sealingKey).prefix(16)).hex
    }

    static func wrap(_ stateKey: [UInt8], sealingKey: [UInt8]) throws(BrokerError) -> String {
        do {
            return try AES.GCM.seal(stateKey, using: SymmetricKey(data: sealingKey), authenticating: aad).combined?.base64EncodedString() ?? ""
        } catch {
            throw BrokerError(.stateFailure, "cannot seal the state key: \(error)")
        }
    }

    /// The state key, unsealed with this TEE's sealing key; `nil` when this TEE has no slot or
    /// the slot does not open.
    func unwrap(sealingKey: [UInt8]) -> [UInt8]? {
        guard let text = sealedKeys[Self.slot(sealingKey)], let data = Data(base64Encoded: text),
              let box = try? AES.GCM.SealedBox(combined: data),
              let key = try? AES.GCM.open(box, using: SymmetricKey(data: sealingKey), authenticating: Self.aad)
        else { return nil }
        return Array(key)
    }

    static func decode(_ bytes: [UInt8]) throws(BrokerError) -> SealedBrokerState {
        do {
            let sealed = try JSONDecoder().decode(SealedBrokerState.self, from: Data(bytes))
            guard sealed.format == 1 else { throw BrokerError(.stateFailure, "format \(sealed.format)") }
            return sealed
        } catch let error as BrokerError {
            throw BrokerError(.stateFailure, "the stored broker state has an unknown format (\(error.message)): upgrade this broker")
        } catch {
            throw BrokerError(.stateFailure, "the stored broker state is not the JSON this broker writes: \(error)")
        }
    }

    func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return (try? Array(encoder.encode(self))) ?? []
    }
}

/// An n-of-n split of the state key: every holder's share is needed, and any fewer reveal nothing
/// (each share but the last is random; the last is the key XOR all the others).
enum RecoveryShares {
    static func split(_ key: [UInt8], into count: Int) -> [[UInt8]] {
        guard count > 0 else { return [] }
        var shares = (1..<count).map { _ in SymmetricKey(size: .bits256).withUnsafeBytes { Array($0.prefix(key.count)) } }
        var last = key
        for share in shares {
            for index in last.indices { last[index] ^= share[index] }
        }
        shares.append(last)
        return shares
    }

    static func combine(_ shares: [[UInt8]]) -> [UInt8]? {
        guard let first = shares.first, shares.allSatisfy({ $0.count == first.count }) else { return nil }
        var key = first
        for share in shares.dropFirst() {
            for index in key.indices { key[index] ^= share[index] }
        }
        return key
    }
}
