public import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
public import Crypto
public import TabulaAttestation
import TabulaWire

/// The attester's side of the Key Broker Service protocol: attests this TEE to a broker (Tabula's
/// or a Trustee KBS) and fetches resources wrapped to a key that never leaves this process.
///
/// Each call to ``resources(_:)`` makes a fresh P-256 key, asks for a nonce, gets evidence from the
/// TEE provider over the nonce and key, and opens the JWEs with the key, which is then dropped.
public struct KBSClient: Sendable {
    public let broker: URL
    let provider: any TEEProvider
    let timeout: Duration

    public init(broker: URL, provider: any TEEProvider, timeout: Duration = .seconds(10)) {
        self.broker = broker
        self.provider = provider
        self.timeout = timeout
    }

    /// One resource (`repository/type/tag`).
    public func resource(_ path: String) async throws -> [UInt8] {
        try await resources([path])[0]
    }

    /// Several resources under one attestation.
    public func resources(_ paths: [String]) async throws -> [[UInt8]] {
        let session = URLSession(configuration: Self.configuration(timeout))
        defer { session.finishTasksAndInvalidate() }
        let request = KBSMessages.Request(tee: Broker.protocolName(ofTEE: provider.tee))
        let (challengeBody, cookie) = try await send(session, "POST", "auth", body: try JSONEncoder().encode(request), cookie: nil)
        guard let cookie else { throw BrokerError(.invalidRequest, "the broker at \(broker.absoluteString) set no \(KBSMessages.sessionCookie) cookie") }
        let challenge = try decode(KBSMessages.Challenge.self, challengeBody, what: "challenge")
        let key = P256.KeyAgreement.PrivateKey()
        let runtimeData = KBSMessages.RuntimeData(nonce: challenge.nonce, teePubkey: JWK(key.publicKey))
        let evidence = try await provider.evidence(reportData: runtimeData.reportData)
        let attestation = KBSMessages.Attestation(
            runtimeData: runtimeData, teeEvidence: KBSMessages.CompositeEvidence(KBSMessages.Evidence(quote: Data(evidence).base64EncodedString())))
        _ = try await send(session, "POST", "attest", body: try JSONEncoder().encode(attestation), cookie: cookie)
        var released: [[UInt8]] = []
        for path in paths {
            let (body, _) = try await send(session, "GET", "resource/\(path)", body: nil, cookie: cookie)
            let jwe = try decode(JWE.self, body, what: "resource \(path)")
            released.append(try jwe.open(with: .p256(key)))
        }
        return released
    }

    /// The broker key a broker's statement certificate binds, once its evidence verified and
    /// showed `measurement` on this TEE's kind.
    func attestedBrokerKey(measurement: [UInt8]) async throws -> P256.Signing.PublicKey {
        let signed = try await get(SignedStatement.self, "tabula/manifest", what: "statement")
        let verified = try await verify(signed.certificate, nonce: nil)
        guard verified.claims.measurement == measurement, verified.claims.tee == provider.tee else {
            throw BrokerError(.attestationRefused, "the broker at \(broker.absoluteString) does not run this code (its measurement or TEE differs from this one's)")
        }
        return verified.publicKey
    }

    /// The cluster key the broker's attestation bundle binds (its evidence fresh, with a nonce,
    /// and satisfying `policy`).
    public func attestedClusterKey(policy: AppraisalPolicy) async throws -> P256.Signing.PublicKey {
        let nonce = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
        let bundle = try await get(AttestationBundle.self, "tabula/attestation?nonce=\(nonce.hex)", what: "attestation bundle")
        let verified = try await verify(bundle.certificate, nonce: nonce)
        let reasons = policy.appraise(verified.claims)
        guard reasons.isEmpty else {
            throw BrokerError(.attestationRefused, "the broker at \(broker.absoluteString) does not satisfy this node's broker policy: \(reasons.joined(separator: "; "))")
        }
        return verified.publicKey
    }

    /// An identity certificate of the broker, verified with its evidence.
    private func verify(_ certificate: String, nonce: [UInt8]?) async throws -> IdentityCertificate.Verified {
        do {
            return try await IdentityCertificate.verify(Array(certificate.utf8), nonce: nonce, at: Date())
        } catch {
            throw BrokerError(.attestationRefused, "the broker's identity certificate does not verify: \(error)")
        }
    }

    /// `GET /kbs/v0/<path>`, decoded.
    private func get<T: Decodable>(_ type: T.Type, _ path: String, what: String) async throws -> T {
        let session = URLSession(configuration: Self.configuration(timeout))
        defer { session.finishTasksAndInvalidate() }
        let (body, _) = try await send(session, "GET", path, body: nil, cookie: nil)
        return try decode(type, body, what: what)
    }

    /// The state key from a peer broker instance that runs the same code (`measurement`), and
    /// the broker key its evidence binds (the state the key opens must hold that key).
    func stateKey(fromPeerRunning measurement: [UInt8]) async throws -> (stateKey: [UInt8], brokerKey: P256.Signing.PublicKey) {
        let key = try await attestedBrokerKey(measurement: measurement)
        return (try await resource(Manifest.stateKey), key)
    }

    private func send(_ session: URLSession, _ method: String, _ path: String, body: Data?, cookie: String?) async throws -> (Data, String?) {
        var base = broker.absoluteString
        while base.hasSuffix("/") { base.removeLast() }
        guard let url = URL(string: base + "/kbs/v0/" + path) else {
            throw BrokerError(.invalidRequest, "the broker URL \(broker.absoluteString) cannot take the path \(path)")
        }
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.httpBody = body
        if body != nil { request.setValue("application/json", forHTTPHeaderField: "Content-Type") }
        if let cookie { request.setValue("\(KBSMessages.sessionCookie)=\(cookie)", forHTTPHeaderField: "Cookie") }
        let (data, response): (Data, URLResponse)
        do {
            (data, response) = try await session.data(for: request)
        } catch {
            throw BrokerError(.unavailable, "the broker at \(broker.absoluteString) cannot be reached: \(error.localizedDescription)")
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard status == 200 else {
            let detail = (try? JSONDecoder().decode(KBSMessages.ErrorBody.self, from: data)).map { "\($0.type.split(separator: "/").last ?? ""): \($0.detail)" }
                ?? String(decoding: data.prefix(300), as: UTF8.self)
            let code: BrokerError.Code = switch status {
            case 401: .unauthenticated
            case 403: .forbidden
            case 404: .notFound
            case 400: .invalidRequest
            default: .unavailable
            }
            throw BrokerError(code, "the broker refused \(method) /kbs/v0/\(path) with \(status): \(detail)")
        }
        let setCookie = (response as? HTTPURLResponse)?.value(forHTTPHeaderField: "Set-Cookie")
        let value = setCookie.flatMap { header in
            header.split(separator: ";").first.flatMap { pair -> String? in
                let parts = pair.split(separator: "=", maxSplits: 1)
                return parts.count == 2 && parts[0].trimmingCharacters(in: .whitespaces) == KBSMessages.sessionCookie ? String(parts[1]) : nil
            }
        }
        return (data, value)
    }

    private func decode<T: Decodable>(_ type: T.Type, _ data: Data, what: String) throws(BrokerError) -> T {
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch {
            throw BrokerError(.invalidRequest, "the broker's \(what) is not the protocol's JSON: \(error)")
        }
    }

    static func configuration(_ timeout: Duration) -> URLSessionConfiguration {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = TimeInterval(timeout.components.seconds)
        configuration.httpCookieStorage = nil
        configuration.httpShouldSetCookies = false
        configuration.urlCache = nil
        return configuration
    }
}
