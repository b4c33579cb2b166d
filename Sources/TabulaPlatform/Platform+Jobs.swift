import Crypto
public import Foundation
import TabulaEnclave
import TabulaLog
public import TabulaWire

/// Multi-party jobs (docs/jobs.md): the control plane keeps each job's document, its sealed
/// inputs and its sealed results in the store's blobs, and records every run and every refused
/// input in the verifiable log. It never reads an input or a result: the enclave judges inputs,
/// seals them again for the store, and runs the job.
extension Platform {
    /// What a new job's creator sends (`POST /api/v1/namespaces/{ns}/jobs`).
    public struct JobRequest: Codable, Sendable {
        public var function: String
        /// The module that must run; by default the action's module as deployed now.
        public var moduleDigest: String?
        public var slots: [Job.Slot]
        public var recipients: [Job.Recipient]
        /// Milliseconds since 1970; by default a day from now, at most 30 days.
        public var expires: Int64?
    }

    /// The longest a job may wait for its inputs.
    static let longestJob: Int64 = 30 * 86_400_000
    /// How long a run may seem stuck (its node stopped) before another node takes it over.
    static let runTakeover: Int64 = 10 * 60_000

    /// Creates a job in `namespace` for one of its actions.
    public func createJob(namespace: String, request: JobRequest) async throws -> JobStatus {
        let deployed = try await deployedAction(namespace: namespace, name: request.function)
        let digest = Array(SHA256.hash(data: deployed.definition.module)).hex
        if let wanted = request.moduleDigest, wanted != digest {
            throw PlatformError(.conflict, "The action \(request.function) runs the module sha-256=\(digest), not sha-256=\(wanted); deploy that module or name this one.")
        }
        let now = Store.now()
        let expires = request.expires ?? now + 86_400_000
        guard expires > now, expires - now <= Self.longestJob else {
            throw PlatformError(.badRequest, "expires must be in the future and at most 30 days away (milliseconds since 1970).")
        }
        let job = Job(
            id: UUID().uuidString.lowercased(), namespace: namespace, function: deployed.stored.action.name, moduleDigest: digest,
            slots: request.slots, recipients: request.recipients, expires: expires, created: now)
        if let problem = job.problem() {
            throw PlatformError(.badRequest, "The job is not valid: \(problem).")
        }
        let status = JobStatus(job: job, state: .waiting)
        guard try await store.backend.putBlob(Self.jobBlob(namespace, job.id), bytes: JSONValue.bytes(status), replacing: nil) != nil else {
            throw PlatformError(.conflict, "A job with this id exists already; create it again.")
        }
        return status
    }

    /// A job's document, state, filled slots and log records.
    public func job(namespace: String, id: String) async throws -> JobStatus {
        var (status, _) = try await loadJob(namespace: namespace, id: id)
        // By name only: the sealed inputs themselves are not read to say which slots are filled.
        let stored = Set(try await store.backend.blobNames(prefix: Self.inputBlob(namespace, id, "")))
        status.filled = status.job.slots.map(\.name).filter { stored.contains(Self.inputBlob(namespace, id, $0)) }
        if status.state == .waiting, Store.now() >= status.job.expires { status.state = .expired }
        return status
    }

    /// What a party's sealed input got: the sealed answer, its status and the job's state.
    public struct JobInputOutcome: Sendable {
        public var status: Int
        public var sealedResponse: [UInt8]
        public var state: JobStatus.State
    }

    /// Takes a party's sealed input for `slot` (`message/ohttp-req`); runs the job when it was
    /// the last one missing.
    ///
    /// An input that does not open, or that was received before, is refused with a plain 400
    /// (and the replay recorded in the log); every other answer is sealed to the party.
    public func submitJobInput(namespace: String, id: String, slot: String, sealed: [UInt8]) async throws -> JobInputOutcome {
        let (status, _) = try await loadJob(namespace: namespace, id: id)
        let job = status.job
        guard status.state == .waiting else {
            throw PlatformError(.conflict, "The job \(id) takes no more inputs: it is \(status.state.rawValue).")
        }
        guard job.slots.contains(where: { $0.name == slot }) else {
            throw PlatformError(.notFound, "The job \(id) has no slot \(slot.debugDescription).")
        }
        let inputBlob = Self.inputBlob(namespace, id, slot)
        guard try await store.backend.blob(inputBlob) == nil else {
            throw PlatformError(.conflict, "The slot \(slot) of job \(id) is filled already.")
        }
        let request: SealedRequest
        do {
            request = try enclave.open(sealed: sealed)
        } catch {
            if error.code == .notAttested { throw PlatformError(.unavailable, "This server runs without an attested enclave: \(error.message)") }
            if error.code == .replayedRequest { try await recordReplay(job, slot: slot, sealed: sealed) }
            throw PlatformError(.badRequest, "The sealed input was refused: \(error.message)")
        }
        if let monitor = enclave.monitor, monitor.servesClusterKeys {
            guard try await store.rememberSealed(sealed, until: max(monitor.replayHorizon, Date().addingTimeInterval(3600))) else {
                try await recordReplay(job, slot: slot, sealed: sealed)
                throw PlatformError(.badRequest, "The sealed input was refused: it was already received (by this or another node); seal every input afresh.")
            }
        }
        // The sealed bytes' digest goes into the stored input, inside its seal: the run's record
        // names it, and the party can compute it from what it sent.
        let submission = try enclave.acceptJobInput(request, inputDigest: Array(SHA256.hash(data: sealed)), job: job, slot: slot)
        guard let stored = submission.stored else {
            let refusal = submission.refusal ?? .malformed
            if submission.signedByParty {
                try await appendJobRecord(JobRecord(job: job, outcome: "refused", reason: refusal.rawValue, slot: slot, at: Store.now()))
            }
            return JobInputOutcome(status: refusal.status, sealedResponse: submission.response, state: .waiting)
        }
        try await transparencyLog().accepted(job: job.id, fingerprint: Array(SHA256.hash(data: sealed)))
        guard try await store.backend.putBlob(inputBlob, bytes: stored, replacing: nil) != nil else {
            throw PlatformError(.conflict, "The slot \(slot) of job \(id) was filled by another input meanwhile.")
        }
        let state = try await runIfComplete(namespace: namespace, id: id)
        return JobInputOutcome(status: 201, sealedResponse: submission.response, state: state)
    }

    /// Runs the job when every slot is filled and no run happened or is under way (or one seems
    /// stuck); its state afterwards.
    @discardableResult
    public func runIfComplete(namespace: String, id: String) async throws -> JobStatus.State {
        var (status, version) = try await loadJob(namespace: namespace, id: id)
        let now = Store.now()
        let stuck = status.state == .running && status.since.map { now - $0 > Self.runTakeover } == true
        guard status.state == .waiting || stuck else { return status.state }
        var inputs: [String: [UInt8]] = [:]
        for slot in status.job.slots {
            guard let blob = try await store.backend.blob(Self.inputBlob(namespace, id, slot.name)) else { return status.state }
            inputs[slot.name] = blob.bytes
        }
        // Once: the log, which the store cannot rewrite while this server reads it, says whether
        // the job ran already, whatever the store's document of the job says; the claim is made
        // in the log's actor, so that two runs in this process cannot both pass. It is given
        // back only when no record of the run was appended.
        let log = try transparencyLog()
        guard try await log.claimRun(jobDigest: status.job.digest.hex) else {
            throw PlatformError(.conflict, "The job \(id) ran already, or runs now (its record is in the verifiable log); a job runs once.")
        }
        // One run: whoever moves the job to running runs it.
        status.state = .running
        status.since = now
        let running: Int64
        do {
            guard let moved = try await store.backend.putBlob(Self.jobBlob(namespace, id), bytes: JSONValue.bytes(status), replacing: version) else {
                await log.releaseRun(jobDigest: status.job.digest.hex)
                return try await loadJob(namespace: namespace, id: id).status.state
            }
            running = moved
        } catch {
            await log.releaseRun(jobDigest: status.job.digest.hex)
            throw error
        }
        let job = status.job
        let before = status
        let collected = inputs
        let pending: PendingActivation
        let deployed: Deployed
        do {
            deployed = try await deployedAction(namespace: namespace, name: job.function)
            pending = try start(deployed, subject: namespace, confidential: true) { definition, activationID in
                let run: JobRun
                let index: UInt64
                do {
                    run = try await self.enclave.runJob(job, inputs: collected, revision: definition.revision, activationID: activationID)
                    // Logged before any result is kept: every result a recipient can fetch is in the log.
                    index = try await self.appendJobRecord(run.record)
                } catch {
                    await log.releaseRun(jobDigest: job.digest.hex)
                    throw error
                }
                do {
                    try await self.keep(run, index: index, of: before, version: running, activationID: activationID, log: log)
                } catch let error as PlatformError {
                    // The run happened and is logged; only what it left behind is missing: the
                    // record says so in the platform's words (no plaintext).
                    return Outcome(response: ActivationResponse(status: .internalError, result: ["error": .string(error.message)]), logs: [], duration: run.duration, rewind: run.rewind)
                }
                return Outcome(
                    response: ActivationResponse(status: run.status ?? .applicationError, result: ["job": .string(id)]),
                    logs: [], duration: run.duration, rewind: run.rewind)
            }
        } catch {
            await log.releaseRun(jobDigest: job.digest.hex)
            throw error
        }
        _ = try await pending.record(within: deployed.definition.limits.timeout + .seconds(60))
        return try await loadJob(namespace: namespace, id: id).status.state
    }

    /// Keeps what a logged run left: its sealed results (only if its record is the job's first
    /// run in the log) and the job's new state.
    private func keep(_ run: JobRun, index: UInt64, of before: JobStatus, version: Int64, activationID: String, log: TransparencyLog) async throws {
        let job = before.job
        // Across nodes, only the first run the log records keeps its results: a second run
        // (another node, or a store that let two runs start) never leaves the enclave's memory.
        if run.status != nil, try await log.firstRun(jobDigest: job.digest.hex) != index {
            throw PlatformError(.conflict, "The job \(job.id) ran on another node first; this run's results are discarded.")
        }
        for result in run.results {
            let kept = JSONValue.object([
                "sealed": .string(Data(result.sealed).base64EncodedString()), "signature": .string(Data(result.signature).base64EncodedString()),
            ])
            guard try await store.backend.putBlob(Self.resultBlob(job.namespace, job.id, result.recipient), bytes: kept.encoded, replacing: nil) != nil else {
                throw PlatformError(.conflict, "The store holds a result of job \(job.id) for \(result.recipient) that this run did not make; it is not replaced.")
            }
        }
        var after = before
        after.state = run.status == nil ? .refused : .ran
        after.reason = run.record.reason
        after.records.append(index)
        after.activationId = activationID
        after.since = nil
        guard try await store.backend.putBlob(Self.jobBlob(job.namespace, job.id), bytes: JSONValue.bytes(after), replacing: version) != nil else {
            throw PlatformError(.internalError, "The job \(job.id) ran, but its state changed meanwhile in the store.")
        }
    }

    /// A recipient's sealed result and the enclave's signature over it, once the job ran.
    public func jobResult(namespace: String, id: String, recipient: String) async throws -> (sealed: [UInt8], signature: [UInt8]) {
        let (status, _) = try await loadJob(namespace: namespace, id: id)
        guard status.job.recipients.contains(where: { $0.name == recipient }) else {
            throw PlatformError(.notFound, "The job \(id) has no recipient \(recipient.debugDescription).")
        }
        guard status.state == .ran, let blob = try await store.backend.blob(Self.resultBlob(namespace, id, recipient)) else {
            throw PlatformError(.notFound, "The job \(id) has no result yet: it is \(status.state.rawValue).")
        }
        guard let kept = try? JSONValue(parsing: blob.bytes), let sealed = kept["sealed"]?.stringValue.flatMap({ Data(base64Encoded: $0) }),
              let signature = kept["signature"]?.stringValue.flatMap({ Data(base64Encoded: $0) })
        else {
            throw PlatformError(.internalError, "The store's result of job \(id) for \(recipient) does not decode.")
        }
        return (Array(sealed), Array(signature))
    }

    // MARK: Store and log

    private func loadJob(namespace: String, id: String) async throws -> (status: JobStatus, version: Int64) {
        guard UUID(uuidString: id) != nil, id == id.lowercased() else {
            throw PlatformError(.notFound, "The requested resource does not exist.")
        }
        guard let blob = try await store.backend.blob(Self.jobBlob(namespace, id)) else {
            throw PlatformError(.notFound, "The requested resource does not exist.")
        }
        do {
            let status = try JSONValue.decode(JobStatus.self, from: blob.bytes)
            guard status.job.id == id, EntityName.same(status.job.namespace, namespace) else { throw PlatformError(.internalError, "misfiled") }
            return (status, blob.version)
        } catch {
            throw PlatformError(.internalError, "The store's document of job \(id) does not decode; it cannot be used.")
        }
    }

    /// Appends a job record to the verifiable log; its index.
    @discardableResult
    private func appendJobRecord(_ record: JobRecord) async throws -> UInt64 {
        do {
            return try await transparencyLog().append(.job, JSONValue.bytes(record))
        } catch let error as PlatformError where error.code == .unavailable {
            throw error
        } catch {
            throw PlatformError(.unavailable, "The job record could not be appended to the verifiable log; try again. (\(error))")
        }
    }

    /// Records a replayed input once per job and sealed bytes, so that replaying the same bytes
    /// again and again does not grow the log.
    private func recordReplay(_ job: Job, slot: String, sealed: [UInt8]) async throws {
        // Only a replay of an input this server accepted for this job is the party's; anything
        // else sealed to the enclave (which anyone can do) is told only to its sender.
        guard try await transparencyLog().firstReplay(job: job.id, fingerprint: Array(SHA256.hash(data: sealed))) else { return }
        try await appendJobRecord(JobRecord(job: job, outcome: "refused", reason: "replayed-input", slot: slot, at: Store.now()))
    }

    static func jobBlob(_ namespace: String, _ id: String) -> String { "job/\(namespace)/\(id)" }
    static func inputBlob(_ namespace: String, _ id: String, _ slot: String) -> String { "job/\(namespace)/\(id)/input/\(slot)" }
    static func resultBlob(_ namespace: String, _ id: String, _ recipient: String) -> String { "job/\(namespace)/\(id)/result/\(recipient)" }
}
