import Foundation
public import TabulaWire

/// One action of a confidential sequence, as the control plane resolved it.
public struct SequenceStep: Sendable {
    /// The function, loaded in this enclave.
    public var name: FunctionName
    /// The revision that must serve it (see ``FunctionDefinition/revision``).
    public var revision: String?
    /// Its default parameters (its package's under its own), merged under what the previous
    /// action returned.
    public var defaults: [String: JSONValue]
    /// Whether those defaults may not be overridden (`final`).
    public var final: Bool

    public init(name: FunctionName, revision: String?, defaults: [String: JSONValue], final: Bool) {
        self.name = name
        self.revision = revision
        self.defaults = defaults
        self.final = final
    }
}

extension Enclave {
    /// Runs a sequence on one sealed request, entirely inside the enclave: each action's result
    /// feeds the next, the first that fails ends the chain, and only the last result leaves,
    /// sealed to the client. Intermediate results never leave the enclave.
    ///
    /// The receipt names every action (``Receipt/components``, with the snapshot each run started
    /// from); its module digest is ``Receipt/sequenceDigest(_:)`` of them, which a client computes
    /// from the actions' certificates and may pin beforehand with `tabula-expect-digest`.
    ///
    /// - Parameters:
    ///   - sequence: the sequence the sealed request must name.
    ///   - steps: its actions, in order, each loaded.
    /// - Throws: as ``invoke(_:revision:sealed:caller:defaults:finalDefaults:activationID:)``.
    ///   - policies: the policies (`invokers`, `requireConfidential`) of the sequence and of the
    ///     sequences nested in it, checked before its actions' own.
    ///   - timeout: the sequence's time limit: no action starts after it.
    public func invokeSequence(
        _ sequence: FunctionName, policies: [(name: FunctionName, policy: Policy)], steps: [SequenceStep], timeout: Duration,
        sealed: SealedRequest, caller: String, activationID: String
    ) async throws -> SealedInvocation {
        let monitor = try attestedMonitor()
        let hosts = try steps.map { step throws(EnclaveError) in try host(step.name, revision: step.revision) }
        do {
            return try await answerSequence(
                sequence, policies: policies, steps: Array(zip(steps, hosts)), timeout: timeout, monitor: monitor, sealed: sealed, caller: caller,
                activationID: activationID)
        } catch {
            // The request is open: what went wrong may describe its plaintext.
            throw EnclaveError(.sealedRequest, "the enclave could not seal its answer to this request; the details stay inside the enclave")
        }
    }

    /// Whether a name is one the platform stores: a valid namespace, and `NAME` or `PACKAGE/NAME`.
    static func isActionName(_ name: FunctionName) -> Bool {
        let parts = name.name.split(separator: "/", omittingEmptySubsequences: false)
        return EntityName.isValid(name.namespace) && (1...2).contains(parts.count) && parts.allSatisfy { EntityName.isValid($0) }
    }

    private func answerSequence(
        _ sequence: FunctionName, policies: [(name: FunctionName, policy: Policy)], steps: [(SequenceStep, FunctionHost)], timeout: Duration,
        monitor: Monitor, sealed: SealedRequest, caller: String, activationID: String
    ) async throws -> SealedInvocation {
        let deadline = ContinuousClock.now + timeout
        let request = sealed.request
        func refuse(_ status: Int, _ message: String) throws -> SealedInvocation {
            SealedInvocation(
                activationID: activationID, response: try sealAnswer(status: status, json: ["error": .string(message)], to: sealed),
                status: .applicationError, duration: .zero, rewind: nil)
        }
        let path = String(Substring(request.path.utf8.prefix { $0 != UInt8(ascii: "?") }))
        let named = path == Confidential.invokePath(namespace: sequence.namespace, name: sequence.name)
            || (path == Confidential.invokePath(namespace: "_", name: sequence.name) && EntityName.same(caller, sequence.namespace))
        guard request.method == "POST", named else {
            return try refuse(400, "the sealed request is for \(request.method) \(path) but was sent to the sequence \(sequence); the enclave runs only what the sealed request names")
        }
        // The steps come from the control plane: names it could not have stored, or no step at
        // all, are refused rather than run or certified in a receipt.
        guard !steps.isEmpty, steps.allSatisfy({ step, _ in Self.isActionName(step.name) }) else {
            return try refuse(400, "the sequence \(sequence) was handed to the enclave without valid actions; it does not run")
        }
        // The sequence's owner, and every action's, must allow the caller before anything runs,
        // and before the digest is compared: a caller refused learns nothing of the actions.
        for (name, policy) in policies {
            if let refusal = policy.refusal(caller: caller, owner: name.namespace, sealed: true) {
                return try refuse(refusal.status, refusal.message(caller: caller, function: name))
            }
        }
        for (step, host) in steps {
            if let refusal = host.definition.policy.refusal(caller: caller, owner: step.name.namespace, sealed: true) {
                return try refuse(refusal.status, refusal.message(caller: caller, function: step.name))
            }
        }
        var components = steps.map { step, host in
            Receipt.Component(
                namespace: step.name.namespace, name: step.name.name, moduleDigest: host.moduleDigestHex, policyDigest: host.policyDigestHex,
                snapshotDigest: host.snapshotDigestHex, ran: false)
        }
        let digest = Receipt.sequenceDigest(components)
        if let expected = request.headerFields.first(where: { $0.name.lowercased() == Confidential.expectDigestField }) {
            guard let pinned = Confidential.digest(fromValue: expected.value) else {
                return try refuse(400, "the \(Confidential.expectDigestField) field must be sha-256=<64 hex digits>")
            }
            guard pinned.hex == digest else {
                return try refuse(409, "the sequence \(sequence) is made of actions whose digest is sha-256=\(digest), not the expected \(pinned.hex); a component was changed or is not the one you verified")
            }
        }
        var value: [String: JSONValue] = [:]
        if !request.content.isEmpty {
            guard let parsed = try? JSONValue(parsing: request.content), case .object(let members) = parsed else {
                return try refuse(400, "the parameters must be one JSON object")
            }
            value = members
        }
        var logs: [String] = []
        var duration = Duration.zero
        var last: (Invocation, FunctionHost)?
        var response = ActivationResponse(status: .success, result: .object(value))
        for (index, (step, host)) in steps.enumerated() {
            guard ContinuousClock.now < deadline else {
                response = .developerError("The sequence exceeded its time limit of \(timeout.milliseconds) milliseconds before \(step.name) ran.")
                break
            }
            guard let parameters = Parameters.merge(value, defaults: step.defaults, final: step.final) else {
                response = ActivationResponse(status: .applicationError, result: ["error": .string(Parameters.finalViolation)])
                break
            }
            let invocation: Invocation
            do {
                invocation = try await execute(host, input: WipedBytes(JSONValue.object(parameters).encoded), activationID: activationID, sealed: true)
            } catch let error as EnclaveError {
                response = ActivationResponse(status: error.code == .limitExceeded ? .applicationError : .internalError, result: ["error": .string("\(step.name): \(error.message)")])
                break
            }
            components[index].ran = true
            if invocation.snapshotDigest != host.snapshotDigest { components[index].snapshotDigest = invocation.snapshotDigest.hex }
            logs += invocation.logs
            duration += invocation.duration
            last = (invocation, host)
            response = invocation.response
            guard response.success, response.result["error"] == nil else { break }
            if case .object(let members) = response.result { value = members } else { value = [:] }
        }

        let result = ConfidentialResult(activationId: activationID, status: response.status.rawValue, success: response.success, result: response.result, logs: logs)
        var body = JSONValue.bytes(result)
        defer { body.wipe() }
        let receipt = Receipt(
            activationId: activationID, namespace: sequence.namespace, name: sequence.name, moduleDigest: Receipt.sequenceDigest(components),
            snapshotDigest: last.map { $0.0.snapshotDigest.hex } ?? "", policyDigest: last?.1.policyDigestHex ?? "",
            sandbox: last?.0.sandbox ?? 0, sequence: last?.0.sequence ?? 0,
            requestDigest: BoringSSL.sha256(sealed.plaintext).hex, responseDigest: BoringSSL.sha256(body).hex,
            epoch: sealed.epoch, tee: monitor.tee, issuedAt: Int64(Date().timeIntervalSince1970 * 1000),
            salt: sealed.context.privateBytes(label: Receipt.saltLabel, count: 16).hex, components: components)
        let receiptBytes = JSONValue.bytes(receipt)
        var fields = [
            BinaryHTTPField("content-type", "application/json"),
            BinaryHTTPField(Confidential.receiptField, Data(receiptBytes).base64EncodedString()),
        ]
        if request.headerFields.contains(where: { $0.name.lowercased() == Confidential.signReceiptField }) || steps.contains(where: { $0.1.definition.policy.signedReceipts }) {
            fields.append(BinaryHTTPField(Confidential.receiptSignatureField, Data(try monitor.sign(receiptBytes)).base64EncodedString()))
        }
        var inner = try BinaryHTTPResponse(status: response.status.blockingHTTPStatus, headerFields: fields, content: body).encoded()
        defer { inner.wipe() }
        return SealedInvocation(
            activationID: activationID, response: try sealed.context.sealResponse(inner), status: response.status,
            duration: duration, rewind: last?.0.rewind, receiptCommitment: Receipt.commitment(receiptBytes))
    }
}
