public import Crypto
public import Foundation

/// A multi-party job: one function run once on inputs from several parties, each sealed to the
/// attested enclave under its own data-use policy, with the result sealed to named recipients.
///
/// The namespace's owner creates the job (`POST /api/v1/namespaces/{ns}/jobs`); the server
/// chooses its ``id`` and ``created`` time. Everything here is public: the operator, every party
/// and every recipient see the same document, and each party checks it (the function's module
/// digest, the slots' keys, the recipients) before sealing an input to it. Its ``digest`` binds an
/// input to exactly this job.
public struct Job: Codable, Sendable, Hashable {
    public var id: String
    public var namespace: String
    /// The action in ``namespace`` that runs.
    public var function: String
    /// Hex SHA-256 of the module that must run: the enclave refuses to run any other.
    public var moduleDigest: String
    /// The inputs, one per party, in the order the function sees them.
    public var slots: [Slot]
    /// Who gets the result, each sealed to its own key.
    public var recipients: [Recipient]
    /// Milliseconds since 1970 after which the job no longer takes inputs nor runs.
    public var expires: Int64
    /// Milliseconds since 1970 when the server created the job.
    public var created: Int64

    /// One party's input: its name and the key that signs it.
    public struct Slot: Codable, Sendable, Hashable {
        public var name: String
        /// Base64 of the party's P-256 public key (x9.63): only this key's signature fills the slot.
        public var party: String

        public init(name: String, party: String) {
            self.name = name
            self.party = party
        }
    }

    /// One recipient of the result.
    public struct Recipient: Codable, Sendable, Hashable {
        public var name: String
        /// Base64 of the recipient's X25519 public key (32 bytes): the result is sealed to it.
        public var key: String

        public init(name: String, key: String) {
            self.name = name
            self.key = key
        }
    }

    public init(id: String, namespace: String, function: String, moduleDigest: String, slots: [Slot], recipients: [Recipient], expires: Int64, created: Int64) {
        self.id = id
        self.namespace = namespace
        self.function = function
        self.moduleDigest = moduleDigest
        self.slots = slots
        self.recipients = recipients
        self.expires = expires
        self.created = created
    }

    /// The most slots and recipients a job has.
    public static let maximumParties = 16

    /// SHA-256 of the job's canonical JSON (sorted keys): what an input names to be for this job.
    public var digest: [UInt8] { Array(SHA256.hash(data: JSONValue.bytes(self))) }

    /// The path a party's sealed input is posted to, outside and inside the seal.
    public static func inputPath(namespace: String, id: String, slot: String) -> String {
        "/api/v1/namespaces/\(namespace)/jobs/\(id)/inputs/\(slot)"
    }

    /// Checks what a job's creator chose: names, keys, digest, counts; the first problem found.
    public func problem() -> String? {
        guard !function.isEmpty, function.utf8.count <= 256, !function.contains("/") else {
            return "the function must be the name of an action in the job's namespace"
        }
        guard moduleDigest.count == 64, [UInt8](hex: moduleDigest)?.count == 32, moduleDigest == moduleDigest.lowercased() else {
            return "moduleDigest must be 64 lowercase hex digits (the SHA-256 of the module that must run)"
        }
        guard (1...Self.maximumParties).contains(slots.count), (1...Self.maximumParties).contains(recipients.count) else {
            return "a job has 1 to \(Self.maximumParties) slots and 1 to \(Self.maximumParties) recipients"
        }
        for (what, names) in [("slot", slots.map(\.name)), ("recipient", recipients.map(\.name))] {
            if let bad = names.first(where: { !Self.isValidName($0) }) {
                return "the \(what) name \(bad.debugDescription) is not 1 to 32 of a-z, 0-9, - and _"
            }
            guard Set(names).count == names.count else { return "two \(what)s have the same name" }
        }
        for slot in slots where Self.partyKey(slot.party) == nil {
            return "the party of slot \(slot.name) is not base64 of a P-256 public key (x9.63)"
        }
        for recipient in recipients where Self.recipientKey(recipient.key) == nil {
            return "the key of recipient \(recipient.name) is not base64 of an X25519 public key (32 bytes) of full order"
        }
        return nil
    }

    /// Slot, recipient and party names: 1 to 32 of `a-z`, `0-9`, `-` and `_`, safe in a path
    /// and a file name.
    public static func isValidName(_ name: String) -> Bool {
        (1...32).contains(name.utf8.count) && name.utf8.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2D || $0 == 0x5F }
    }

    /// A slot's signing key, or `nil` when it does not parse.
    public static func partyKey(_ base64: String) -> P256.Signing.PublicKey? {
        Data(base64Encoded: base64).flatMap { try? P256.Signing.PublicKey(x963Representation: $0) }
    }

    /// A recipient's key, or `nil` when it does not parse or is a point of small order (no result
    /// could be sealed to it: RFC 9180 §7.1.4 refuses the all-zero shared secret).
    public static func recipientKey(_ base64: String) -> Curve25519.KeyAgreement.PublicKey? {
        guard let data = Data(base64Encoded: base64), data.count == 32, let key = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: data),
              let shared = try? Curve25519.KeyAgreement.PrivateKey().sharedSecretFromKeyAgreement(with: key),
              shared.withUnsafeBytes({ $0.contains { $0 != 0 } })
        else { return nil }
        return key
    }
}

/// What a party allows done with its input: checked by the enclave when the input arrives and
/// again when the job runs.
public struct JobPolicy: Codable, Sendable, Hashable {
    /// Hex SHA-256 digests of the modules that may read the input.
    public var functions: [String]
    /// Base64 X25519 keys of the recipients that may get a result derived from it.
    public var recipients: [String]
    /// Milliseconds since 1970 after which the input may no longer be used.
    public var expires: Int64
    /// How many runs may read it; a job runs once, so at least 1.
    public var runs: Int
    /// Random hex the party chooses, so that the policy's digest in the log cannot be confirmed
    /// by guessing its contents (its expiry, say).
    public var nonce: String?

    public init(functions: [String], recipients: [String], expires: Int64, runs: Int = 1, nonce: String? = nil) {
        self.functions = functions
        self.recipients = recipients
        self.expires = expires
        self.runs = runs
        self.nonce = nonce
    }

    /// 16 random bytes in hex, for ``nonce``.
    public static func randomNonce() -> String {
        SymmetricKey(size: .bits128).withUnsafeBytes { Array($0) }.hex
    }

    /// SHA-256 of the policy's canonical JSON: what the job record names, so that a party can
    /// find its own policy there.
    public var digest: [UInt8] { Array(SHA256.hash(data: JSONValue.bytes(self))) }
}

/// The content of a party's sealed input (the body of the inner request).
public struct JobInput: Codable, Sendable, Hashable {
    /// Hex ``Job/digest`` of the job the input is for.
    public var job: String
    public var slot: String
    public var input: JSONValue
    public var policy: JobPolicy

    public init(job: String, slot: String, input: JSONValue, policy: JobPolicy) {
        self.job = job
        self.slot = slot
        self.input = input
        self.policy = policy
    }

    /// Inner request field: base64 of the party's ECDSA P-256/SHA-256 signature (DER) over
    /// ``signedMessage(path:content:)``.
    public static let signatureField = "tabula-party-signature"

    /// What a party signs: `"tabula job input v1" ‖ 0x00 ‖ path ‖ 0x00 ‖ content`.
    public static func signedMessage(path: String, content: [UInt8]) -> [UInt8] {
        Array("tabula job input v1".utf8) + [0] + Array(path.utf8) + [0] + content
    }
}

/// What a recipient opens: the function's outcome.
public struct JobResult: Codable, Sendable, Hashable {
    public var job: String
    /// OpenWhisk's status text (`success`, `application error`, …).
    public var status: String
    public var success: Bool
    public var result: JSONValue
    public var logs: [String]

    public init(job: String, status: String, success: Bool, result: JSONValue, logs: [String]) {
        self.job = job
        self.status = status
        self.success = success
        self.result = result
        self.logs = logs
    }

    /// Seals a result to a recipient: HPKE base mode (RFC 9180) with DHKEM(X25519, HKDF-SHA256),
    /// HKDF-SHA256 and AES-128-GCM, `info` = `"tabula job result v1" ‖ 0x00 ‖ job digest ‖
    /// recipient name`; the answer is `enc (32 bytes) ‖ ciphertext`.
    public static func seal(_ plaintext: [UInt8], to recipient: Curve25519.KeyAgreement.PublicKey, jobDigest: [UInt8], name: String) throws -> [UInt8] {
        let (encapsulatedKey, context) = try X25519HPKE.setupSender(recipient: recipient, info: info(jobDigest: jobDigest, name: name), aead: .aes128GCM)
        return encapsulatedKey + (try context.seal(plaintext))
    }

    /// Opens what ``seal(_:to:jobDigest:name:)`` made.
    /// - Throws: ``WireError`` with ``WireError/Code/authenticationFailed`` when it was sealed to
    ///   another key, for another job or recipient, or altered.
    public static func open(_ sealed: [UInt8], with key: Curve25519.KeyAgreement.PrivateKey, jobDigest: [UInt8], name: String) throws -> [UInt8] {
        guard sealed.count > 32 + 16 else { throw WireError(.truncated, "a sealed job result has at least 49 bytes") }
        do {
            let context = try X25519HPKE.setupRecipient(encapsulatedKey: Array(sealed.prefix(32)), privateKey: key, info: info(jobDigest: jobDigest, name: name), aead: .aes128GCM)
            return try context.open(Array(sealed.dropFirst(32)))
        } catch {
            throw WireError(.authenticationFailed, "the job result does not open with this key: it is sealed to another recipient, for another job, or altered")
        }
    }

    /// What the enclave signs for each recipient's sealed result, with its identity key:
    /// `"tabula job result v1" ‖ 0x00 ‖ job digest ‖ SHA-256(sealed) ‖ recipient name`. HPKE's
    /// base mode does not say who sealed; this does, so no one else can hand a recipient a result.
    public static func signedMessage(jobDigest: [UInt8], sealed: [UInt8], name: String) -> [UInt8] {
        Array("tabula job result v1".utf8) + [0] + jobDigest + Array(SHA256.hash(data: sealed)) + Array(name.utf8)
    }

    private static func info(jobDigest: [UInt8], name: String) -> [UInt8] {
        Array("tabula job result v1".utf8) + [0] + jobDigest + Array(name.utf8)
    }
}

/// What the verifiable log records of a job: a run, or a refused input. Public, so it holds
/// digests and names only.
public struct JobRecord: Codable, Sendable, Hashable {
    public var job: String
    /// Hex ``Job/digest``.
    public var jobDigest: String
    public var namespace: String
    public var function: String
    /// Hex SHA-256 of the module that ran (or would have).
    public var moduleDigest: String
    /// `ran` or `refused`.
    public var outcome: String
    /// For a run: OpenWhisk's status text of the function's outcome.
    public var status: String?
    /// For a refusal: its stable code (see docs/jobs.md) and the slot it concerns.
    public var reason: String?
    public var slot: String?
    /// For a run: each input that was read.
    public var inputs: [Input]
    /// For a run: each recipient and the hex SHA-256 of the sealed result it can fetch.
    public var results: [Result]
    /// Milliseconds since 1970.
    public var at: Int64
    /// Random hex: no two records are the same leaf, even two refusals of one slot in the same
    /// millisecond.
    public var nonce: String?

    public struct Input: Codable, Sendable, Hashable {
        public var slot: String
        /// Hex SHA-256 of the sealed bytes the party posted.
        public var inputDigest: String
        /// Hex ``JobPolicy/digest`` of the policy it came with.
        public var policyDigest: String

        public init(slot: String, inputDigest: String, policyDigest: String) {
            self.slot = slot
            self.inputDigest = inputDigest
            self.policyDigest = policyDigest
        }
    }

    public struct Result: Codable, Sendable, Hashable {
        public var recipient: String
        public var digest: String

        public init(recipient: String, digest: String) {
            self.recipient = recipient
            self.digest = digest
        }
    }

    public init(
        job: Job, outcome: String, status: String? = nil, reason: String? = nil, slot: String? = nil, inputs: [Input] = [], results: [Result] = [], at: Int64
    ) {
        self.job = job.id
        self.jobDigest = job.digest.hex
        self.namespace = job.namespace
        self.function = job.function
        self.moduleDigest = job.moduleDigest
        self.outcome = outcome
        self.status = status
        self.reason = reason
        self.slot = slot
        self.inputs = inputs
        self.results = results
        self.at = at
        self.nonce = JobPolicy.randomNonce()
    }
}

/// A job as the server keeps and shows it: the document, where it stands, and its log records.
public struct JobStatus: Codable, Sendable, Hashable {
    public var job: Job
    /// Hex ``Job/digest``: what each party's input must name.
    public var digest: String
    public var state: State
    /// The slots filled so far (in answers; the store does not keep it).
    public var filled: [String]?
    /// The indices in the verifiable log of the job's run records.
    public var records: [UInt64]
    /// The activation that ran the job.
    public var activationId: String?
    /// For a refused run: the refusal's code.
    public var reason: String?
    /// When the run under way started (milliseconds since 1970).
    public var since: Int64?

    /// Where a job stands.
    public enum State: String, Codable, Sendable, Hashable {
        /// Takes inputs; runs when the last slot is filled.
        case waiting
        case running
        /// Ran: each recipient's sealed result can be fetched.
        case ran
        /// The enclave refused to run it (``reason`` says why); nothing ran.
        case refused
        /// Expired before every slot was filled.
        case expired
    }

    public init(job: Job, state: State, records: [UInt64] = []) {
        self.job = job
        self.digest = job.digest.hex
        self.state = state
        self.records = records
    }
}
