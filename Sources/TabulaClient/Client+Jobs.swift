public import Crypto
public import Foundation
public import TabulaLog
public import TabulaWire

/// A party's keys for multi-party jobs: one signs its inputs, the other opens the results
/// sealed to it. Keep them where the party's own secrets live.
public struct JobParty: Codable, Sendable {
    public var name: String
    /// Raw P-256 private key, base64.
    public var signingKey: String
    /// Raw X25519 private key, base64.
    public var agreementKey: String

    /// New keys for a party called `name`.
    public static func generate(name: String) -> JobParty {
        JobParty(
            name: name, signingKey: P256.Signing.PrivateKey().rawRepresentation.base64EncodedString(),
            agreementKey: Curve25519.KeyAgreement.PrivateKey().rawRepresentation.base64EncodedString())
    }

    public init(name: String, signingKey: String, agreementKey: String) {
        self.name = name
        self.signingKey = signingKey
        self.agreementKey = agreementKey
    }

    public func signing() throws -> P256.Signing.PrivateKey {
        guard let data = Data(base64Encoded: signingKey), let key = try? P256.Signing.PrivateKey(rawRepresentation: data) else {
            throw ClientError(.invalidArgument, "The signing key of party \(name) is damaged.")
        }
        return key
    }

    public func agreement() throws -> Curve25519.KeyAgreement.PrivateKey {
        guard let data = Data(base64Encoded: agreementKey), let key = try? Curve25519.KeyAgreement.PrivateKey(rawRepresentation: data) else {
            throw ClientError(.invalidArgument, "The agreement key of party \(name) is damaged.")
        }
        return key
    }

    /// What others need to name this party in a job: its slot key and its recipient key.
    public func publicIdentity() throws -> JobPartyIdentity {
        JobPartyIdentity(
            name: name, party: try signing().publicKey.x963Representation.base64EncodedString(),
            key: try agreement().publicKey.rawRepresentation.base64EncodedString())
    }
}

/// A party's public keys, as it hands them to a job's creator: `party` fills a slot,
/// `key` receives a result.
public struct JobPartyIdentity: Codable, Sendable, Hashable {
    public var name: String
    public var party: String
    public var key: String

    public init(name: String, party: String, key: String) {
        self.name = name
        self.party = party
        self.key = key
    }
}

/// What the enclave answered a party's sealed input.
public struct JobSubmissionReply: Sendable, Hashable {
    /// 201 when accepted; otherwise the refusal's status.
    public var status: Int
    public var accepted: Bool { status == 201 }
    /// The refusal's stable code (docs/jobs.md) and the enclave's reason, when refused.
    public var code: String?
    public var error: String?
    /// The job's state after the input (`ran` when it was the last one).
    public var state: String?
    /// Hex SHA-256 of the sealed bytes sent: what the run's log record names.
    public var inputDigest: String
}

/// A job's records in the verifiable log, each proven to be in a tree head the enclave signed.
public struct JobProof: Sendable {
    public var head: SignedTreeHead
    public var records: [(index: UInt64, record: JobRecord)]
}

extension Client {
    /// Creates a job in the client's namespace.
    ///
    /// `POST /api/v1/namespaces/{ns}/jobs`.
    /// - Parameters:
    ///   - moduleDigest: the module that must run (hex); `nil` for the action's as deployed.
    ///   - expires: when the job stops taking inputs; `nil` for a day from now.
    public func createJob(
        function: String, moduleDigest: String? = nil, slots: [Job.Slot], recipients: [Job.Recipient], expires: Date? = nil
    ) async throws -> JobStatus {
        var body: [String: JSONValue] = [
            "function": .string(function),
            "slots": .array(slots.map { ["name": .string($0.name), "party": .string($0.party)] }),
            "recipients": .array(recipients.map { ["name": .string($0.name), "key": .string($0.key)] }),
        ]
        if let moduleDigest { body["moduleDigest"] = .string(moduleDigest) }
        if let expires { body["expires"] = .integer(Int64(expires.timeIntervalSince1970 * 1000)) }
        let reply = try await send("POST", ["namespaces", namespace, "jobs"], body: Self.body(JSONValue.object(body)))
        return try Self.checked(try reply.decode(JobStatus.self, what: "job"))
    }

    /// A job's document and state.
    ///
    /// `GET /api/v1/namespaces/{ns}/jobs/{id}`; `namespace` is the job's (by default the client's).
    public func job(id: String, namespace: String? = nil) async throws -> JobStatus {
        let reply = try await send("GET", ["namespaces", namespace ?? self.namespace, "jobs", id])
        return try Self.checked(try reply.decode(JobStatus.self, what: "job"))
    }

    /// The status's digest must be the digest of the document it carries, and its id the one
    /// asked for: an input names the digest, so a party seals only to the job it read.
    private static func checked(_ status: JobStatus) throws -> JobStatus {
        guard status.digest == status.job.digest.hex else {
            throw ClientError(.invalidResponse, "The job's digest \(status.digest) is not the digest of its document; do not send it an input.")
        }
        return status
    }

    /// Seals a party's input with its data-use policy to the attested enclave and sends it.
    ///
    /// `POST /api/v1/namespaces/{ns}/jobs/{id}/inputs/{slot}` with `message/ohttp-req`: inside, a
    /// Binary HTTP request to the same path whose body is ``JobInput`` and whose field
    /// ``JobInput/signatureField`` is the party's signature.
    public func submitJobInput(
        _ job: Job, slot: String, input: JSONValue, policy: JobPolicy, party: JobParty, enclave: AttestedEnclave
    ) async throws -> JobSubmissionReply {
        let path = Job.inputPath(namespace: job.namespace, id: job.id, slot: slot)
        let content = JSONValue.bytes(JobInput(job: job.digest.hex, slot: slot, input: input, policy: policy))
        let signature = try party.signing().signature(for: JobInput.signedMessage(path: path, content: content))
        let inner = try BinaryHTTPRequest(
            method: "POST", scheme: apiHost.scheme ?? "https", authority: apiHost.host ?? "", path: path,
            headerFields: [
                BinaryHTTPField("content-type", "application/json"),
                BinaryHTTPField(JobInput.signatureField, signature.derRepresentation.base64EncodedString()),
            ],
            content: content
        ).encoded()
        let (sealed, context) = try ObliviousHTTP.encapsulateRequest(inner, to: enclave.keyConfigurations[0])
        let reply = try await send(
            "POST", ["namespaces", job.namespace, "jobs", job.id, "inputs", slot], body: Data(sealed), contentType: ObliviousHTTP.requestMediaType,
            accept: ObliviousHTTP.responseMediaType)
        guard reply.contentType?.lowercased().hasPrefix(ObliviousHTTP.responseMediaType) == true else { throw reply.error }
        let response: BinaryHTTPResponse
        do {
            response = try BinaryHTTPResponse(decoding: try context.openResponse(Array(reply.body)))
        } catch {
            throw ClientError(.verificationFailed, "The enclave's answer to the input does not open: \(error)")
        }
        let body = try? JSONValue(parsing: response.content)
        return JobSubmissionReply(
            status: response.status, code: body?["code"]?.stringValue, error: body?["error"]?.stringValue,
            state: reply.jobState, inputDigest: Array(SHA256.hash(data: sealed)).hex)
    }

    /// Fetches and opens a recipient's sealed result, checking that the attested enclave sealed it.
    ///
    /// `GET /api/v1/namespaces/{ns}/jobs/{id}/results/{recipient}`. The recipient is the one of
    /// the job whose key is the party's (whatever name the job gave it). HPKE's base mode does not
    /// say who sealed a message, so the enclave's signature over the sealed bytes
    /// (``JobResult/signedMessage(jobDigest:sealed:name:)``) must verify with its identity key.
    ///
    /// - Parameter expectedDigest: the digest (hex) of the job the recipient agreed to; the
    ///   enclave signs results for the job document it ran, so a server that shows another
    ///   document under the same id is caught here.
    public func jobResult(_ job: Job, party: JobParty, enclave: AttestedEnclave, expectedDigest: String? = nil) async throws -> JobResult {
        if let expectedDigest, expectedDigest.lowercased() != job.digest.hex {
            throw ClientError(.verificationFailed, "The server shows job \(job.id) with digest \(job.digest.hex), not the \(expectedDigest) you expected: its document was changed.")
        }
        let key = try party.agreement().publicKey.rawRepresentation.base64EncodedString()
        guard let recipient = job.recipients.first(where: { $0.key == key }) else {
            throw ClientError(.invalidArgument, "The job \(job.id) has no recipient with the key of party \(party.name): the result is not sealed to it.")
        }
        let reply = try await send("GET", ["namespaces", job.namespace, "jobs", job.id, "results", recipient.name])
        let json = try reply.decode(JSONValue.self, what: "job result")
        guard let sealed = json["sealed"]?.stringValue.flatMap({ Data(base64Encoded: $0) }).map(Array.init),
              let signatureBytes = json["signature"]?.stringValue.flatMap({ Data(base64Encoded: $0) })
        else {
            throw ClientError(.invalidResponse, "The job result holds no sealed bytes or no signature.")
        }
        guard let signature = try? P256.Signing.ECDSASignature(derRepresentation: signatureBytes),
              enclave.identityKey.isValidSignature(signature, for: JobResult.signedMessage(jobDigest: job.digest, sealed: sealed, name: recipient.name))
        else {
            throw ClientError(.verificationFailed, "The result of job \(job.id) is not signed by the attested enclave: do not trust it.")
        }
        do {
            let plaintext = try JobResult.open(sealed, with: try party.agreement(), jobDigest: job.digest, name: recipient.name)
            return try JSONValue.decode(JobResult.self, from: plaintext)
        } catch let error as ClientError {
            throw error
        } catch {
            throw ClientError(.verificationFailed, "The result of job \(job.id) does not open for \(party.name): \(error)")
        }
    }

    /// Finds every record of `job` in the verifiable log and proves each one's inclusion in a
    /// tree head the attested enclave signed.
    ///
    /// Reads the whole log, a thousand entries at a time, and checks that all of it is the tree
    /// the head signs (its root, recomputed here): no record, a second run say, can be hidden by
    /// serving another entry in its place.
    public func proveJob(_ job: Job, enclave: AttestedEnclave, progress: ((UInt64, UInt64) -> Void)? = nil) async throws -> JobProof {
        let head = try await treeHead(verifiedBy: enclave)
        var found: [(index: UInt64, record: JobRecord)] = []
        var tree = MerkleLog()
        var start: UInt64 = 0
        while start < head.size {
            let end = min(start + 999, head.size - 1)
            let reply = try await send("GET", ["log", "entries"], query: [("start", String(start)), ("end", String(end))])
            let json = try reply.decode(JSONValue.self, what: "log entries")
            guard case .array(let entries)? = json["entries"], !entries.isEmpty else {
                throw ClientError(.invalidResponse, "The log returned no entries from \(start), below its size \(head.size).")
            }
            for (offset, entry) in entries.enumerated() {
                guard let input = entry["leaf_input"]?.stringValue.flatMap({ Data(base64Encoded: $0) }).map(Array.init) else {
                    throw ClientError(.invalidResponse, "The log's entry \(start + UInt64(offset)) is not base64.")
                }
                tree.append(MerkleTree.leafHash(input))
                guard let parsed = LogEntry.parse(input), parsed.kind == .job,
                      let record = try? JSONValue.decode(JobRecord.self, from: Array(parsed.data)), record.jobDigest == job.digest.hex
                else { continue }
                // Its place is proven by the whole tree, recomputed below against the head.
                found.append((start + UInt64(offset), record))
            }
            start += UInt64(entries.count)
            progress?(start, head.size)
        }
        guard tree.size == head.size, tree.root == head.root else {
            throw ClientError(.verificationFailed, "The log's entries do not make the tree its signed head names: entries were changed or left out.")
        }
        return JobProof(head: head, records: found)
    }
}
