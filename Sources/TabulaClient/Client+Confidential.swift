import Crypto
public import Foundation
public import TabulaAttestation
public import TabulaWire

/// How a confidential invocation answered.
public enum ConfidentialOutcome: Sendable, Hashable {
    /// The function ended; its sealed answer was opened and its receipt verified.
    case completed(ConfidentialReply)
    /// The invocation runs, or still runs, in the background: open its result later with the
    /// ticket (``Client/confidentialResult(_:)``).
    case accepted(ConfidentialTicket)
}

extension Client {
    /// Fetches the enclave's attestation bundle and verifies it.
    ///
    /// `GET /api/v1/attestation?nonce=`. Checks that the identity certificate's evidence is
    /// authentic and fresh (it carries `nonce`), that it satisfies `policy` (by default: no debug
    /// TEE, no simulated evidence; with ``AppraisalPolicy/isolations``, how tenant code runs, as
    /// the certificate's claims state it), that it binds the certificate's key, and that this key
    /// signed the key configurations with their epoch.
    ///
    /// - Parameters:
    ///   - policy: the reference values the evidence must satisfy.
    ///   - nonce: bytes the evidence must carry; 32 random bytes when `nil`.
    ///   - evidenceCertificate: the VCEK or VLEK, for SEV-SNP evidence.
    ///   - time: when certificates must be valid.
    /// - Throws: ``ClientError`` with ``ClientError/Code/attestationFailed`` when anything does
    ///   not verify, or the HTTP error.
    public func attest(policy: AppraisalPolicy = AppraisalPolicy(), nonce: [UInt8]? = nil, evidenceCertificate: [UInt8]? = nil, at time: Date = Date()) async throws -> AttestedEnclave {
        let nonce = nonce ?? SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
        let reply = try await send("GET", ["attestation"], query: [("nonce", nonce.hex)])
        let bundle = try reply.decode(AttestationBundle.self, what: "attestation bundle")
        return try await AttestedEnclave.verify(bundle, nonce: nonce, policy: policy, evidenceCertificate: evidenceCertificate, at: time)
    }

    /// Fetches a function's certificate and verifies it against the enclave's identity key.
    ///
    /// `GET /api/v1/attestation/namespaces/{ns}/actions/{name}`.
    /// - Parameter expectedDigest: the SHA-256 of the module the caller expects; `nil` accepts the
    ///   one the certificate names (check ``AttestedFunction/claims`` yourself then).
    /// - Throws: ``ClientError`` with ``ClientError/Code/verificationFailed`` when the certificate
    ///   is not the identity key's, names another function, or another module.
    public func verifyFunction(name: String, enclave: AttestedEnclave, expectedDigest: [UInt8]? = nil, at time: Date = Date()) async throws -> AttestedFunction {
        let entity = try EntityPath(name, defaultNamespace: namespace)
        // Pinned to the enclave verified: behind a load balancer, the request may reach another
        // node of a cluster, which passes it on to the node of this enclave.
        let pin = Confidential.enclaveFingerprint(Array(enclave.identityKey.derRepresentation))
        let reply = try await send(
            "GET", ["attestation"] + segments("actions", entity), query: [(Confidential.enclaveParameter, pin)], accept: "application/x-pem-file")
        if reply.status == 409, try await action(name: name).exec.kind == "sequence" {
            // A sequence has no certificate of its own: its actions' certificates make it up.
            return try await verifySequence(name: name, enclave: enclave, expectedDigest: expectedDigest, at: time)
        }
        guard reply.succeeded else { throw reply.error }
        let claims: FunctionClaims
        do {
            claims = try FunctionCertificate.verify(Array(reply.body), identityKey: enclave.identityKey, at: time)
        } catch {
            throw ClientError(.verificationFailed, "The function certificate of \(name) does not verify against the enclave's identity key: \(error)")
        }
        guard EntityName.same(claims.name, entity.name), EntityName.same(entity.namespace, "_") || EntityName.same(claims.namespace, entity.namespace) else {
            throw ClientError(.verificationFailed, "The function certificate is for /\(claims.namespace)/\(claims.name), not \(name).")
        }
        if let expectedDigest, claims.moduleDigest != expectedDigest.hex {
            throw ClientError(.verificationFailed, "The function \(name) runs the module sha-256=\(claims.moduleDigest), not the expected sha-256=\(expectedDigest.hex).")
        }
        let reasons = enclave.policy.appraise(function: claims)
        guard reasons.isEmpty else {
            throw ClientError(.verificationFailed, "The function \(name) does not satisfy the policy: \(reasons.joined(separator: "; ")).")
        }
        return AttestedFunction(claims: claims, certificate: String(decoding: reply.body, as: UTF8.self))
    }

    /// Invokes a function confidentially: the parameters are sealed to the attested enclave, and
    /// only this client can open the answer.
    ///
    /// `POST …/actions/{name}?blocking=` with `Content-Type: message/ohttp-req`. The sealed
    /// request names the function and the module digest of `function`, so the enclave runs
    /// nothing else on the parameters. The answer's receipt is verified before it is returned.
    ///
    /// - Parameters:
    ///   - blocking: wait for the function to end; otherwise (or when the server's wait runs out)
    ///     the answer is a ticket to open the result with later.
    ///   - timeout: with `blocking`, milliseconds the server waits before answering 202.
    ///   - signedReceipt: ask for the receipt signed by the identity key on its own (one ECDSA
    ///     signature in the enclave), for a third party that trusts no log; every receipt is
    ///     provable from the log without it (``proveReceipt(_:enclave:)``).
    public func invokeConfidential(
        name: String, parameters: JSONValue = [:], enclave: AttestedEnclave, function: AttestedFunction,
        blocking: Bool = true, timeout: Int? = nil, signedReceipt: Bool = false
    ) async throws -> ConfidentialOutcome {
        let entity = try EntityPath(name, defaultNamespace: namespace)
        guard case .object = parameters else {
            throw ClientError(.invalidArgument, "The parameters must be a JSON object.")
        }
        let inner = BinaryHTTPRequest(
            method: "POST", scheme: apiHost.scheme ?? "https", authority: apiHost.host ?? "",
            path: Confidential.invokePath(namespace: entity.namespace, name: entity.name),
            headerFields: [
                BinaryHTTPField("content-type", "application/json"),
                BinaryHTTPField(Confidential.expectDigestField, "sha-256=\(function.claims.moduleDigest)"),
            ] + (signedReceipt ? [BinaryHTTPField(Confidential.signReceiptField, "?1")] : []),
            content: parameters.encoded)
        let plaintext = try inner.encoded()
        let (sealed, context) = try ObliviousHTTP.encapsulateRequest(plaintext, to: enclave.keyConfigurations[0])

        var query = [("blocking", String(blocking))]
        if let timeout { query.append(("timeout", String(timeout))) }
        let wait = blocking ? Double(timeout ?? 60_000) / 1000 + 30 : nil
        let reply = try await send(
            "POST", segments("actions", entity), query: query, body: Data(sealed), contentType: ObliviousHTTP.requestMediaType,
            accept: ObliviousHTTP.responseMediaType, wait: wait)
        func ticket(_ activationID: String) throws -> ConfidentialTicket {
            try Self.checkActivationID(activationID)
            return ConfidentialTicket(
                activationId: activationID, context: Data(context.serialized).base64EncodedString(),
                requestDigest: Array(SHA256.hash(data: plaintext)).hex,
                function: .init(
                    namespace: function.claims.namespace, name: function.claims.name, moduleDigest: function.claims.moduleDigest,
                    snapshotDigest: function.claims.snapshotDigest, policyDigest: function.claims.policyDigest),
                identityKey: enclave.identityKey.x963Representation.base64EncodedString(), signedReceipt: signedReceipt)
        }
        switch reply.status {
        case 202:
            struct Accepted: Decodable { var activationId: String }
            let id = try reply.activationID ?? reply.decodeBody(Accepted.self, what: "activation id").activationId
            return .accepted(try ticket(id))
        case 200 where reply.contentType?.lowercased().hasPrefix(ObliviousHTTP.responseMediaType) == true:
            guard let id = reply.activationID else {
                throw ClientError(.invalidResponse, "The sealed answer came without its activation id (x-openwhisk-activation-id).")
            }
            return .completed(try Self.open(Array(reply.body), ticket: try ticket(id)))
        default:
            throw reply.error
        }
    }

    /// Opens the sealed result of a confidential invocation accepted earlier.
    ///
    /// `GET …/activations/{id}/result`. Returns `nil` while the invocation has not ended.
    public func confidentialResult(_ ticket: ConfidentialTicket) async throws -> ConfidentialReply? {
        let reply = try await send("GET", segments("activations") + [ticket.activationId, "result"])
        if reply.status == 404 { return nil }
        let response = try reply.decode(JSONValue.self, what: "activation result")
        guard case .string(let base64)? = response["result"]?[Confidential.sealedResultKey], let sealed = Data(base64Encoded: base64) else {
            throw ClientError(.invalidResponse, "The activation \(ticket.activationId) holds no sealed result: it was not a confidential invocation.")
        }
        return try Self.open(Array(sealed), ticket: ticket)
    }

    /// Opens a sealed answer and verifies its receipt against what the ticket remembers.
    static func open(_ sealed: [UInt8], ticket: ConfidentialTicket) throws -> ConfidentialReply {
        func failed(_ message: String) -> ClientError { ClientError(.verificationFailed, message) }
        guard let contextBytes = Data(base64Encoded: ticket.context), let keyBytes = Data(base64Encoded: ticket.identityKey),
              let identityKey = try? P256.Signing.PublicKey(x963Representation: keyBytes)
        else {
            throw ClientError(.invalidArgument, "The confidential ticket of \(ticket.activationId) is damaged.")
        }
        let response: BinaryHTTPResponse
        do {
            let context = try ObliviousHTTP.ClientContext(serialized: Array(contextBytes))
            response = try BinaryHTTPResponse(decoding: try context.openResponse(sealed))
        } catch {
            throw failed("The sealed answer to \(ticket.activationId) does not open: \(error)")
        }
        guard response.status == 200 || response.status == 502 else {
            let message = (try? JSONValue(parsing: response.content))?["error"]?.stringValue ?? "the enclave refused the request"
            return ConfidentialReply(activationID: ticket.activationId, status: response.status, result: nil, error: message, receipt: nil)
        }
        func field(_ name: String) -> [UInt8]? {
            response.headerFields.first { $0.name == name }.flatMap { Data(base64Encoded: $0.value) }.map { Array($0) }
        }
        // The answer opened with this request's response keys: only the enclave that opened the
        // request sealed it, so its receipt is authentic to this client without a signature.
        guard let receiptBytes = field(Confidential.receiptField) else {
            throw failed("The sealed answer to \(ticket.activationId) carries no receipt.")
        }
        let signatureBytes = field(Confidential.receiptSignatureField)
        if ticket.signedReceipt == true, signatureBytes == nil {
            throw failed("The receipt of \(ticket.activationId) was asked for signed, and the answer carries no signature.")
        }
        if let signatureBytes {
            guard let signature = try? P256.Signing.ECDSASignature(derRepresentation: signatureBytes),
                  identityKey.isValidSignature(signature, for: receiptBytes)
            else {
                throw failed("The receipt of \(ticket.activationId) is not signed by the attested identity key.")
            }
        }
        let receipt: Receipt
        let result: ConfidentialResult
        do {
            receipt = try JSONValue.decode(Receipt.self, from: receiptBytes)
            result = try JSONValue.decode(ConfidentialResult.self, from: response.content)
        } catch {
            throw failed("The receipt or the result of \(ticket.activationId) does not decode: \(error)")
        }
        let function = ticket.function
        var checks: [(Bool, String)] = [
            (receipt.activationId == ticket.activationId && result.activationId == ticket.activationId, "it answers another activation (\(receipt.activationId))"),
            (EntityName.same(receipt.namespace, function.namespace) && EntityName.same(receipt.name, function.name), "it names /\(receipt.namespace)/\(receipt.name)"),
            (receipt.moduleDigest == function.moduleDigest, "the module that ran is sha-256=\(receipt.moduleDigest), not the certified \(function.moduleDigest)"),
            (receipt.requestDigest == ticket.requestDigest, "it is for another request"),
            (receipt.responseDigest == Array(SHA256.hash(data: response.content)).hex, "it covers another response"),
        ]
        if let components = receipt.components {
            // A sequence: its digest covers every action's module, policy and snapshot, and the
            // client computed the expected one from their certificates.
            checks.append((Receipt.sequenceDigest(components) == receipt.moduleDigest, "its actions do not make up the sequence digest it states"))
        } else {
            checks.append((receipt.snapshotDigest == function.snapshotDigest, "the invocation started from snapshot \(receipt.snapshotDigest), not the certified \(function.snapshotDigest)"))
            checks.append((receipt.policyDigest == function.policyDigest, "the policy enforced is \(receipt.policyDigest), not the certified \(function.policyDigest)"))
        }
        if let (_, reason) = checks.first(where: { !$0.0 }) {
            throw failed("The receipt of \(ticket.activationId) does not match: \(reason).")
        }
        return ConfidentialReply(
            activationID: ticket.activationId, status: response.status, result: result, error: nil, receipt: receipt, receiptBytes: receiptBytes,
            receiptSignature: signatureBytes)
    }
}

extension AttestedEnclave {
    /// Verifies an attestation bundle (a node's, or a key broker's for a whole cluster): the
    /// identity certificate and its evidence, with `nonce`, against `policy`, and the identity
    /// key's signature over the key configurations with their epoch.
    ///
    /// - Throws: ``ClientError`` with ``ClientError/Code/attestationFailed``.
    public static func verify(
        _ bundle: AttestationBundle, nonce: [UInt8]?, policy: AppraisalPolicy, evidenceCertificate: [UInt8]? = nil, at time: Date = Date()
    ) async throws -> AttestedEnclave {
        let verified: IdentityCertificate.Verified
        do {
            verified = try await IdentityCertificate.verify(Array(bundle.certificate.utf8), nonce: nonce, evidenceCertificate: evidenceCertificate, at: time)
        } catch {
            throw ClientError(.attestationFailed, "The enclave's identity certificate does not verify: \(error)")
        }
        let reasons = policy.appraise(verified.claims)
        guard reasons.isEmpty else {
            throw ClientError(.attestationFailed, "The enclave's evidence does not satisfy the reference policy: \(reasons.joined(separator: "; ")).")
        }
        guard let list = Data(base64Encoded: bundle.keyConfigs), let signatureBytes = Data(base64Encoded: bundle.keyConfigsSignature) else {
            throw ClientError(.attestationFailed, "The attestation bundle's keyConfigs or keyConfigsSignature is not base64.")
        }
        let message = AttestationBundle.signedMessage(epoch: bundle.epoch, expires: bundle.expires, keyConfigs: Array(list))
        guard let signature = try? P256.Signing.ECDSASignature(derRepresentation: signatureBytes),
              verified.publicKey.isValidSignature(signature, for: message)
        else {
            throw ClientError(.attestationFailed, "The key configurations are not signed by the attested identity key: do not send data to this server.")
        }
        let configurations: [KeyConfiguration]
        do {
            configurations = try KeyConfiguration.decodeList(Array(list))
        } catch {
            throw ClientError(.attestationFailed, "The signed key configurations do not decode: \(error)")
        }
        guard !configurations.isEmpty else {
            throw ClientError(.attestationFailed, "The enclave offers no key configuration.")
        }
        var enclave = AttestedEnclave(
            claims: verified.claims, identityKey: verified.publicKey, keyConfigurations: configurations,
            epoch: bundle.epoch, expires: bundle.expires, certificate: bundle.certificate)
        enclave.policy = policy
        return enclave
    }
}
