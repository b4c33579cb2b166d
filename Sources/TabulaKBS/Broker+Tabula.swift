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

/// What `GET /kbs/v0/tabula/manifest` answers: the broker's statement, signed by the broker key,
/// which only broker instances hold (nodes hold the cluster key, not this one), with the identity
/// certificate that binds that key to this instance's evidence.
public struct SignedStatement: Codable, Sendable {
    /// base64url of the statement's JSON (``BrokerStatement``).
    public var statement: String
    /// Base64 of the broker key's ECDSA P-256/SHA-256 signature (DER) over the statement's bytes.
    public var signature: String
    /// The identity certificate (PEM) over the broker key, with this instance's evidence.
    public var certificate: String
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
    public func statement() async throws -> SignedStatement {
        let current = try serving()
        let keyBytes = Array(current.brokerKey.rawRepresentation)
        let issued: IdentityCertificate.Issued
        if let brokerCertificate, brokerCertificate.key == keyBytes {
            issued = brokerCertificate.issued
        } else {
            let now = clock()
            issued = try await IdentityCertificate.issue(
                identityKey: current.brokerKey, provider: provider, nonce: nil, runtime: nil,
                notValidBefore: now.addingTimeInterval(-60), notValidAfter: now.addingTimeInterval(86_400 * 365))
            brokerCertificate = (keyBytes, issued)
        }
        let statement = BrokerStatement(
            manifest: Base64URL.encode(Data(base64Encoded: current.state.manifest) ?? Data()),
            secrets: current.state.secrets.map(\.policy).sorted { ($0.namespace, $0.name) < ($1.namespace, $1.name) },
            intakeKey: JWK(current.intakeKey.publicKey), epoch: current.state.current.number,
            issued: Int64(clock().timeIntervalSince1970 * 1000))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let bytes = Array(try encoder.encode(statement))
        let signature = try current.brokerKey.signature(for: bytes)
        return SignedStatement(statement: Base64URL.encode(bytes), signature: Data(signature.derRepresentation).base64EncodedString(), certificate: issued.pem)
    }

    /// Replaces the manifest with `bytes`, signed by enough of the current manifest's updaters.
    public func updateManifest(_ bytes: [UInt8], signatures: [String]) async throws -> Manifest {
        guard signatures.count <= 64 else { throw BrokerError(.invalidRequest, "at most 64 signatures") }
        let current = try serving()
        var next = try current.manifest.verifyUpdate(bytes, signatures: signatures, current: Array(Data(base64Encoded: current.state.manifest) ?? Data()))
        try await mutate { state throws(BrokerError) in
            // Checked again against the manifest as stored now: another instance may have
            // changed the updaters or the version since.
            let storedBytes = Array(Data(base64Encoded: state.manifest) ?? Data())
            next = try Manifest.decode(storedBytes).verifyUpdate(bytes, signatures: signatures, current: storedBytes)
            state.manifest = Data(bytes).base64EncodedString()
        }
        logger.info("the manifest is now version \(next.version) (\(next.classes.count) TEE classes, \(next.recovery.count) recovery holders)")
        return next
    }

    /// Stores a tenant's secret: `sealed` is a JWE to the intake key (``BrokerStatement/intakeKey``)
    /// of a ``SecretUpload``, so the value is readable only inside the broker's TEE, and it names
    /// the owner and the secret it was sealed for: the same bytes sent by another namespace, or
    /// under another name, are refused.
    ///
    /// - Parameters:
    ///   - namespace: the namespace the caller authenticated as; the secret belongs to it.
    ///   - owner: the UUID of the credentials it authenticated with.
    public func setSecret(namespace: String, owner: String, name: String, sealed: JWE, readers: [SecretPolicy.Reader]) async throws {
        try SecretPolicy.checkName(name)
        guard !readers.isEmpty else {
            throw BrokerError(.invalidRequest, "name at least one action that may read the secret (--for ACTION)")
        }
        guard readers.count <= 64 else { throw BrokerError(.invalidRequest, "a secret has at most 64 readers") }
        guard readers.allSatisfy({ (1...256).contains($0.action.utf8.count) && ($0.digest?.utf8.count ?? 64) == 64 }) else {
            throw BrokerError(.invalidRequest, "a reader is an action name of 1 to 256 bytes, with an optional 64-digit hex module digest")
        }
        let intakeKey = try serving().intakeKey
        var plaintext: [UInt8]
        do {
            plaintext = try sealed.open(with: .p256(intakeKey))
        } catch {
            throw BrokerError(.invalidRequest, "the secret is not sealed to this broker's intake key (fetch its statement again): \(error.message)")
        }
        defer { plaintext.withUnsafeMutableBufferPointer { buffer in for index in buffer.indices { buffer[index] = 0 } } }
        guard let upload = try? JSONDecoder().decode(SecretUpload.self, from: Data(plaintext)) else {
            throw BrokerError(.invalidRequest, "the sealed secret is not the JSON docs/broker.md describes ({\"owner\", \"name\", \"value\"})")
        }
        guard upload.owner == owner, upload.name == name else {
            throw BrokerError(.forbidden, "the sealed secret was sealed for another namespace or another name: seal it afresh for this one")
        }
        guard let value = Data(base64Encoded: upload.value) else {
            throw BrokerError(.invalidRequest, "the sealed secret's value is not base64")
        }
        guard value.count <= SecretPolicy.maximumValueSize else {
            throw BrokerError(.invalidRequest, "the secret is \(value.count) bytes; the limit is \(SecretPolicy.maximumValueSize)")
        }
        // It becomes an environment variable: text without NUL.
        guard !value.contains(0), String(data: value, encoding: .utf8) != nil else {
            throw BrokerError(.invalidRequest, "a secret is UTF-8 text without NUL bytes (it reaches the function as an environment variable); encode binary values, for example in base64")
        }
        let entry = BrokerState.Secret(
            policy: SecretPolicy(namespace: namespace, name: name, readers: readers, updated: Int64(clock().timeIntervalSince1970 * 1000)),
            value: value.base64EncodedString(), owner: owner)
        try await mutate { state throws(BrokerError) in
            state.secrets.removeAll { $0.policy.namespace == namespace && ($0.policy.name == name || $0.owner != owner) }
            guard state.secrets.filter({ $0.policy.namespace == namespace }).count < SecretPolicy.maximumPerNamespace else {
                throw BrokerError(.forbidden, "the namespace \(namespace) has \(SecretPolicy.maximumPerNamespace) secrets, the most it may have; delete one first")
            }
            state.secrets.append(entry)
        }
        logger.info("namespace \(namespace) set its secret \(name) for \(readers.map(\.action).joined(separator: ", "))")
    }

    /// Deletes a secret; `false` when there was none.
    public func deleteSecret(namespace: String, name: String) async throws -> Bool {
        guard try serving().state.secrets.contains(where: { $0.policy.namespace == namespace && $0.policy.name == name }) else { return false }
        try await mutate { state in
            state.secrets.removeAll { $0.policy.namespace == namespace && $0.policy.name == name }
        }
        return true
    }

    /// The readers of every secret `owner` set in `namespace`.
    public func secretPolicies(namespace: String, owner: String) throws -> [SecretPolicy] {
        try serving().state.secrets.filter { $0.policy.namespace == namespace && $0.owner == owner }.map(\.policy)
    }
}

/// What a tenant seals to the broker's intake key to set a secret (the plaintext of the JWE).
public struct SecretUpload: Codable, Sendable {
    /// The UUID of the credentials that will send it.
    public var owner: String
    public var name: String
    /// The value, base64.
    public var value: String

    public init(owner: String, name: String, value: [UInt8]) {
        self.owner = owner
        self.name = name
        self.value = Data(value).base64EncodedString()
    }
}
