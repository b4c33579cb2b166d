import Crypto
import Foundation
import TabulaAttestation
public import TabulaWire

/// The `tabula/gateway/keys` resource: the cluster's identity key and its live key epochs.
public struct ReleasedGatewayKeys: Codable, Sendable {
    public struct Epoch: Codable, Sendable {
        public var number: UInt64
        /// Seconds since 1970.
        public var starts: Double
        public var ends: Double
        /// The end as the signed message spells it.
        public var expires: String
        /// Base64 of the 32-byte seed.
        public var seed: String
        public var keyID: UInt8
        /// Base64 of the cluster key's signature over the derived key configurations.
        public var signature: String
    }

    /// Base64 of the raw P-256 scalar.
    public var identityKey: String
    public var graceSeconds: Int
    public var epochs: [Epoch]
}

/// What `GET /kbs/v0/tabula/manifest` answers: the broker's statement and its signature by the
/// cluster key (whose certificate, with evidence, is in the broker's attestation bundle).
public struct SignedStatement: Codable, Sendable {
    /// base64url of the statement's JSON (``BrokerStatement``).
    public var statement: String
    /// Base64 of the cluster key's ECDSA P-256/SHA-256 signature (DER) over the statement's bytes.
    public var signature: String
}

/// What the broker states about itself: the manifest in force, every tenant secret's readers
/// (never a value), the key tenants seal secrets to, and the current key epoch.
public struct BrokerStatement: Codable, Sendable {
    /// base64url of the manifest's exact bytes.
    public var manifest: String
    public var secrets: [SecretPolicy]
    public var intakeKey: JWK
    public var epoch: UInt64
    /// Milliseconds since 1970.
    public var issued: Int64
}

extension Broker {
    /// The released form of the live epochs, each signed by the cluster key.
    func gatewayKeys() throws -> [UInt8] {
        let current = try serving()
        let epochs = try ([current.state.current] + (current.state.previous.map { [$0] } ?? [])).map { epoch in
            let signed = try signedEpoch(epoch, in: current)
            return ReleasedGatewayKeys.Epoch(
                number: epoch.number, starts: epoch.starts, ends: epoch.ends, expires: signed.expires,
                seed: Data(current.state.seed(of: epoch.number)).base64EncodedString(), keyID: current.state.keyID(of: epoch.number),
                signature: Data(signed.signature).base64EncodedString())
        }
        let released = ReleasedGatewayKeys(identityKey: current.clusterKey.rawRepresentation.base64EncodedString(), graceSeconds: current.manifest.keys.graceSeconds, epochs: epochs)
        return Array(try JSONEncoder().encode(released))
    }

    /// An epoch's key configuration list, its expiry string and the cluster key's signature.
    func signedEpoch(_ epoch: BrokerState.Epoch, in current: Unlocked) throws -> (list: [UInt8], expires: String, signature: [UInt8]) {
        let keys = try ObliviousHTTP.GatewayKey.derive(seed: current.state.seed(of: epoch.number), keyID: current.state.keyID(of: epoch.number))
        let list = KeyConfiguration.encodeList(keys.map(\.configuration))
        let expires = Date(timeIntervalSince1970: epoch.ends).formatted(.iso8601)
        let signature = try current.clusterKey.signature(for: AttestationBundle.signedMessage(epoch: epoch.number, expires: expires, keyConfigs: list))
        return (list, expires, Array(signature.derRepresentation))
    }

    /// The broker's attestation bundle, in the shape a node's has: this instance's evidence binds
    /// the cluster key (through its identity certificate), which signs the current epoch's key
    /// configurations. A client that verifies it can seal to any node of the cluster.
    public func bundle(nonce: [UInt8]?) async throws -> AttestationBundle {
        try await advanceEpochs()
        let current = try serving()
        let now = clock()
        let issued: IdentityCertificate.Issued
        let keyBytes = Array(current.clusterKey.rawRepresentation)
        if nonce == nil, let certificate, certificate.key == keyBytes {
            issued = certificate.issued
        } else {
            issued = try await IdentityCertificate.issue(
                identityKey: current.clusterKey, provider: provider, nonce: nonce, runtime: nil,
                notValidBefore: now.addingTimeInterval(-60), notValidAfter: now.addingTimeInterval(86_400 * 365))
            if nonce == nil { certificate = (keyBytes, issued) }
        }
        let signed = try signedEpoch(current.state.current, in: current)
        return AttestationBundle(
            tee: provider.tee, evidence: Data(issued.evidence).base64EncodedString(), certificate: issued.pem,
            keyConfigs: Data(signed.list).base64EncodedString(), keyConfigsSignature: Data(signed.signature).base64EncodedString(),
            epoch: current.state.current.number, expires: signed.expires)
    }

    /// The signed statement: manifest, secrets' readers, intake key, epoch.
    public func statement() throws -> SignedStatement {
        let current = try serving()
        let statement = BrokerStatement(
            manifest: Base64URL.encode(Data(base64Encoded: current.state.manifest) ?? Data()),
            secrets: current.state.secrets.map(\.policy).sorted { ($0.namespace, $0.name) < ($1.namespace, $1.name) },
            intakeKey: JWK(current.intakeKey.publicKey), epoch: current.state.current.number,
            issued: Int64(clock().timeIntervalSince1970 * 1000))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let bytes = Array(try encoder.encode(statement))
        let signature = try current.clusterKey.signature(for: bytes)
        return SignedStatement(statement: Base64URL.encode(bytes), signature: Data(signature.derRepresentation).base64EncodedString())
    }

    /// Replaces the manifest with `bytes`, signed by enough of the current manifest's updaters.
    public func updateManifest(_ bytes: [UInt8], signatures: [String]) async throws -> Manifest {
        let next = try serving().manifest.verifyUpdate(bytes, signatures: signatures)
        try await mutate { state throws(BrokerError) in
            let stored = try Manifest.decode(Array(Data(base64Encoded: state.manifest) ?? Data()))
            guard next.version > stored.version else {
                throw BrokerError(.forbidden, "another update to version \(stored.version) came first; sign an update above it")
            }
            state.manifest = Data(bytes).base64EncodedString()
        }
        logger.info("the manifest is now version \(next.version) (\(next.classes.count) TEE classes, \(next.recovery.count) recovery holders)")
        return next
    }

    /// Stores a tenant's secret: `sealed` is a JWE to the intake key (``BrokerStatement/intakeKey``),
    /// so the value is readable only inside the broker's TEE.
    ///
    /// - Parameter namespace: the namespace the caller authenticated as; the secret belongs to it.
    public func setSecret(namespace: String, name: String, sealed: JWE, readers: [SecretPolicy.Reader]) async throws {
        try SecretPolicy.checkName(name)
        guard !readers.isEmpty else {
            throw BrokerError(.invalidRequest, "name at least one action that may read the secret (--for ACTION)")
        }
        guard readers.count <= 64 else { throw BrokerError(.invalidRequest, "a secret has at most 64 readers") }
        var value: [UInt8]
        do {
            value = try sealed.open(with: .p256(try serving().intakeKey))
        } catch let error as KBSError {
            throw BrokerError(.invalidRequest, "the secret is not sealed to this broker's intake key (fetch its statement again): \(error.message)")
        }
        defer { value.withUnsafeMutableBufferPointer { buffer in for index in buffer.indices { buffer[index] = 0 } } }
        guard value.count <= SecretPolicy.maximumValueSize else {
            throw BrokerError(.invalidRequest, "the secret is \(value.count) bytes; the limit is \(SecretPolicy.maximumValueSize)")
        }
        let entry = BrokerState.Secret(
            policy: SecretPolicy(namespace: namespace, name: name, readers: readers, updated: Int64(clock().timeIntervalSince1970 * 1000)),
            value: Data(value).base64EncodedString())
        try await mutate { state in
            state.secrets.removeAll { $0.policy.namespace == namespace && $0.policy.name == name }
            state.secrets.append(entry)
        }
        logger.info("namespace \(namespace) set its secret \(name) for \(readers.map(\.action).joined(separator: ", "))")
    }

    /// Deletes a secret; `false` when there was none.
    public func deleteSecret(namespace: String, name: String) async throws -> Bool {
        var found = false
        try await mutate { state in
            let before = state.secrets.count
            state.secrets.removeAll { $0.policy.namespace == namespace && $0.policy.name == name }
            found = state.secrets.count != before
        }
        return found
    }

    /// The readers of every secret of `namespace`.
    public func secretPolicies(namespace: String) throws -> [SecretPolicy] {
        try serving().state.secrets.map(\.policy).filter { $0.namespace == namespace }
    }
}
