import Foundation
import TabulaEnclave
public import TabulaWire

extension Platform {
    /// An invocation that was accepted: its id, and the task that produces its record.
    public struct PendingActivation: Sendable {
        public let activationID: String
        public let task: Task<Activation, Never>

        /// The record, if it is ready within `timeout`; `nil` when the invocation is still running.
        public func record(within timeout: Duration) async -> Activation? {
            await withTaskGroup(of: Activation?.self) { group in
                group.addTask { await task.value }
                group.addTask {
                    try? await Task.sleep(for: timeout)
                    return nil
                }
                let first = await group.next() ?? nil
                group.cancelAll()
                return first
            }
        }
    }

    /// Accepts an invocation and starts it; the record is stored when it ends.
    ///
    /// Fails at once, before anything runs, for an unknown action (404), a caller or a plain
    /// request the action's policy forbids (403), parameters the action's `final` annotation
    /// forbids (400), and a full queue (429).
    ///
    /// - Parameter subject: the namespace that sent the request (the caller).
    public func invoke(namespace: String, name: String, parameters: JSONValue, subject: String) async throws -> PendingActivation {
        let stored = try storedAction(namespace: namespace, name: name)
        let definition = definition(for: stored.action, code: stored.code)
        if definition.policy.requireConfidential {
            throw PlatformError(.forbidden, "The action /\(namespace)/\(name) accepts only confidential invocations: seal the request to the enclave (tabula action invoke does so unless --plain is given).")
        }
        guard definition.policy.allows(caller: subject, owner: namespace) else {
            throw PlatformError(.forbidden, "The supplied authentication is not authorized to access '\(namespace)'.")
        }
        guard case .object(let given) = parameters else {
            throw PlatformError(.badRequest, "The request content was malformed: the parameters must be a JSON object.")
        }
        let defaults = stored.action.parameters.object
        if stored.action.annotations["final"] == true, given.keys.contains(where: { defaults[$0] != nil }) {
            throw PlatformError(.badRequest, "Request defines parameters that are not allowed (e.g., reserved properties).")
        }
        let merged = JSONValue.object(defaults.merging(given) { _, invocation in invocation })
        return try start(stored, subject: subject, confidential: false) { definition, activationID in
            let invocation = try await self.enclave.invoke(definition.name, parameters: merged, activationID: activationID, caller: subject)
            return Outcome(response: invocation.response, logs: invocation.logs, duration: invocation.duration, rewind: invocation.rewind)
        }
    }

    /// Accepts a confidential invocation: `sealed` is the `message/ohttp-req` body.
    ///
    /// The enclave opens the request before anything is acknowledged, so a request that does not
    /// open (altered, sealed to an unknown or erased key) or a replay fails at once with 400. What
    /// the platform stores is the sealed response and the status class, never plaintext.
    public func invokeConfidential(namespace: String, name: String, sealed: [UInt8], subject: String) async throws -> PendingActivation {
        let stored = try storedAction(namespace: namespace, name: name)
        let request: SealedRequest
        do {
            request = try enclave.open(sealed: sealed)
        } catch {
            throw error.code == .notAttested
                ? PlatformError(.unavailable, "This server runs without an attested enclave: \(error.message)")
                : PlatformError(.badRequest, "The sealed request was refused: \(error.message)")
        }
        let defaults = stored.action.parameters.object
        let final = stored.action.annotations["final"] == true
        return try start(stored, subject: subject, confidential: true) { definition, activationID in
            let outcome = try await self.enclave.invoke(
                definition.name, sealed: request, caller: subject, defaults: defaults, finalDefaults: final, activationID: activationID)
            return Outcome(
                response: ActivationResponse(status: outcome.status, result: [Self.sealedKey: .string(Data(outcome.response).base64EncodedString())]),
                logs: [], duration: outcome.duration, rewind: outcome.rewind)
        }
    }

    /// The member of a confidential activation's `result` that holds the sealed response (base64).
    public static let sealedKey = "sealed"

    /// What one run gives the activation record.
    struct Outcome: Sendable {
        var response: ActivationResponse
        var logs: [String]
        var duration: Duration
        var rewind: Rewind?
    }

    /// The action as last stored: from memory when this process stored or read it before (it is
    /// the store's only writer of actions), else from the database.
    func storedAction(namespace: String, name: String) throws -> Store.StoredAction {
        let key = FunctionName(namespace: namespace, name: name)
        if let cached = actionCache.withLock({ $0[key] }) { return cached }
        guard let stored = try store.action(namespace: namespace, name: name) else {
            throw PlatformError(.notFound, "The requested resource does not exist.")
        }
        remember(stored)
        return stored
    }

    /// Admits an invocation and runs it in a task that stores its record.
    private func start(
        _ stored: Store.StoredAction, subject: String, confidential: Bool,
        body: @escaping @Sendable (FunctionDefinition, String) async throws -> Outcome
    ) throws -> PendingActivation {
        try admission.enter()
        metrics.queueDepth.record(admission.queued)
        let activationID = ActivationID.random()
        let received = Store.now()
        // On the enclave's threads from the start, so that the sandbox runs inline.
        let task = Task(executorPreference: enclave.taskExecutor) { [self] in
            defer {
                admission.leave()
                metrics.queueDepth.record(admission.queued)
            }
            let activation = await run(stored, activationID: activationID, subject: subject, received: received, confidential: confidential, body: body)
            do {
                try await store.insertActivation(activation)
            } catch {
                logger.error("cannot store an activation record", metadata: ["activation": "\(activationID)", "error": "\(error)"])
            }
            return activation
        }
        return PendingActivation(activationID: activationID, task: task)
    }

    /// Runs one invocation and makes its record. Never throws: a failure is an activation too.
    private func run(
        _ stored: Store.StoredAction, activationID: String, subject: String, received: Int64, confidential: Bool,
        body: @Sendable (FunctionDefinition, String) async throws -> Outcome
    ) async -> Activation {
        let action = stored.action
        let definition = definition(for: action, code: stored.code)
        var annotations = [
            KeyValue(key: "path", value: .string("\(action.namespace)/\(action.name)")),
            KeyValue(key: "kind", value: "wasm"),
            KeyValue(key: "limits", value: [
                "timeout": .integer(definition.limits.timeoutMilliseconds),
                "memory": .integer(Int64(definition.limits.memory >> 20)),
                "logs": .integer(Int64(definition.limits.logs >> 20)),
                "concurrency": .integer(Int64(definition.maxSandboxes)),
            ]),
        ]
        if confidential {
            annotations.append(KeyValue(key: "confidential", value: true))
            // "simulated" here tells whoever reads the record that no TEE hardware protected it.
            annotations.append(KeyValue(key: "tee", value: .string(enclave.monitor?.tee ?? "none")))
        }
        let response: ActivationResponse
        var logs: [String] = []
        var start = Store.now()
        var end = start
        do {
            let initTime = try await pool.checkOut(definition, digest: stored.digest)
            if let initTime {
                metrics.coldStarts.increment()
                metrics.warmActions.record(await pool.warmCount)
                annotations.append(KeyValue(key: "initTime", value: .integer(Self.milliseconds(initTime))))
            } else {
                metrics.warmStarts.increment()
            }
            let outcome: Outcome
            do {
                outcome = try await body(definition, activationID)
                await pool.checkIn(definition.name)
            } catch {
                await pool.checkIn(definition.name)
                throw error
            }
            end = Store.now()
            start = end - Self.milliseconds(outcome.duration)
            response = outcome.response
            logs = Self.format(outcome.logs, at: end)
            metrics.duration.recordNanoseconds(Self.nanoseconds(outcome.duration))
            if let rewind = outcome.rewind {
                metrics.rewind.recordNanoseconds(Self.nanoseconds(rewind.duration))
            }
            if !confidential, case .developerError = response.status, response.result["error"]?.stringValue?.hasPrefix("The action exceeded its time limits") == true {
                annotations.append(KeyValue(key: "timeout", value: true))
            }
        } catch {
            end = Store.now()
            // Enclave errors name the function and the limits, never parameters or results.
            let message = (error as? EnclaveError)?.message ?? "\(error)"
            response = .developerError("The action could not be started: \(message)")
            logger.error("invocation failed to start", metadata: ["activation": "\(activationID)", "error": "\(message)"])
        }
        annotations.append(KeyValue(key: "waitTime", value: .integer(max(0, start - received))))
        metrics.invocation(status: response.status)
        return Activation(
            namespace: action.namespace, name: action.name, version: action.version, subject: subject,
            activationId: activationID, start: start, end: end, response: Activation.Response(response),
            logs: logs, annotations: annotations)
    }

    // MARK: Attestation

    /// The attestation bundle of the enclave (see ``Monitor/bundle(nonce:)``).
    public func attestationBundle(nonce: [UInt8]?) async throws -> AttestationBundle {
        guard let monitor = enclave.monitor else {
            throw PlatformError(.unavailable, "This server runs without an attested enclave.")
        }
        return try await monitor.bundle(nonce: nonce)
    }

    /// The current `application/ohttp-keys` list.
    public func keyConfigurations() throws -> [UInt8] {
        guard let monitor = enclave.monitor else {
            throw PlatformError(.unavailable, "This server runs without an attested enclave.")
        }
        return monitor.keyConfigurations
    }

    /// The function certificate of an action, issued by the enclave's identity key; loads the
    /// action if it is not warm.
    public func functionCertificate(namespace: String, name: String) async throws -> String {
        let stored = try storedAction(namespace: namespace, name: name)
        let definition = definition(for: stored.action, code: stored.code)
        _ = try await pool.checkOut(definition, digest: stored.digest)
        let issued = Result { try enclave.functionCertificate(definition.name, version: stored.action.version) }
        await pool.checkIn(definition.name)
        do {
            return try issued.get()
        } catch let error as EnclaveError where error.code == .notAttested {
            throw PlatformError(.unavailable, "This server runs without an attested enclave: \(error.message)")
        }
    }

    /// OpenWhisk's log line format: `<ISO 8601 time> stderr: <line>`.
    static func format(_ lines: [String], at milliseconds: Int64) -> [String] {
        guard !lines.isEmpty else { return [] }
        let time = Date(timeIntervalSince1970: Double(milliseconds) / 1000).formatted(Self.logTimeStyle)
        return lines.map { "\(time) stderr: \($0)" }
    }

    private static let logTimeStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    // MARK: Activations

    public func activation(namespace: String, id: String) throws -> Activation {
        guard let activation = try store.activation(namespace: namespace, id: id) else {
            throw PlatformError(.notFound, "The requested resource does not exist.")
        }
        return activation
    }

    public func activations(namespace: String, name: String?, limit: Int, skip: Int, since: Int64?, upto: Int64?) throws -> [Activation] {
        try store.activations(namespace: namespace, name: name, limit: limit, skip: skip, since: since, upto: upto)
    }
}
