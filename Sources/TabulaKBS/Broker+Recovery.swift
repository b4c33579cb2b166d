import Crypto
public import Foundation
import TabulaAttestation

/// What a broker waiting for recovery publishes: who must send a share, each holder's share
/// (still wrapped to the holder's own key), and the key to wrap it to again for this instance,
/// signed by an instance key that this instance's evidence binds.
public struct RecoveryStatus: Codable, Sendable {
    public var recovering: Bool
    /// Holders whose share has not arrived.
    public var waitingFor: [String]
    /// Each holder's share, a JWE to the holder's key.
    public var shares: [String: JWE]
    /// The key a holder wraps its opened share to (EC P-256).
    public var recoveryKey: JWK?
    /// Base64 of the instance key's signature (DER) over the recovery key's canonical JSON.
    public var recoveryKeySignature: String?
    /// The instance's identity certificate (PEM): its evidence binds the instance key.
    public var certificate: String?
}

extension Broker {
    /// The recovery in progress: the key shares are wrapped to, and the shares received.
    struct Recovery {
        var sealed: SealedBrokerState
        let key = P256.KeyAgreement.PrivateKey()
        var received: [String: [UInt8]] = [:]
        var certificate: IdentityCertificate.Issued?
    }

    /// The canonical bytes of a recovery key, as signed.
    public static func recoveryKeyMessage(_ key: JWK) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array("tabula broker recovery key v1\0".utf8) + ((try? Array(encoder.encode(key))) ?? [])
    }

    /// What recovery needs; `recovering: false` once the broker serves.
    public func recoveryStatus() async throws -> RecoveryStatus {
        guard var recovery else {
            return RecoveryStatus(recovering: false, waitingFor: [], shares: [:])
        }
        if recovery.certificate == nil {
            let now = clock()
            recovery.certificate = try await IdentityCertificate.issue(
                identityKey: instanceKey, provider: provider, nonce: nil, runtime: nil,
                notValidBefore: now.addingTimeInterval(-60), notValidAfter: now.addingTimeInterval(86_400))
            self.recovery?.certificate = recovery.certificate
        }
        let jwk = JWK(recovery.key.publicKey)
        let signature = try instanceKey.signature(for: Self.recoveryKeyMessage(jwk))
        let names = recovery.sealed.recovery.map(\.name)
        return RecoveryStatus(
            recovering: true, waitingFor: names.filter { recovery.received[$0] == nil },
            shares: Dictionary(recovery.sealed.recovery.map { ($0.name, $0.share) }, uniquingKeysWith: { first, _ in first }),
            recoveryKey: jwk, recoveryKeySignature: Data(signature.derRepresentation).base64EncodedString(),
            certificate: recovery.certificate?.pem)
    }

    /// Takes one holder's share (a JWE to the recovery key). When every holder's share is in,
    /// the state key they make must open the state; the broker then seals it to this TEE and
    /// serves.
    ///
    /// - Returns: the holders still to send a share (empty once recovered).
    public func submitShare(holder: String, sealed: JWE) async throws -> [String] {
        guard var recovery else {
            throw BrokerError(.invalidRequest, "the broker is not recovering: its state is open")
        }
        let names = recovery.sealed.recovery.map(\.name)
        guard names.contains(holder) else {
            throw BrokerError(.forbidden, "\(holder) is not a recovery holder of the stored state (holders: \(names.joined(separator: ", ")))")
        }
        let share: [UInt8]
        do {
            share = try sealed.open(with: .p256(recovery.key))
        } catch {
            throw BrokerError(.invalidRequest, "the share is not wrapped to this instance's recovery key (fetch the recovery status again): \(error.message)")
        }
        recovery.received[holder] = share
        let waiting = names.filter { recovery.received[$0] == nil }
        guard waiting.isEmpty else {
            self.recovery = recovery
            logger.info("recovery: received the share of \(holder); waiting for \(waiting.joined(separator: ", "))")
            return waiting
        }
        let shares = names.compactMap { recovery.received[$0] }
        // Whatever the outcome, the round is over; a failed one starts again with the same
        // recovery key, so that holders need not fetch it anew.
        recovery.received = [:]
        self.recovery = recovery
        guard let stateKey = RecoveryShares.combine(shares) else {
            throw BrokerError(.invalidRequest, "the shares differ in length: every holder must send again")
        }
        guard let (bytes, version) = try await storage.loadBrokerState() else {
            throw BrokerError(.stateFailure, "the broker state vanished from the store during recovery")
        }
        do {
            try install(try Self.unlock(stateKey: stateKey, sealed: try SealedBrokerState.decode(bytes), version: version))
        } catch {
            logger.warning("recovery: the shares received do not open the broker state; every holder must send again")
            throw BrokerError(.forbidden, "the shares do not make the state key (a wrong or stale share): every holder must send again")
        }
        self.recovery = nil
        try await addOwnSlot()
        logger.info("recovered the broker state from \(names.count) shares")
        return []
    }
}
