import Crypto
public import Foundation
import TabulaAttestation
import TabulaWire

extension Broker {
    /// The TEE names of the protocol, and the kind of Tabula evidence each stands for.
    static let teeNames: [String: String] = ["tdx": "tdx", "snp": "sev-snp", "sgx": "sgx", "sample": "simulated"]

    /// The protocol's name of a Tabula TEE kind (`sev-snp` is `snp`, `simulated` is `sample`).
    public static func protocolName(ofTEE tee: String) -> String {
        teeNames.first { $0.value == tee }?.key ?? tee
    }

    /// `POST /kbs/v0/auth`: opens a session with a fresh nonce.
    ///
    /// - Returns: the session id (the `kbs-session-id` cookie), when it expires, and the challenge.
    public func auth(_ request: KBSMessages.Request) throws(BrokerError) -> (session: String, expires: Date, challenge: KBSMessages.Challenge) {
        _ = try serving()
        guard request.version == KBSMessages.version else {
            throw BrokerError(.invalidRequest, "protocol version \(request.version) is not supported; use \(KBSMessages.version)")
        }
        guard Self.teeNames[request.tee] != nil else {
            throw BrokerError(.invalidRequest, "the TEE \(request.tee) is not one this broker appraises (\(Self.teeNames.keys.sorted().joined(separator: ", ")))")
        }
        let now = clock()
        sessions = sessions.filter { $0.value.expires > now }
        if sessions.count >= configuration.maximumSessions, let oldest = sessions.min(by: { $0.value.expires < $1.value.expires })?.key {
            sessions.removeValue(forKey: oldest)
        }
        let id = SymmetricKey(size: .bits128).withUnsafeBytes { Array($0) }.hex
        let nonce = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }.base64EncodedString()
        let expires = now.addingTimeInterval(TimeInterval(configuration.sessionLifetime.components.seconds))
        sessions[id] = Session(tee: request.tee, nonce: nonce, expires: expires)
        return (id, expires, KBSMessages.Challenge(nonce: nonce))
    }

    /// `POST /kbs/v0/attest`: appraises the evidence of the session's TEE.
    ///
    /// The nonce is single-use: a session attests once, and a failed attempt ends it. The
    /// evidence must verify (signatures and chains up to the vendor roots), its report data must
    /// be ``KBSMessages/RuntimeData/reportData`` of this session's nonce and the key sent, and
    /// its claims must satisfy a class of the manifest. The reasons of a refusal go to the log
    /// and to the TEE (they hold no secret: which reference value failed).
    ///
    /// - Returns: the attestation token.
    public func attest(session id: String?, _ attestation: KBSMessages.Attestation) async throws(BrokerError) -> String {
        let current = try serving()
        let now = clock()
        guard let id, var session = sessions[id], session.expires > now else {
            throw BrokerError(.unauthenticated, "no session: POST /kbs/v0/auth first and send its kbs-session-id cookie")
        }
        if let token = session.token { return token }
        guard let nonce = session.nonce else {
            throw BrokerError(.unauthenticated, "this session's challenge was used already; POST /kbs/v0/auth again")
        }
        // Single use, whatever the outcome.
        sessions.removeValue(forKey: id)
        func refuse(_ reason: String) -> BrokerError {
            logger.warning("refused the attestation of a \(session.tee) TEE: \(reason)")
            return BrokerError(.attestationRefused, reason)
        }
        guard attestation.runtimeData.nonce == nonce else {
            throw refuse("the runtime data's nonce is not this session's challenge (a replayed or stale attestation)")
        }
        let key = attestation.runtimeData.teePubkey
        do {
            if key.kty == "RSA" { _ = try key.rsa() } else { _ = try key.p256() }
        } catch {
            throw refuse("the tee-pubkey cannot receive resources: \(error.message)")
        }
        guard let evidence = Data(base64Encoded: attestation.teeEvidence.primaryEvidence.quote) else {
            throw refuse("primary_evidence.quote is not base64")
        }
        let certificate = attestation.teeEvidence.primaryEvidence.certificate.map { Array($0.utf8) }
        let claims: Evidence.Claims
        do {
            claims = try await Evidence.verify(Array(evidence), certificate: certificate, at: now)
        } catch {
            throw refuse("the evidence does not verify: \(error)")
        }
        guard claims.tee == Self.teeNames[session.tee] else {
            throw refuse("the session is for a \(session.tee) TEE, but the evidence is \(claims.tee)")
        }
        guard claims.reportData == attestation.runtimeData.reportData else {
            throw refuse("the evidence's report data does not bind this session's nonce and the tee-pubkey sent (SHA-384 of the canonical runtime data)")
        }
        let classes: [Manifest.TEEClass]
        switch current.manifest.classify(claims) {
        case .success(let found): classes = found
        case .failure(let error): throw refuse(error.message)
        }
        let names = classes.map(\.name).joined(separator: ",")
        let token = AttestationToken(
            tee: claims.tee, teeClass: names, teePubkey: key,
            issuedAt: Int64(now.timeIntervalSince1970), expires: Int64(session.expires.timeIntervalSince1970))
        let signed: String
        do {
            signed = try token.signed(with: current.brokerKey)
        } catch {
            throw BrokerError(.stateFailure, "cannot sign the attestation token: \(error)")
        }
        session.nonce = nil
        session.token = signed
        session.attested = token
        sessions[id] = session
        logger.info("attested a \(claims.tee) TEE as class \(names) (measurement \(claims.measurement.hex.prefix(16))…)")
        return signed
    }

    /// `GET /kbs/v0/resource/<repository>/<type>/<tag>`: the resource, as a JWE to the attested
    /// TEE's key, if its class may have it.
    ///
    /// - Parameters:
    ///   - session: the `kbs-session-id` cookie of an attested session, or
    ///   - bearer: the attestation token of one.
    public func resource(_ path: String, session id: String?, bearer: String?) async throws -> JWE {
        let current = try serving()
        let now = clock()
        let token: AttestationToken
        if let id, let session = sessions[id], session.expires > now, let attested = session.attested {
            token = attested
        } else if let bearer {
            token = try AttestationToken.verify(bearer, key: current.brokerKey.publicKey, now: now)
        } else {
            throw BrokerError(.unauthenticated, "no attested session and no bearer token: attest first")
        }
        let names = token.teeClass.split(separator: ",").map(String.init)
        let classes = current.manifest.classes.filter { names.contains($0.name) }
        guard classes.contains(where: { Manifest.allows($0, path) }) else {
            logger.warning("refused \(path) to a TEE of class \(token.teeClass): not among the resources the manifest gives it")
            throw BrokerError(.forbidden, "the manifest does not give \(path) to TEEs of class \(token.teeClass)")
        }
        var content = try await resourceContent(path)
        defer { content.withUnsafeMutableBufferPointer { buffer in for index in buffer.indices { buffer[index] = 0 } } }
        do {
            return try JWE.seal(content, to: token.teePubkey)
        } catch {
            throw BrokerError(.invalidRequest, "cannot wrap the resource to the TEE's key: \(error.message)")
        }
    }

    /// The plaintext of a resource.
    private func resourceContent(_ path: String) async throws -> [UInt8] {
        if path == Manifest.gatewayKeys {
            try await advanceEpochs()
            return try gatewayKeys()
        }
        if path == Manifest.stateKey {
            return try serving().stateKey
        }
        let secretsPrefix = "tabula/secrets/"
        if path.hasPrefix(secretsPrefix) {
            let namespace = String(path.dropFirst(secretsPrefix.count))
            // Only while the namespace has the owner that set them.
            let owner = try await storage.namespaceOwner(namespace)
            let released = try serving().state.secrets.filter { $0.policy.namespace == namespace && $0.owner == owner }.map {
                ReleasedSecret(name: $0.policy.name, value: $0.value, readers: $0.policy.readers)
            }
            return Array(try JSONEncoder().encode(ReleasedSecrets(secrets: released)))
        }
        throw BrokerError(.notFound, "no resource \(path) (this broker serves \(Manifest.gatewayKeys), tabula/secrets/<namespace> and \(Manifest.stateKey))")
    }
}

/// The `tabula/secrets/<namespace>` resource: the namespace's secrets with their readers.
public struct ReleasedSecrets: Codable, Sendable {
    public var secrets: [ReleasedSecret]
}

public struct ReleasedSecret: Codable, Sendable {
    public var name: String
    /// The value, base64.
    public var value: String
    public var readers: [SecretPolicy.Reader]
}
