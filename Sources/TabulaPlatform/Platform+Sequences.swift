import Foundation
import Synchronization
import TabulaEnclave
public import TabulaWire

extension Platform.Deployed {
    /// Whether this action is a sequence of other actions (`exec.kind` `sequence`).
    var isSequence: Bool { stored.action.exec.kind == Platform.sequenceKind }
}

extension Platform {
    /// OpenWhisk's refusal of a sequence of more than ``sequenceLimit`` actions, counting those of
    /// the sequences it holds.
    static let tooManyActions = PlatformError(.badRequest, "Too many actions in the sequence.")
    static let missingComponent = "Sequence component does not exist."

    /// The `exec.kind` of a sequence.
    static let sequenceKind = "sequence"

    /// The most actions a sequence may run, counting those of the sequences it holds: OpenWhisk's
    /// default `actionSequenceLimit`.
    static let sequenceLimit = 50

    /// A sequence's `exec`, checked: every component is an action that exists now, named fully
    /// (`/NS/NAME` or `/NS/PACKAGE/NAME`; `_` is the sequence's own namespace), and no component
    /// leads back to the sequence. Stored without code.
    func sequence(from exec: Action.Exec, namespace: String) async throws -> (Action.Exec, [UInt8]) {
        guard let components = exec.components else {
            throw PlatformError(.badRequest, "The request content was malformed:\n'components' must be defined for sequence kind")
        }
        guard !components.isEmpty else { throw PlatformError(.badRequest, "No component specified for the sequence.") }
        guard components.count <= Self.sequenceLimit else { throw Self.tooManyActions }
        let normalized = try components.map { try Self.qualified($0, in: namespace) }
        return (Action.Exec(kind: Self.sequenceKind, components: normalized.map { "/\($0.namespace)/\($0.name)" }), [])
    }

    /// Checks that a sequence about to be stored as `namespace/name` runs no more than
    /// ``sequenceLimit`` actions and never itself.
    func checkSequence(_ components: [String], namespace: String, name: String) async throws {
        var atomic = 0
        var nested = 0
        // Each component with its depth and the namespace that names it (whose view of other
        // namespaces, and whose bindings, apply: a nested sequence's own).
        var pending = components.map { ($0, 1, namespace) }
        while let (component, depth, user) = pending.popLast() {
            let (componentNamespace, componentName) = try Self.qualified(component, in: user)
            if EntityName.same(componentNamespace, namespace) && EntityName.same(componentName, name) {
                throw PlatformError(.badRequest, "Sequence may not refer to itself.")
            }
            let target: Target
            do {
                target = try await visibleTarget(from: user, namespace: componentNamespace, name: componentName)
            } catch let error as PlatformError where error.code == .notFound {
                throw PlatformError(.badRequest, Self.missingComponent)
            }
            let action = target.deployed.stored.action
            if target.deployed.isSequence {
                if EntityName.same(action.namespace, namespace) && EntityName.same(action.name, name) {
                    throw PlatformError(.badRequest, "Sequence may not refer to itself.")
                }
                nested += 1
                guard depth < Self.sequenceLimit, nested <= Self.sequenceLimit else { throw Self.tooManyActions }
                pending += (action.exec.components ?? []).map { ($0, depth + 1, action.namespace) }
            } else {
                atomic += 1
            }
            guard atomic <= Self.sequenceLimit else { throw Self.tooManyActions }
        }
    }

    /// The namespace and the name within it (`NAME` or `PACKAGE/NAME`) of a fully qualified
    /// entity name, as sequences and rules name actions and triggers: `/NS/NAME` or
    /// `/NS/PACKAGE/NAME` (the leading slash optional, `_` meaning `namespace`).
    static func qualified(_ text: String, in namespace: String) throws(PlatformError) -> (namespace: String, name: String) {
        var parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if parts.first == "" { parts.removeFirst() }
        guard (2...3).contains(parts.count) else {
            throw PlatformError(.badRequest, "The request content was malformed:\nrequirement failed: The fully qualified name of the entity must contain at least the namespace and the name of the entity.")
        }
        let owner = parts[0] == "_" ? namespace : parts[0]
        try EntityName.check(owner, what: "namespace")
        let name = parts[1...].joined(separator: "/")
        _ = try ActionPath(name)
        return (owner, name)
    }

    /// The actions one run of a sequence may still start, shared with the sequences it holds:
    /// OpenWhisk's dynamic count of a sequence's actions. Components are resolved when they run,
    /// so a binding repointed or a nested sequence changed after the check at creation cannot make
    /// a run loop (nesting is bounded too) or fan out beyond ``sequenceLimit`` actions.
    final class SequenceBudget: Sendable {
        /// Actions, and nested sequences, still allowed.
        private let left = Mutex((actions: Platform.sequenceLimit, sequences: Platform.sequenceLimit))

        /// Takes one action from the budget; `false` when none is left.
        func takeAction() -> Bool {
            left.withLock { left in
                guard left.actions > 0 else { return false }
                left.actions -= 1
                return true
            }
        }

        /// Takes one nested sequence from the budget; `false` when none is left.
        func takeSequence() -> Bool {
            left.withLock { left in
                guard left.sequences > 0 else { return false }
                left.sequences -= 1
                return true
            }
        }
    }

    /// Starts one step of a sequence: a plain invocation whose record names the sequence as its
    /// cause (a nested sequence runs as its own sequence, on the same budget).
    ///
    /// - Parameter depth: how deep the sequence that runs this step is nested (the topmost is 1).
    ///   - owner: the sequence's namespace, whose bindings its components may go through.
    func invokeStep(
        namespace: String, name: String, parameters: JSONValue, subject: String, owner: String, cause: String, budget: SequenceBudget, depth: Int
    ) async throws -> PendingActivation {
        let (deployed, merged, binding) = try await accept(namespace: namespace, name: name, parameters: parameters, subject: subject, as: owner)
        let provenance = Provenance(cause: cause, binding: binding)
        if deployed.isSequence {
            // Nested sequences run no action themselves, but each is a record and a task: bounded too.
            guard depth < Self.sequenceLimit, budget.takeSequence() else { throw Self.tooManyActions }
            return try startSequence(deployed, subject: subject, parameters: merged, provenance: provenance, budget: budget, depth: depth + 1)
        }
        guard budget.takeAction() else { throw Self.tooManyActions }
        return try start(deployed, subject: subject, parameters: merged, provenance: provenance)
    }

    /// Runs a sequence: each component's result is the next one's parameters; the first that does
    /// not succeed ends the chain with its response. The sequence's record lists its components'
    /// activation ids as its logs, as OpenWhisk records it; its time limit bounds the whole chain.
    func startSequence(
        _ deployed: Deployed, subject: String, parameters: [String: JSONValue],
        accepted: (activationID: String, received: Int64)? = nil, provenance: Provenance = Provenance(), budget: SequenceBudget = SequenceBudget(), depth: Int = 1,
        onStored: (@Sendable () async -> Void)? = nil
    ) throws -> PendingActivation {
        try refuseWhenStopping()
        let action = deployed.stored.action
        let received = accepted?.received ?? Store.now()
        let activationID = accepted?.activationID ?? ActivationID.timeOrdered(milliseconds: received)
        let completion = ActivationCompletion()
        let timeout = action.limits.timeout ?? 60_000
        Task { [self] in
            let deadline = ContinuousClock.now + .milliseconds(timeout)
            var value: JSONValue = .object(parameters)
            var response = ActivationResponse(status: .success, result: value)
            var steps: [String] = []
            var duration: Int64 = 0
            for component in action.exec.components ?? [] {
                do {
                    let (namespace, name) = try Self.qualified(component, in: action.namespace)
                    guard ContinuousClock.now < deadline else {
                        response = .developerError("The sequence exceeded its time limit of \(timeout) milliseconds before \(component) ran.")
                        break
                    }
                    let step = try await invokeStep(
                        namespace: namespace, name: name, parameters: value, subject: subject, owner: action.namespace, cause: activationID, budget: budget,
                        depth: depth)
                    steps.append(step.activationID)
                    guard let record = try await step.record(within: deadline - .now) else {
                        response = .developerError("The sequence exceeded its time limit of \(timeout) milliseconds while \(component) ran (activation \(step.activationID)).")
                        break
                    }
                    duration += record.duration
                    response = ActivationResponse(status: ActivationResponse.Status(code: record.statusCode) ?? .internalError, result: record.response?.result ?? [:])
                    // OpenWhisk ends the chain at the first result that carries an error.
                    guard response.success, response.result["error"] == nil else { break }
                    // An action's parameters are an object: a result that is not one passes nothing on.
                    if case .object = response.result { value = response.result } else { value = [:] }
                } catch let error as PlatformError where error.code == .notFound {
                    response = ActivationResponse(status: .applicationError, result: ["error": .string(Self.missingComponent)])
                    break
                } catch let error as PlatformError where error.message == Self.tooManyActions.message {
                    response = ActivationResponse(status: .applicationError, result: ["error": .string(error.message)])
                    break
                } catch let error as PlatformError {
                    // Forbidden, or refused for now: the chain ends here, saying why.
                    let status: ActivationResponse.Status = error.code == .internalError ? .internalError : .applicationError
                    response = ActivationResponse(status: status, result: ["error": .string("Sequence component \(component) could not be invoked: \(error.message)")])
                    break
                } catch {
                    response = ActivationResponse(status: .internalError, result: ["error": .string("Sequence component \(component) could not be invoked: \(error)")])
                    break
                }
            }
            let annotations = [
                KeyValue(key: "path", value: .string(Self.path(of: action))),
                KeyValue(key: "kind", value: .string(Self.sequenceKind)),
                KeyValue(key: "limits", value: deployed.limits),
                KeyValue(key: "topmost", value: .bool(provenance.cause == nil)),
            ]
            let end = Store.now()
            var activation = Activation(
                namespace: action.namespace, name: Self.shown(action).name, version: action.version, subject: subject,
                activationId: activationID, start: received, end: end, response: Activation.Response(response),
                logs: steps, annotations: annotations)
            provenance.record(in: &activation)
            // OpenWhisk reports a sequence's duration as the sum of its components'.
            activation.duration = duration
            metrics.invocation(status: response.status)
            await storeRecord(activation, completion: completion, onStored: onStored)
        }
        return PendingActivation(activationID: activationID, completion: completion, action: action, subject: subject, received: received, store: store)
    }

    /// A sequence's actions, nested sequences flattened, as they are now (400 when one is gone),
    /// and the nested sequences met on the way.
    func steps(of deployed: Deployed) async throws -> (steps: [Target], nested: [Deployed]) {
        var steps: [Target] = []
        var nested: [Deployed] = []
        var pending = Array((deployed.stored.action.exec.components ?? []).reversed().map { ($0, deployed.stored.action.namespace, 1) })
        while let (component, namespace, depth) = pending.popLast() {
            let (owner, name) = try Self.qualified(component, in: namespace)
            let target: Target
            do {
                // The sequence's (or nested sequence's) own bindings, as a plain run follows them.
                target = try await self.target(namespace: owner, name: name, as: namespace)
            } catch let error as PlatformError where error.code == .notFound {
                throw PlatformError(.badRequest, Self.missingComponent)
            }
            if target.deployed.isSequence {
                guard depth < Self.sequenceLimit, nested.count < Self.sequenceLimit else { throw Self.tooManyActions }
                nested.append(target.deployed)
                let inner = target.deployed.stored.action
                pending += (inner.exec.components ?? []).reversed().map { ($0, inner.namespace, depth + 1) }
            } else {
                steps.append(target)
            }
            guard steps.count <= Self.sequenceLimit else { throw Self.tooManyActions }
        }
        return (steps, nested)
    }

    /// Runs a sequence on a sealed request inside the enclave (see
    /// ``Enclave/invokeSequence(_:steps:sealed:caller:activationID:)``): one sealed request in,
    /// one sealed answer out, one record, and a receipt naming every action.
    func startConfidentialSequence(_ deployed: Deployed, sealed request: SealedRequest, subject: String, binding: String?) async throws -> PendingActivation {
        let (steps, nested) = try await steps(of: deployed)
        let sequences = [deployed] + nested
        // Refused before anything is loaded (the enclave checks again): the policies are no secret.
        for definition in sequences.map(\.definition) + steps.map(\.deployed.definition) {
            if let refusal = definition.policy.refusal(caller: subject, owner: definition.name.namespace, sealed: true) {
                throw PlatformError(.forbidden, refusal.message(caller: subject, function: definition.name))
            }
        }
        return try start(deployed, subject: subject, confidential: true, provenance: Provenance(binding: binding)) { definition, activationID in
            var checkedOut: [FunctionName] = []
            defer { for name in checkedOut { self.pool.checkIn(name) } }
            for step in steps {
                // A cold action takes a load place, as any cold start does.
                let cold = !self.pool.isWarm(step.deployed.definition.name, identity: step.deployed.identity)
                if cold { try self.loads.enter() }
                defer { if cold { self.loads.leave() } }
                _ = try await self.pool.checkOut(step.deployed.definition, identity: step.deployed.identity)
                checkedOut.append(step.deployed.definition.name)
            }
            let outcome = try await self.enclave.invokeSequence(
                definition.name, policies: sequences.map { ($0.definition.name, $0.definition.policy) },
                steps: steps.map { SequenceStep(name: $0.deployed.definition.name, revision: $0.deployed.definition.revision, defaults: $0.defaults, final: $0.deployed.final) },
                timeout: definition.limits.timeout,
                sealed: request, caller: subject, activationID: activationID)
            return Outcome(
                response: ActivationResponse(status: outcome.status, result: [Confidential.sealedResultKey: .string(Data(outcome.response).base64EncodedString())]),
                logs: [], duration: outcome.duration, rewind: outcome.rewind, receiptCommitment: outcome.receiptCommitment)
        }
    }

    /// Resolves an action that an entity of `caller` names (a sequence's component, a rule's
    /// action). One of another namespace only when `caller` may see it: in a package that namespace
    /// published, or invocable by `caller` under its policy. Otherwise 403, also when there is none,
    /// so that another namespace's names cannot be probed.
    func visibleTarget(from caller: String, namespace: String, name: String) async throws -> Target {
        guard !EntityName.same(caller, namespace) else { return try await target(namespace: namespace, name: name, as: caller) }
        let denied = PlatformError.notAuthorized("\(namespace)/\(name)")
        let target: Target
        do {
            target = try await self.target(namespace: namespace, name: name, as: caller)
        } catch let error as PlatformError where [.notFound, .forbidden, .badRequest].contains(error.code) {
            throw denied
        }
        var visible = target.deployed.definition.policy.allows(caller: caller, owner: target.deployed.stored.action.namespace)
        if !visible, let package = try ActionPath(name).package {
            visible = try await store.entity(Package.self, namespace: namespace, name: package)?.publish == true
        }
        guard visible else { throw denied }
        return target
    }
}
