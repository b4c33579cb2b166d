import Crypto
public import Foundation
public import TabulaWire

/// A party's sealed input to a job, as the enclave judged it.
public struct JobSubmission: Sendable {
    /// The sealed answer to the party (`message/ohttp-res`): accepted, or why not.
    public var response: [UInt8]
    /// The input sealed again for the store, under the monitor's job key, when accepted.
    public var stored: [UInt8]?
    /// The refusal's stable code (public: the log records it), when refused.
    public var refusal: JobRefusal?
    /// Whether the slot's party signed the input: only then is a refusal recorded in the log.
    public var signedByParty: Bool
}

/// Why the enclave refused a party's input or a job's run. The raw values are stable: the log
/// records them and docs/jobs.md lists them.
public enum JobRefusal: String, Sendable, Hashable {
    /// The input is for another job (its path or its job digest names another).
    case wrongJob = "wrong-job"
    /// The input names another slot than the one it was posted to, or one the job does not have.
    case wrongSlot = "wrong-slot"
    /// The input is not the JSON docs/jobs.md describes.
    case malformed
    /// The input is not signed by the slot's party.
    case badSignature = "bad-signature"
    /// The job expired.
    case jobExpired = "job-expired"
    /// The input's policy expired.
    case inputExpired = "input-expired"
    /// The input's policy does not allow the job's function.
    case functionNotAllowed = "function-not-allowed"
    /// The input's policy does not allow every recipient of the job.
    case recipientNotAllowed = "recipient-not-allowed"
    /// The input's policy allows no run.
    case runsExhausted = "runs-exhausted"
    /// The function loaded is not the module the job names.
    case functionChanged = "function-changed"
    /// A stored input does not open with the enclave's job key (altered, or from another enclave).
    case inputUnreadable = "input-unreadable"

    /// The HTTP status the party's sealed answer carries.
    public var status: Int {
        switch self {
        case .malformed: 400
        case .badSignature, .inputExpired, .functionNotAllowed, .recipientNotAllowed, .runsExhausted: 403
        case .wrongJob, .wrongSlot, .functionChanged, .inputUnreadable: 409
        case .jobExpired: 410
        }
    }
}

/// The outcome of a job's run, as the control plane may see it: sealed results and the public
/// record.
public struct JobRun: Sendable {
    /// How the function ended (its status class only); `nil` when the run was refused.
    public var status: ActivationResponse.Status?
    /// Each recipient's sealed result (``JobResult/seal(_:to:jobDigest:name:)``) and the identity
    /// key's signature over it (``JobResult/signedMessage(jobDigest:sealed:name:)``).
    public var results: [(recipient: String, sealed: [UInt8], signature: [UInt8])]
    /// What the log records.
    public var record: JobRecord
    public var duration: Duration
    public var rewind: Rewind?
}

extension Enclave {
    /// Judges a party's sealed input to `job`, posted to its `slot`, and seals it again for the
    /// store when accepted, with `inputDigest` (SHA-256 of the sealed bytes as posted) inside, so
    /// that the run's record names exactly what the party sent.
    ///
    /// The input must be for this job (its path and its job digest), for this slot, signed by the
    /// slot's party, and its policy must allow the job's function and every recipient, and not
    /// have expired. Whatever the enclave says about it goes to the party inside the seal; the
    /// control plane learns only the refusal's code.
    /// - Throws: ``EnclaveError`` only when no monitor runs or the answer cannot be sealed.
    public func acceptJobInput(_ sealed: SealedRequest, inputDigest: [UInt8], job: Job, slot: String, now: Date = Date()) throws -> JobSubmission {
        let monitor = try attestedMonitor()
        let request = sealed.request
        // Whether the slot's party signed what arrived (over the path it names): only such an
        // input is the party's, and only its refusal goes into the log (a stranger's garbage
        // must not fill the log nor be shown to the parties as theirs).
        let signature = request.headerFields.first { $0.name.lowercased() == JobInput.signatureField }
            .flatMap { Data(base64Encoded: $0.value) }.flatMap { try? P256.Signing.ECDSASignature(derRepresentation: $0) }
        let owner = job.slots.first { $0.name == slot }
        let signed = signature.map { signature in
            owner.flatMap { Job.partyKey($0.party) }?.isValidSignature(signature, for: JobInput.signedMessage(path: request.path, content: request.content)) ?? false
        } ?? false
        func answer(_ refusal: JobRefusal, _ message: String) throws -> JobSubmission {
            let answer = try sealAnswer(status: refusal.status, json: ["error": .string(message), "code": .string(refusal.rawValue)], to: sealed)
            return JobSubmission(response: answer, stored: nil, refusal: refusal, signedByParty: signed)
        }
        let path = Job.inputPath(namespace: job.namespace, id: job.id, slot: slot)
        guard request.method == "POST", request.path == path else {
            return try answer(.wrongJob, "the sealed input is for \(request.method) \(request.path), but was posted to \(path); seal each input for the job and slot it goes to")
        }
        guard let input = try? JSONValue.decode(JobInput.self, from: request.content) else {
            return try answer(.malformed, "the sealed input must be the JSON object {\"job\", \"slot\", \"input\", \"policy\"} of docs/jobs.md")
        }
        guard input.job == job.digest.hex else {
            return try answer(.wrongJob, "the input is for the job with digest \(input.job), not this job (\(job.digest.hex)): the job changed, or the input is another job's")
        }
        guard input.slot == slot, owner != nil else {
            return try answer(.wrongSlot, "the input names the slot \(input.slot.debugDescription), not \(slot.debugDescription), or the job has no such slot")
        }
        guard signed else {
            return try answer(.badSignature, "the input is not signed by the key of slot \(slot)'s party (field \(JobInput.signatureField))")
        }
        if let refusal = Self.refusal(of: input.policy, job: job, moduleDigest: job.moduleDigest, now: now) {
            return try answer(refusal.0, refusal.1)
        }
        var plaintext = inputDigest + request.content
        defer { plaintext.wipe() }
        let stored = try Self.sealForStore(plaintext, job: job, slot: slot, key: monitor.jobStorageKey)
        let answer = try sealAnswer(status: 201, json: ["job": .string(job.id), "slot": .string(slot), "accepted": true], to: sealed)
        return JobSubmission(response: answer, stored: stored, refusal: nil, signedByParty: true)
    }

    /// Runs a job whose every slot is filled: reads each stored input, checks its policy again
    /// (the function loaded now, the time now), gives the function all inputs
    /// (`{"job": id, "inputs": {slot: input, …}}`) and seals its outcome to each recipient.
    ///
    /// - Parameters:
    ///   - inputs: each slot's stored input (``JobSubmission/stored``).
    ///   - revision: the ``FunctionDefinition/revision`` that must run; `nil` for whichever is loaded.
    /// - Returns: the run, or its refusal (``JobRun/status`` `nil`): a refused run runs nothing.
    public func runJob(
        _ job: Job, inputs: [String: [UInt8]], revision: String? = nil, activationID: String, now: Date = Date()
    ) async throws -> JobRun {
        let monitor = try attestedMonitor()
        let name = FunctionName(namespace: job.namespace, name: job.function)
        let host = try host(name, revision: revision)
        let at = Int64(now.timeIntervalSince1970 * 1000)
        func refused(_ refusal: JobRefusal, slot: String?) -> JobRun {
            JobRun(status: nil, results: [], record: JobRecord(job: job, outcome: "refused", reason: refusal.rawValue, slot: slot, at: at), duration: .zero, rewind: nil)
        }
        guard host.moduleDigest.hex == job.moduleDigest else { return refused(.functionChanged, slot: nil) }
        guard at < job.expires else { return refused(.jobExpired, slot: nil) }

        var opened: [String: JSONValue] = [:]
        var read: [JobRecord.Input] = []
        for slot in job.slots {
            guard let stored = inputs[slot.name] else { return refused(.wrongSlot, slot: slot.name) }
            guard var content = try? Self.openFromStore(stored, job: job, slot: slot.name, key: monitor.jobStorageKey), content.count > 32 else {
                return refused(.inputUnreadable, slot: slot.name)
            }
            defer { content.wipe() }
            let inputDigest = Array(content.prefix(32))
            guard let input = try? JSONValue.decode(JobInput.self, from: content.dropFirst(32)), input.slot == slot.name, input.job == job.digest.hex else {
                return refused(.inputUnreadable, slot: slot.name)
            }
            if let refusal = Self.refusal(of: input.policy, job: job, moduleDigest: host.moduleDigest.hex, now: now) {
                return refused(refusal.0, slot: slot.name)
            }
            opened[slot.name] = input.input
            read.append(JobRecord.Input(slot: slot.name, inputDigest: inputDigest.hex, policyDigest: input.policy.digest.hex))
        }

        let parameters = WipedBytes(JSONValue.object(["job": .string(job.id), "inputs": .object(opened)]).encoded)
        opened.removeAll()
        let outcome: JobResult
        var duration = Duration.zero
        var rewind: Rewind?
        let status: ActivationResponse.Status
        do {
            // Not as a sealed invocation: the namespace's secrets are not part of any party's
            // policy, so a job's function runs without them.
            let invocation = try await execute(host, input: parameters, activationID: activationID, sealed: false)
            status = invocation.response.status
            duration = invocation.duration
            rewind = invocation.rewind
            outcome = JobResult(job: job.id, status: status.rawValue, success: invocation.response.success, result: invocation.response.result, logs: invocation.logs)
        } catch let error as EnclaveError {
            // The enclave's own words (limits, a trap): sealed to the recipients like a result.
            status = error.code == .limitExceeded ? .applicationError : .internalError
            outcome = JobResult(job: job.id, status: status.rawValue, success: false, result: ["error": .string(error.message)], logs: [])
        }
        var plaintext = JSONValue.bytes(outcome)
        defer { plaintext.wipe() }
        var results: [(recipient: String, sealed: [UInt8], signature: [UInt8])] = []
        for recipient in job.recipients {
            guard let key = Job.recipientKey(recipient.key), let sealed = try? JobResult.seal(plaintext, to: key, jobDigest: job.digest, name: recipient.name) else {
                return refused(.malformed, slot: nil)
            }
            results.append((recipient.name, sealed, try monitor.signJobResult(jobDigest: job.digest, sealed: sealed, name: recipient.name)))
        }
        let record = JobRecord(
            job: job, outcome: "ran", status: status.rawValue, inputs: read,
            results: results.map { JobRecord.Result(recipient: $0.recipient, digest: Array(SHA256.hash(data: $0.sealed)).hex) }, at: at)
        return JobRun(status: status, results: results, record: record, duration: duration, rewind: rewind)
    }

    /// The one check of a party's policy against a job, on arrival and again before the run.
    static func refusal(of policy: JobPolicy, job: Job, moduleDigest: String, now: Date) -> (JobRefusal, String)? {
        let at = Int64(now.timeIntervalSince1970 * 1000)
        if at >= job.expires { return (.jobExpired, "the job expired at \(job.expires) (milliseconds since 1970)") }
        if at >= policy.expires { return (.inputExpired, "the input's policy expired at \(policy.expires) (milliseconds since 1970)") }
        if !policy.functions.contains(moduleDigest) {
            return (.functionNotAllowed, "the input's policy does not allow the module sha-256=\(moduleDigest) that the job runs")
        }
        if let recipient = job.recipients.first(where: { !policy.recipients.contains($0.key) }) {
            return (.recipientNotAllowed, "the input's policy does not allow the recipient \(recipient.name) (key \(recipient.key))")
        }
        if policy.runs < 1 { return (.runsExhausted, "the input's policy allows no run") }
        return nil
    }

    /// AES-256-GCM under the monitor's job key, bound to the job and the slot:
    /// `nonce (12) ‖ ciphertext ‖ tag (16)`.
    static func sealForStore(_ content: [UInt8], job: Job, slot: String, key: SymmetricKey) throws -> [UInt8] {
        Array(try AES.GCM.seal(content, using: key, authenticating: storeAAD(job: job, slot: slot)).combined!)
    }

    static func openFromStore(_ stored: [UInt8], job: Job, slot: String, key: SymmetricKey) throws -> [UInt8] {
        Array(try AES.GCM.open(try AES.GCM.SealedBox(combined: stored), using: key, authenticating: storeAAD(job: job, slot: slot)))
    }

    private static func storeAAD(job: Job, slot: String) -> [UInt8] {
        Array("tabula stored job input v1".utf8) + [0] + job.digest + Array(slot.utf8)
    }
}
