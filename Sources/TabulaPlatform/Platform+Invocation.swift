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
    /// Fails at once, before anything runs, for an unknown action (404), parameters the action's
    /// `final` annotation forbids (400), and a full queue (429).
    public func invoke(namespace: String, name: String, parameters: JSONValue, subject: String) async throws -> PendingActivation {
        guard let stored = try store.action(namespace: namespace, name: name) else {
            throw PlatformError(.notFound, "The requested resource does not exist.")
        }
        guard case .object(let given) = parameters else {
            throw PlatformError(.badRequest, "The request content was malformed: the parameters must be a JSON object.")
        }
        let defaults = stored.action.parameters.object
        if stored.action.annotations["final"] == true, given.keys.contains(where: { defaults[$0] != nil }) {
            throw PlatformError(.badRequest, "Request defines parameters that are not allowed (e.g., reserved properties).")
        }
        let merged = JSONValue.object(defaults.merging(given) { _, invocation in invocation })
        try admission.enter()
        metrics.queueDepth.record(admission.queued)
        let activationID = ActivationID.random()
        let received = Store.now()
        let task = Task {
            defer {
                admission.leave()
                metrics.queueDepth.record(admission.queued)
            }
            let activation = await run(stored, parameters: merged, activationID: activationID, subject: subject, received: received)
            do {
                try store.insertActivation(activation)
            } catch {
                logger.error("cannot store an activation record", metadata: ["activation": "\(activationID)", "error": "\(error)"])
            }
            return activation
        }
        return PendingActivation(activationID: activationID, task: task)
    }

    /// Runs one invocation and makes its record. Never throws: a failure is an activation too.
    private func run(_ stored: Store.StoredAction, parameters: JSONValue, activationID: String, subject: String, received: Int64) async -> Activation {
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
            let invocation: Invocation
            do {
                invocation = try await enclave.invoke(definition.name, parameters: parameters, activationID: activationID)
                await pool.checkIn(definition.name)
            } catch {
                await pool.checkIn(definition.name)
                throw error
            }
            end = Store.now()
            start = end - Self.milliseconds(invocation.duration)
            response = invocation.response
            logs = Self.format(invocation.logs, at: end)
            metrics.duration.recordNanoseconds(Self.nanoseconds(invocation.duration))
            metrics.rewind.recordNanoseconds(Self.nanoseconds(invocation.rewind.duration))
            if case .developerError = response.status, response.result["error"]?.stringValue?.hasPrefix("The action exceeded its time limits") == true {
                annotations.append(KeyValue(key: "timeout", value: true))
            }
        } catch {
            end = Store.now()
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

    /// OpenWhisk's log line format: `<ISO 8601 time> stderr: <line>`.
    static func format(_ lines: [String], at milliseconds: Int64) -> [String] {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let time = formatter.string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
        return lines.map { "\(time) stderr: \($0)" }
    }

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
