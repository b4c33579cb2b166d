import Foundation
import TabulaEnclave
public import TabulaWire

extension Platform {
    /// An invocation that was accepted: its id, and its record once stored.
    public struct PendingActivation: Sendable {
        public let activationID: String
        let completion: ActivationCompletion
        /// The action, caller and time of acceptance: what a stand-in record says (built only
        /// when a 202 is given, not for every blocking call).
        let action: Action
        let subject: String
        let received: Int64
        let store: Store

        /// The record, if it is ready within `timeout`; `nil` when the invocation is still running.
        ///
        /// - Throws: ``PlatformError`` (500) when the invocation ended but its record could not
        ///   be stored: the caller must not be told it succeeded.
        public func record(within timeout: Duration) async throws -> Activation? {
            try await completion.wait(timeout: timeout)?.get()
        }

        /// Makes the activation id resolvable whatever happens next: call before answering 202.
        ///
        /// Stores a stand-in record, hidden until the real one replaces it; if the server stops
        /// first, the next start publishes it as a failure ("the server stopped before the
        /// activation finished"). Nothing is written when the real record is already stored.
        ///
        /// - Throws: ``PlatformError`` (500) when it cannot be stored: then nothing was promised.
        public func acknowledge() async throws {
            if let stored = completion.result {
                _ = try stored.get()
                return
            }
            // What is stored for this id should the process stop before the invocation ends.
            let standIn = Platform.standIn(for: action, subject: subject, activationID: activationID, received: received)
            do {
                try await store.insertActivation(standIn, pending: true)
            } catch {
                throw PlatformError(.internalError, "The activation \(activationID) was started but cannot be recorded (\(error)); it may still run. Do not rely on its outcome.")
            }
        }
    }

    /// The record stored for an accepted invocation until its real one replaces it: what the
    /// activation id resolves to should the node running it stop first.
    static func standIn(for action: Action, subject: String, activationID: String, received: Int64) -> Activation {
        Activation(
            namespace: action.namespace, name: shown(action).name, version: action.version, subject: subject, activationId: activationID,
            start: received, end: received, response: Activation.Response(Platform.interruptedResponse),
            logs: [], annotations: [KeyValue(key: "path", value: .string(path(of: action))), KeyValue(key: "kind", value: .string(action.exec.kind))])
    }

    /// Accepts an invocation and starts it; the record is stored when it ends.
    ///
    /// Fails at once, before anything runs, for an unknown action (404), a caller or a plain
    /// request the action's policy forbids (403), parameters the action's `final` annotation
    /// forbids (400), and a full queue (429).
    ///
    /// - Parameter subject: the namespace that sent the request (the caller).
    public func invoke(namespace: String, name: String, parameters: JSONValue, subject: String) async throws -> PendingActivation {
        try await admitInvocation(by: subject)
        let (deployed, merged, binding) = try await accept(namespace: namespace, name: name, parameters: parameters, subject: subject)
        let provenance = Provenance(binding: binding)
        if deployed.isSequence {
            return try startSequence(deployed, subject: subject, parameters: merged, provenance: provenance)
        }
        return try start(deployed, subject: subject, parameters: merged, provenance: provenance)
    }

    /// Accepts a plain invocation whose caller does not wait (a 202): its activation id, which
    /// resolves from then on, whatever happens to this node.
    ///
    /// On one node it runs here. In a cluster it is queued in the store, and the first node with
    /// room claims it (this one, when it has room now): a busy node's work goes to idle ones.
    public func invokeNonBlocking(namespace: String, name: String, parameters: JSONValue, subject: String) async throws -> String {
        guard let cluster = store.cluster else {
            let pending = try await invoke(namespace: namespace, name: name, parameters: parameters, subject: subject)
            try await pending.acknowledge()
            return pending.activationID
        }
        return try await enqueue(namespace: namespace, name: name, parameters: parameters, subject: subject, in: cluster)
    }

    /// Queues a non-blocking invocation in the cluster's store; its activation id.
    private func enqueue(namespace: String, name: String, parameters: JSONValue, subject: String, in cluster: any ClusterBackend) async throws -> String {
        try refuseWhenStopping()
        try await admitInvocation(by: subject)
        let (deployed, _, _) = try await accept(namespace: namespace, name: name, parameters: parameters, subject: subject)
        // The caller's own parameters wait in the store: the node that claims it merges them with
        // the defaults of the action as it is then, and checks the policy again. No more than the
        // function may read: a bigger input would only fail when it runs, after filling the queue.
        let given = String(decoding: JSONValue.encode(parameters), as: UTF8.self)
        guard given.utf8.count <= deployed.definition.limits.input else {
            throw PlatformError(.payloadTooLarge, "The parameters are \(given.utf8.count) bytes, more than the action's input limit of \(deployed.definition.limits.input) bytes.")
        }
        let received = Store.now()
        let activationID = ActivationID.timeOrdered(milliseconds: received)
        let action = deployed.stored.action
        let standIn = Self.standIn(for: action, subject: subject, activationID: activationID, received: received)
        // As requested: the node that claims it resolves a binding again, with its parameters.
        let queued = Store.QueuedInvocation(
            id: activationID, namespace: namespace, name: name, subject: subject, parameters: given, received: received)
        try await cluster.enqueue(
            queued, standIn: Store.ActivationRow(activation: standIn, document: Store.encode(standIn), pending: true),
            limit: configuration.clusterQueueLimit)
        Task { await self.claimWhileFree(cluster) }
        return activationID
    }

    /// Checks a plain invocation before anything runs: the action exists (404), the caller may
    /// invoke it (403), the parameters are an object that the `final` annotation allows (400).
    /// Returns the action, the parameters merged with its defaults, and the binding the name went
    /// through (`NS/BINDING`), if any.
    ///
    /// - Parameter user: whose bindings the name may go through: the caller's, or, for a step of a
    ///   sequence, the sequence's owner's.
    func accept(
        namespace: String, name: String, parameters: JSONValue, subject: String, as user: String? = nil
    ) async throws -> (Deployed, [String: JSONValue], binding: String?) {
        let target = try await target(namespace: namespace, name: name, as: user ?? subject)
        let deployed = target.deployed
        let definition = deployed.definition
        if let refusal = definition.policy.refusal(caller: subject, owner: deployed.stored.action.namespace, sealed: false) {
            throw PlatformError(.forbidden, refusal.message(caller: subject, function: definition.name))
        }
        guard case .object(let given) = parameters else {
            throw PlatformError(.badRequest, "The request content was malformed: the parameters must be a JSON object.")
        }
        // A sequence passes its payload to its first action as it came: no package's defaults.
        guard let merged = Parameters.merge(given, defaults: deployed.isSequence ? [:] : target.defaults, final: deployed.final) else {
            throw PlatformError(.badRequest, Parameters.finalViolation)
        }
        return (deployed, merged, target.binding)
    }

    /// Starts a plain run with merged parameters.
    ///
    /// - Parameter provenance: the sequence this run is a step of, the binding it went through.
    func start(
        _ deployed: Deployed, subject: String, parameters: [String: JSONValue],
        accepted: (activationID: String, received: Int64)? = nil, provenance: Provenance = Provenance(), onStored: (@Sendable () async -> Void)? = nil
    ) throws -> PendingActivation {
        try start(deployed, subject: subject, confidential: false, accepted: accepted, provenance: provenance, onStored: onStored) { definition, activationID in
            let invocation = try await self.enclave.invoke(definition.name, revision: definition.revision, parameters: .object(parameters), activationID: activationID, caller: subject)
            return Outcome(response: invocation.response, logs: invocation.logs, duration: invocation.duration, rewind: invocation.rewind)
        }
    }

    /// Accepts a confidential invocation: `sealed` is the `message/ohttp-req` body.
    ///
    /// The enclave opens the request before anything is acknowledged, so a request that does not
    /// open (altered, sealed to an unknown or erased key) or a replay fails at once with 400. What
    /// the platform stores is the sealed response and the status class, never plaintext.
    public func invokeConfidential(namespace: String, name: String, sealed: [UInt8], subject: String) async throws -> PendingActivation {
        try await admitInvocation(by: subject)
        let target = try await target(namespace: namespace, name: name, as: subject)
        let deployed = target.deployed
        if store.cluster != nil, let keyID = sealed.first, let monitor = enclave.monitor, !monitor.holdsKey(keyID) {
            // Sealed to another node's enclave (the client attested that node): the server
            // forwards it there, and it is never opened here.
            throw PlatformError(.misdirected, "The request is sealed to key \(keyID), which no live node of this cluster has; fetch the attestation bundle again.")
        }
        let request: SealedRequest
        do {
            request = try enclave.open(sealed: sealed)
        } catch {
            if error.code == .notAttested {
                throw PlatformError(.unavailable, "This server runs without an attested enclave: \(error.message)")
            }
            if store.cluster != nil, error.code == .sealedRequest, error.message.hasPrefix(Monitor.undecryptablePrefix) {
                // Key ids are one byte: another node's enclave may have a key of the same id.
                throw PlatformError(.misdirected, "The sealed request was refused: \(error.message)")
            }
            throw PlatformError(.badRequest, "The sealed request was refused: \(error.message)")
        }
        if let monitor = enclave.monitor, monitor.servesClusterKeys {
            // Every node holds the cluster's keys: only the store they share can tell that
            // another node opened these bytes already.
            guard try await store.rememberSealed(sealed, until: max(monitor.replayHorizon, Date().addingTimeInterval(3600))) else {
                throw PlatformError(.badRequest, "The sealed request was refused: this sealed request was already received (by this or another node); seal every invocation afresh")
            }
        }
        if deployed.isSequence {
            return try await startConfidentialSequence(deployed, sealed: request, subject: subject, binding: target.binding)
        }
        let defaults = target.defaults
        return try start(deployed, subject: subject, confidential: true, provenance: Provenance(binding: target.binding)) { definition, activationID in
            let outcome = try await self.enclave.invoke(
                definition.name, revision: definition.revision, sealed: request, caller: subject, defaults: defaults, finalDefaults: deployed.final, activationID: activationID)
            return Outcome(
                response: ActivationResponse(status: outcome.status, result: [Confidential.sealedResultKey: .string(Data(outcome.response).base64EncodedString())]),
                logs: [], duration: outcome.duration, rewind: outcome.rewind, receiptCommitment: outcome.receiptCommitment)
        }
    }

    /// Where an invocation came from, as its record says it (OpenWhisk's `cause`, `causedBy` and
    /// `binding`): the one place that writes them.
    struct Provenance: Sendable {
        /// The activation of the sequence this run is a step of.
        var cause: String?
        /// The binding the invocation's name went through, `NS/BINDING`.
        var binding: String?

        func record(in activation: inout Activation) {
            if let cause {
                activation.cause = cause
                activation.annotations.append(KeyValue(key: "causedBy", value: .string(Platform.sequenceKind)))
            }
            if let binding { activation.annotations.append(KeyValue(key: "binding", value: .string(binding))) }
        }
    }

    /// What one run gives the activation record.
    struct Outcome: Sendable {
        var response: ActivationResponse
        var logs: [String]
        var duration: Duration
        var rewind: Rewind?
        /// A confidential answer's receipt commitment: the log takes it in the transaction that
        /// stores the record, so the answer never leaves without it.
        var receiptCommitment: [UInt8]? = nil
    }

    /// The action as last stored, with what the enclave needs to run it: from memory when this
    /// process stored or read it before, else from the store. With a store shared by the nodes of a
    /// cluster, a change made by another node reaches this one's memory by notification
    /// (``Store/observeActionChanges(_:)``), and at the latest after ``Store/actionRecheck``.
    ///
    /// A cached action is used only while its namespace has the owner that stored it: deleting
    /// a namespace (here or with `tabula namespace delete --data-dir`) and creating it again under
    /// new credentials never serves the old owner's code or parameters (see
    /// ``Store/namespaceIdentity(_:)`` for how soon a change by another process is seen).
    func deployedAction(namespace: String, name: String) async throws -> Deployed {
        _ = try ActionPath(name)
        let key = FunctionName(namespace: namespace, name: name)
        guard let owner = try await store.namespaceIdentity(namespace) else {
            actionCache.withLock { _ = $0.removeValue(forKey: key) }
            throw PlatformError(.notFound, "The requested resource does not exist.")
        }
        if let cached = actionCache.withLock({ $0[key] }), cached.stored.owner == owner,
           store.actionRecheck.map({ ContinuousClock.now - cached.cachedAt < $0 }) ?? true {
            return cached
        }
        guard let stored = try await store.action(namespace: namespace, name: name) else {
            actionCache.withLock { _ = $0.removeValue(forKey: key) }
            throw PlatformError(.notFound, "The requested resource does not exist.")
        }
        return remember(stored)
    }

    /// Admits an invocation and runs it in a task that stores its record.
    ///
    /// - Parameters:
    ///   - accepted: the id and time of acceptance of an invocation accepted earlier (claimed from
    ///     the cluster's queue); `nil` for one accepted now.
    ///   - onStored: runs once the record is stored.
    func start(
        _ deployed: Deployed, subject: String, confidential: Bool,
        accepted: (activationID: String, received: Int64)? = nil, provenance: Provenance = Provenance(), onStored: (@Sendable () async -> Void)? = nil,
        body: @escaping @Sendable (FunctionDefinition, String) async throws -> Outcome
    ) throws -> PendingActivation {
        try refuseWhenStopping()
        // A cold start takes a load place too, until its action is loaded: loads queue on threads
        // of their own, and a flood of them is refused here rather than filling the invocations'
        // queue. (Two invocations racing to load the same action each take one.)
        // A run claimed from the cluster's queue was admitted when it was queued (and the queue
        // bounds each namespace): refusing it here would only hand it back to be claimed again.
        let counted = accepted == nil
        // A sequence loads nothing itself: its body checks out each of its actions.
        let cold = !deployed.isSequence && !pool.isWarm(deployed.definition.name, identity: deployed.identity)
        if counted { try throttle.enter(namespace: subject) }
        do {
            if cold { try loads.enter() }
        } catch {
            if counted { throttle.leave(namespace: subject) }
            throw error
        }
        do {
            try admission.enter()
        } catch {
            if cold { loads.leave() }
            if counted { throttle.leave(namespace: subject) }
            throw error
        }
        metrics.queueDepth.record(admission.queued)
        let received = accepted?.received ?? Store.now()
        let activationID = accepted?.activationID ?? ActivationID.timeOrdered(milliseconds: received)
        // On the enclave's threads from the start, so that the sandbox runs inline.
        let completion = ActivationCompletion()
        Task(executorPreference: enclave.taskExecutor) { [self] in
            defer {
                admission.leave()
                if counted { throttle.leave(namespace: subject) }
                metrics.queueDepth.record(admission.queued)
            }
            var (activation, receipt) = await run(deployed, activationID: activationID, subject: subject, received: received, confidential: confidential, holdsLoad: cold, body: body)
            provenance.record(in: &activation)
            if receipt != nil, log?.isStopped == true {
                // The answer leaves only with a receipt the log can prove: it is withheld.
                activation.response = Activation.Response(ActivationResponse(status: .internalError, result: ["error": .string(Self.withheldAnswer)]))
                receipt = nil
            }
            // The receipt, and the key epoch's configurations the first time this process answers
            // in it, go into the transaction that stores the record.
            let epoch = receipt == nil ? nil : log?.newEpoch()
            var entries: [(input: [UInt8], tag: [UInt8])] = []
            if let log, let receipt {
                if let epoch { entries.append(log.entry(.keyConfigurations, epoch.json)) }
                entries.append(log.entry(.receipt, receipt))
            }
            if await !storeRecord(activation, logEntries: entries, completion: completion, onStored: onStored), let epoch {
                log?.forgetEpoch(epoch.number)
            }
        }
        return PendingActivation(
            activationID: activationID, completion: completion, action: deployed.stored.action, subject: subject, received: received, store: store)
    }

    /// Stores a record (with the log entries of its transaction) and hands it to those waiting for
    /// it; `false` when it cannot be stored. Never a silent loss: a blocking caller then gets 500,
    /// and a 202 already given left a stand-in that the next start publishes.
    @discardableResult
    func storeRecord(
        _ activation: Activation, logEntries: [(input: [UInt8], tag: [UInt8])] = [], completion: ActivationCompletion,
        onStored: (@Sendable () async -> Void)?
    ) async -> Bool {
        do {
            try await store.insertActivation(activation, logEntries: logEntries)
        } catch {
            logger.error("cannot store an activation record", metadata: ["activation": "\(activation.activationId)", "error": "\(error)"])
            completion.complete(.failure(PlatformError(.internalError, "The activation \(activation.activationId) ran but its record cannot be stored: \(error)")))
            return false
        }
        completion.complete(.success(activation))
        await onStored?()
        return true
    }

    /// The error of a confidential activation whose answer was withheld because the log stopped:
    /// the one case a client should retry later (503).
    public static let withheldAnswer = "The receipt of this invocation cannot be appended to the verifiable log (it stopped at an entry the store holds that no node appended), so its answer is withheld; invoke again once the log is repaired."

    /// The result of an activation whose server stopped while it ran.
    static let interruptedMessage = "The server stopped before the activation finished: its outcome is unknown, and it may or may not have run to the end."

    /// The response of an activation whose server stopped while it ran (or before it started).
    static let interruptedResponse = ActivationResponse(status: .internalError, result: ["error": .string(interruptedMessage)])

    /// Runs one invocation and makes its record. Never throws: a failure is an activation too.
    ///
    /// - Parameter holdsLoad: the invocation holds a place in ``loads``, freed once its action is loaded.
    private func run(
        _ deployed: Deployed, activationID: String, subject: String, received: Int64, confidential: Bool, holdsLoad: Bool,
        body: @Sendable (FunctionDefinition, String) async throws -> Outcome
    ) async -> (Activation, receipt: [UInt8]?) {
        let action = deployed.stored.action
        let definition = deployed.definition
        var annotations = [
            KeyValue(key: "path", value: .string(Self.path(of: action))),
            KeyValue(key: "kind", value: .string(deployed.isSequence ? Self.sequenceKind : "wasm")),
            KeyValue(key: "limits", value: deployed.limits),
        ]
        if store.cluster != nil {
            // Which node of the cluster ran it: what an operator looks up in that node's log.
            annotations.append(KeyValue(key: "node", value: .string(configuration.nodeName)))
        }
        if confidential {
            annotations.append(KeyValue(key: "confidential", value: true))
            // "simulated" here tells whoever reads the record that no TEE hardware protected it.
            annotations.append(KeyValue(key: "tee", value: .string(enclave.monitor?.tee ?? "none")))
        }
        let response: ActivationResponse
        var logs: [String] = []
        var start = Store.now()
        var end = start
        var holdsLoad = holdsLoad
        var receipt: [UInt8]?
        defer { if holdsLoad { loads.leave() } }
        do {
            let initTime = deployed.isSequence ? nil : try await pool.checkOut(definition, identity: deployed.identity)
            if holdsLoad {
                loads.leave()
                holdsLoad = false
            }
            if let initTime {
                metrics.coldStarts.increment()
                metrics.warmActions.record(pool.warmCount)
                annotations.append(KeyValue(key: "initTime", value: .integer(initTime.milliseconds)))
            } else {
                metrics.warmStarts.increment()
            }
            let outcome: Outcome
            do {
                outcome = try await body(definition, activationID)
                receipt = outcome.receiptCommitment
                if !deployed.isSequence { pool.checkIn(definition.name) }
            } catch {
                if !deployed.isSequence { pool.checkIn(definition.name) }
                throw error
            }
            end = Store.now()
            start = end - outcome.duration.milliseconds
            if let engine = enclave.engine(of: definition.name) {
                annotations.append(KeyValue(key: "engine", value: .string(engine.rawValue)))
            }
            // A plain run the shutdown ended reports a timeout: say what happened instead, as
            // crash recovery does. (A run that failed on its own at that very moment is told the
            // same; the message does not claim either way.) A sealed answer is kept: it is the
            // client's, and says inside the seal how the run ended.
            response = !confidential && runsEnded.load(ordering: .acquiring) && outcome.response.status == .developerError
                ? Self.interruptedResponse : outcome.response
            logs = Self.format(outcome.logs, at: end, limit: definition.limits.logs)
            metrics.duration.recordNanoseconds(outcome.duration.nanoseconds)
            if let rewind = outcome.rewind {
                metrics.rewind.recordNanoseconds(rewind.duration.nanoseconds)
            }
            if !confidential, case .developerError = response.status, response.result["error"]?.stringValue?.hasPrefix("The action exceeded its time limits") == true {
                annotations.append(KeyValue(key: "timeout", value: true))
            }
        } catch {
            end = Store.now()
            if runsEnded.load(ordering: .acquiring) || (error as? EnclaveError)?.code == .shuttingDown {
                response = Self.interruptedResponse
            } else {
                // Enclave errors name the function and the limits, never parameters or results.
                let message = (error as? EnclaveError)?.message ?? "\(error)"
                response = .developerError("The action could not be started: \(message)")
                logger.error("invocation failed to start", metadata: ["activation": "\(activationID)", "error": "\(message)"])
            }
        }
        annotations.append(KeyValue(key: "waitTime", value: .integer(max(0, start - received))))
        metrics.invocation(status: response.status)
        let activation = Activation(
            namespace: action.namespace, name: Self.shown(action).name, version: action.version, subject: subject,
            activationId: activationID, start: start, end: end, response: Activation.Response(response),
            logs: logs, annotations: annotations)
        return (activation, receipt)
    }

    // MARK: Attestation

    /// The attestation bundle of the enclave (see ``Monitor/bundle(nonce:)``).
    public func attestationBundle(nonce: [UInt8]?) async throws -> AttestationBundle {
        try await attestedMonitor().bundle(nonce: nonce)
    }

    /// The current `application/ohttp-keys` list.
    public func keyConfigurations() throws -> [UInt8] {
        try attestedMonitor().keyConfigurations
    }

    private func attestedMonitor() throws(PlatformError) -> Monitor {
        guard let monitor = enclave.monitor else {
            throw PlatformError(.unavailable, "This server runs without an attested enclave.")
        }
        return monitor
    }

    /// The function certificate of an action, issued by the enclave's identity key; loads the
    /// action if it is not warm.
    public func functionCertificate(namespace: String, name: String) async throws -> String {
        let monitor = try attestedMonitor()  // before loading the action for nothing
        let deployed = try await deployedAction(namespace: namespace, name: name)
        guard !deployed.isSequence else {
            throw PlatformError(.conflict, Self.sequenceHasNoCertificate)
        }
        let definition = deployed.definition
        let version = "\(definition.name) \(definition.revision) \(monitor.epoch) \(monitor.fingerprint)"
        if let known = await log?.knownCertificate(version: version) { return known }
        let cold = !pool.isWarm(definition.name, identity: deployed.identity)
        if cold { try loads.enter() }
        defer { if cold { loads.leave() } }
        _ = try await pool.checkOut(definition, identity: deployed.identity)
        defer { pool.checkIn(definition.name) }
        do {
            let issued = try enclave.functionCertificate(definition.name, revision: definition.revision, version: deployed.stored.action.version)
            // The log keeps the first certificate of each version, and that one is handed out.
            return try await log?.functionCertificate(version: version, offered: issued) ?? issued
        } catch let error as EnclaveError where error.code == .notAttested {
            throw PlatformError(.unavailable, "This server runs without an attested enclave: \(error.message)")
        }
    }

    /// Why a sequence has no function certificate: what a client verifies instead.
    public static let sequenceHasNoCertificate = "This action is a sequence: it has no certificate of its own. Verify the certificate of each of its actions (its exec.components); tabula action invoke and the SDK's verifyFunction do so."

    /// The verifiable log, or 503 when this server has no attested enclave to sign it.
    public func transparencyLog() throws -> TransparencyLog {
        guard let log else {
            throw PlatformError(.unavailable, "This server runs without an attested enclave, so it keeps no verifiable log.")
        }
        return log
    }

    /// OpenWhisk's log line format: `<ISO 8601 time> stderr: <line>`.
    ///
    /// The action's logs limit counts what is stored: each line with its prefix, not only the
    /// bytes the function wrote (a million empty lines are a few bytes to the function, and tens
    /// of megabytes once prefixed). Lines beyond the limit are dropped, with OpenWhisk's notice.
    static func format(_ lines: [String], at milliseconds: Int64, limit: Int) -> [String] {
        guard !lines.isEmpty else { return [] }
        let time = Date(timeIntervalSince1970: Double(milliseconds) / 1000).formatted(Self.logTimeStyle)
        let prefix = "\(time) stderr: "
        var formatted: [String] = []
        var size = 0
        for line in lines {
            // Each line costs the prefix (plain ASCII), the line as JSON writes it (escapes and
            // quotes included), and a comma.
            size += prefix.utf8.count + JSONValue.encodedLength(of: line) + 1
            if size > limit {
                formatted.append(prefix + Invocation.truncationNotice(limit: limit))
                break
            }
            formatted.append(prefix + line)
        }
        return formatted
    }

    private static let logTimeStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true)


    // MARK: Activations

    public func activation(namespace: String, id: String) async throws -> Activation {
        guard let activation = try await store.activation(namespace: namespace, id: id) else {
            throw PlatformError(.notFound, "The requested resource does not exist.")
        }
        return activation
    }

    /// A page of a namespace's activation records, newest first; it ends early rather than exceed
    /// ``PlatformConfiguration/listingByteLimit`` (page on with `skip` plus the count received).
    ///
    /// - Parameter docs: whole records; otherwise summaries without response and logs.
    public func activations(namespace: String, name: String?, limit: Int, skip: Int, since: Int64?, upto: Int64?, docs: Bool = true) async throws -> [Activation] {
        if let name { _ = try ActionPath(name) }
        return try await store.activations(
            namespace: namespace, name: name, limit: limit, skip: skip, since: since, upto: upto, summaries: !docs, byteLimit: configuration.listingByteLimit)
    }
}
