public import Crypto
public import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
public import TabulaAttestation
public import TabulaKBS
import TabulaWire

/// A client of a Tabula key broker (`tabula broker`): verifies the broker's attestation once for a
/// whole cluster, reads its signed statement (manifest, secrets' readers), sets tenant secrets
/// sealed to it, and sends recovery shares.
///
/// ```swift
/// let broker = BrokerClient(url: URL(string: "http://broker:8080")!)
/// let cluster = try await broker.attest(policy: policy)      // the cluster's key configurations
/// let reply = try await client.invokeConfidential("score", parameters: …, enclave: cluster)  // any node
/// ```
public struct BrokerClient: Sendable {
    public let url: URL
    public var timeout: TimeInterval = 30

    public init(url: URL) {
        self.url = url
    }

    /// Verifies the broker's attestation bundle: its evidence (fresh, with a nonce) binds the
    /// cluster's identity key, which signed the key configurations every node serves; then the
    /// broker's signed statement, whose manifest must let no node have the cluster's keys that
    /// `policy` would refuse (simulated or debug TEEs, other measurements or TEE kinds).
    public func attest(policy: AppraisalPolicy = AppraisalPolicy(), at time: Date = Date()) async throws -> AttestedEnclave {
        let cluster = try await attestBundle(policy: policy, at: time)
        let (_, manifest) = try await statement(verifiedBy: cluster, at: time)
        let weaknesses = manifest.weaknesses(against: policy)
        guard weaknesses.isEmpty else {
            throw ClientError(.attestationFailed, "The broker's manifest gives the cluster's keys to nodes your policy refuses: \(weaknesses.joined(separator: "; ")).")
        }
        return cluster
    }

    private func attestBundle(policy: AppraisalPolicy, at time: Date) async throws -> AttestedEnclave {
        let nonce = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
        let data = try await send("GET", "tabula/attestation?nonce=\(nonce.hex)")
        let bundle: AttestationBundle
        do {
            bundle = try JSONDecoder().decode(AttestationBundle.self, from: data)
        } catch {
            throw ClientError(.invalidResponse, "The broker's attestation bundle is not JSON of the expected shape: \(error)")
        }
        return try await AttestedEnclave.verify(bundle, nonce: nonce, policy: policy, at: time)
    }

    /// The broker's statement, signed by the broker key, whose certificate's evidence must
    /// satisfy the same policy the broker's attestation (`cluster`) was verified with, and show
    /// the same measurement.
    public func statement(verifiedBy cluster: AttestedEnclave, at time: Date = Date()) async throws -> (statement: BrokerStatement, manifest: Manifest) {
        let data = try await send("GET", "tabula/manifest")
        guard let signed = try? JSONDecoder().decode(SignedStatement.self, from: data),
              let bytes = try? Base64URL.decode(signed.statement, field: "statement"),
              let der = Data(base64Encoded: signed.signature), let signature = try? P256.Signing.ECDSASignature(derRepresentation: der)
        else {
            throw ClientError(.invalidResponse, "The broker's statement is not the signed JSON docs/broker.md describes.")
        }
        let verified: IdentityCertificate.Verified
        do {
            verified = try await IdentityCertificate.verify(Array(signed.certificate.utf8), nonce: nil, at: time)
        } catch {
            throw ClientError(.attestationFailed, "The broker's statement certificate does not verify: \(error)")
        }
        let reasons = cluster.policy.appraise(verified.claims)
        guard reasons.isEmpty, verified.claims.measurement == cluster.claims.measurement, verified.claims.tee == cluster.claims.tee else {
            throw ClientError(.attestationFailed, "The broker's statement is signed by a key whose evidence does not match the attested broker\(reasons.isEmpty ? "" : ": " + reasons.joined(separator: "; ")).")
        }
        guard verified.publicKey.isValidSignature(signature, for: bytes) else {
            throw ClientError(.verificationFailed, "The broker's statement is not signed by the attested broker key: do not trust this broker.")
        }
        do {
            let statement = try JSONDecoder().decode(BrokerStatement.self, from: Data(bytes))
            let manifest = try Manifest.decode(try Base64URL.decode(statement.manifest, field: "manifest"))
            return (statement, manifest)
        } catch {
            throw ClientError(.invalidResponse, "The broker's signed statement does not decode: \(error)")
        }
    }

    /// Sets a secret of `credentials`' namespace, sealed (JWE) to the intake key of the verified
    /// statement, so that only the broker's TEE reads it.
    public func setSecret(
        _ name: String, value: [UInt8], readers: [SecretPolicy.Reader], credentials: Credentials, statement: BrokerStatement
    ) async throws -> SecretPolicy {
        let sealed: JWE
        do {
            let upload = try JSONEncoder().encode(SecretUpload(owner: credentials.uuid, name: name, value: value))
            sealed = try JWE.seal(Array(upload), to: statement.intakeKey)
        } catch let error as BrokerError {
            throw ClientError(.invalidResponse, "The broker's intake key cannot receive a secret: \(error.message)")
        }
        struct Upload: Encodable {
            var value: JWE
            var readers: [SecretPolicy.Reader]
        }
        let data = try await send("PUT", "tabula/secrets/_/\(name)", body: try JSONEncoder().encode(Upload(value: sealed, readers: readers)), credentials: credentials)
        do {
            return try JSONDecoder().decode(SecretPolicy.self, from: data)
        } catch {
            throw ClientError(.invalidResponse, "The broker's answer is not a secret policy: \(error)")
        }
    }

    /// The secrets of `credentials`' namespace and their readers (never their values).
    public func secrets(credentials: Credentials) async throws -> [SecretPolicy] {
        let data = try await send("GET", "tabula/secrets/_", credentials: credentials)
        do {
            return try JSONDecoder().decode([SecretPolicy].self, from: data)
        } catch {
            throw ClientError(.invalidResponse, "The broker's answer is not a list of secret policies: \(error)")
        }
    }

    /// Deletes a secret of `credentials`' namespace.
    public func deleteSecret(_ name: String, credentials: Credentials) async throws {
        _ = try await send("DELETE", "tabula/secrets/_/\(name)", credentials: credentials)
    }

    /// Sends a manifest update: `manifest` (the exact bytes signed) and the updaters' signatures.
    public func updateManifest(_ manifest: [UInt8], signatures: [String]) async throws {
        struct Update: Encodable {
            var manifest: String
            var signatures: [String]
        }
        _ = try await send("POST", "tabula/manifest", body: try JSONEncoder().encode(Update(manifest: Base64URL.encode(manifest), signatures: signatures)))
    }

    /// What a broker waiting for recovery asks for.
    public func recoveryStatus() async throws -> RecoveryStatus {
        let data = try await send("GET", "tabula/recovery")
        do {
            return try JSONDecoder().decode(RecoveryStatus.self, from: data)
        } catch {
            throw ClientError(.invalidResponse, "The broker's recovery status does not decode: \(error)")
        }
    }

    /// Opens `holder`'s share with its private key and sends it, wrapped to the recovery key of a
    /// broker whose evidence (`policy`) binds the instance key that signed that recovery key.
    ///
    /// - Returns: the holders whose shares the broker still waits for.
    public func recover(holder: String, key: P256.KeyAgreement.PrivateKey, policy: AppraisalPolicy, at time: Date = Date()) async throws -> [String] {
        let status = try await recoveryStatus()
        guard status.recovering, let recoveryKey = status.recoveryKey, let signatureText = status.recoveryKeySignature,
              let certificate = status.certificate, let share = status.shares[holder]
        else {
            throw ClientError(.invalidArgument, status.recovering ? "The broker holds no share for \(holder)." : "The broker is not recovering: its state is open.")
        }
        let verified: IdentityCertificate.Verified
        do {
            verified = try await IdentityCertificate.verify(Array(certificate.utf8), nonce: nil, at: time)
        } catch {
            throw ClientError(.attestationFailed, "The recovering broker's certificate does not verify: \(error)")
        }
        let reasons = policy.appraise(verified.claims)
        guard reasons.isEmpty else {
            throw ClientError(.attestationFailed, "The recovering broker's evidence does not satisfy the policy: \(reasons.joined(separator: "; ")).")
        }
        guard let der = Data(base64Encoded: signatureText), let signature = try? P256.Signing.ECDSASignature(derRepresentation: der),
              verified.publicKey.isValidSignature(signature, for: Broker.recoveryKeyMessage(recoveryKey))
        else {
            throw ClientError(.attestationFailed, "The recovery key is not signed by the attested broker instance: do not send the share.")
        }
        let opened: [UInt8]
        do {
            opened = try share.open(with: .p256(key))
        } catch {
            throw ClientError(.invalidArgument, "The share does not open with this key: it is not \(holder)'s key (\(error.message)).")
        }
        struct Upload: Encodable {
            var holder: String
            var share: JWE
        }
        let rewrapped = try JWE.seal(opened, to: recoveryKey)
        let data = try await send("POST", "tabula/recovery", body: try JSONEncoder().encode(Upload(holder: holder, share: rewrapped)))
        struct Answer: Decodable { var waitingFor: [String] }
        return (try? JSONDecoder().decode(Answer.self, from: data).waitingFor) ?? []
    }

    private func send(_ method: String, _ path: String, body: Data? = nil, credentials: Credentials? = nil) async throws -> Data {
        var text = url.absoluteString
        while text.hasSuffix("/") { text.removeLast() }
        guard let target = URL(string: text + "/kbs/v0/" + path), target.scheme == "http" || target.scheme == "https" else {
            throw ClientError(.invalidArgument, "The broker URL \(url.absoluteString) is not an http or https URL.")
        }
        var request = URLRequest(url: target)
        request.httpMethod = method
        request.timeoutInterval = timeout
        request.httpBody = body
        if body != nil { request.setValue("application/json", forHTTPHeaderField: "Content-Type") }
        if let credentials { request.setValue(credentials.authorizationHeader, forHTTPHeaderField: "Authorization") }
        let data: Data
        let response: URLResponse
        do {
            (data, response) = try await URLSession.shared.data(for: request)
        } catch {
            throw ClientError(.unreachable, "The key broker at \(url.absoluteString) cannot be reached: \(error.localizedDescription)")
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard (200..<300).contains(status) else {
            let detail = (try? JSONDecoder().decode(KBSMessages.ErrorBody.self, from: data))?.detail ?? String(decoding: data.prefix(300), as: UTF8.self)
            throw ClientError(ClientError.Code(status: status), "The key broker refused \(method) /kbs/v0/\(path.split(separator: "?").first ?? ""): \(detail)", status: status)
        }
        return data
    }
}
