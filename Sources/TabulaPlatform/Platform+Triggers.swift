import Foundation
public import TabulaWire

extension Platform {
    // MARK: Triggers

    public func putTrigger(namespace: String, name: String, body: TriggerPut, overwrite: Bool) async throws -> Trigger {
        try refuseWhenStopping()
        try EntityName.check(name, what: "trigger")
        try await checkRoom(Trigger.self, namespace: namespace, name: name)
        if let feed = body.annotations?["feed"] {
            guard let text = feed.stringValue, (try? Self.qualified(text, in: namespace)) != nil else {
                throw PlatformError(.badRequest, "Feed name is not valid")
            }
        }
        var trigger = try await store.put(Trigger.self, namespace: namespace, name: name, overwrite: overwrite) { previous in
            var trigger = previous ?? Trigger(namespace: namespace, name: name)
            if let parameters = body.parameters { trigger.parameters = parameters }
            if let annotations = body.annotations { trigger.annotations = annotations }
            if let publish = body.publish { trigger.publish = publish }
            trigger.rules = nil  // derived from the rules, never stored
            return trigger
        }
        trigger.rules = try await ruleSummaries(of: trigger)
        return trigger
    }

    /// A trigger, with the rules that name it and their status.
    public func trigger(namespace: String, name: String) async throws -> Trigger {
        try EntityName.check(name, what: "trigger")
        guard var trigger = try await store.entity(Trigger.self, namespace: namespace, name: name) else {
            throw PlatformError(.notFound, PlatformError.doesNotExist)
        }
        trigger.rules = try await ruleSummaries(of: trigger)
        return trigger
    }

    public func triggers(namespace: String, limit: Int, skip: Int) async throws -> [Trigger] {
        try await store.entities(Trigger.self, namespace: namespace, publishedOnly: false, limit: limit, skip: skip, byteLimit: configuration.listingByteLimit)
    }

    /// Deletes a trigger. Rules that name it stay, inactive: a trigger created again under the
    /// name runs none of them until each is enabled again (as OpenWhisk's new trigger has no rules).
    public func deleteTrigger(namespace: String, name: String) async throws -> Trigger {
        try EntityName.check(name, what: "trigger")
        guard var (trigger, _) = try await store.delete(Trigger.self, namespace: namespace, name: name) else {
            throw PlatformError(.notFound, PlatformError.doesNotExist)
        }
        trigger.rules = try await ruleSummaries(of: trigger)
        for rule in try await rules(of: trigger) where rule.status == Rule.active {
            _ = try? await store.put(Rule.self, namespace: namespace, name: rule.name, overwrite: true) { previous in
                guard var rule = previous else { throw PlatformError(.notFound, PlatformError.doesNotExist) }
                rule.status = Rule.inactive
                return rule
            }
        }
        return trigger
    }

    /// What firing a trigger did: its activation id, or `nil` when no rule is active (OpenWhisk
    /// answers 204 then, and records nothing).
    public func fire(namespace: String, name: String, payload: JSONValue, headers: [String: String], subject: String) async throws -> String? {
        try refuseWhenStopping()
        try EntityName.check(name, what: "trigger")
        guard case .object(let given) = payload else {
            throw PlatformError(.badRequest, "The request content was malformed: the trigger's payload must be a JSON object.")
        }
        guard let trigger = try await store.entity(Trigger.self, namespace: namespace, name: name) else {
            throw PlatformError(.notFound, PlatformError.doesNotExist)
        }
        // Counted first, as OpenWhisk counts it: a fire no rule takes up counts too.
        _ = try await limits(namespace: subject)
        try throttle.fire(namespace: subject)
        let rules = try await rules(of: trigger)
        guard rules.contains(where: { $0.status == Rule.active }) else { return nil }
        let received = Store.now()
        let activationID = ActivationID.timeOrdered(milliseconds: received)
        // The action gets the trigger's parameters under the event, and the fire's headers.
        var event = trigger.parameters.object
        event["__ow_headers"] = .object(headers.mapValues(JSONValue.string))
        event.merge(given) { _, payload in payload }
        var logs: [String] = []
        for rule in rules {
            let ruleName = "\(rule.namespace)/\(rule.name)"
            let actionName = "\(rule.action.path)/\(rule.action.name)"
            var line: [String: JSONValue] = ["rule": .string(ruleName), "action": .string(actionName)]
            if rule.status != Rule.active {
                line.merge(["statusCode": 1, "success": false, "error": .string("Rule '\(ruleName)' is inactive, action '\(actionName)' was not activated.")]) { $1 }
            } else {
                do {
                    let (actionNamespace, action) = try Self.qualified(rule.action.fullyQualified, in: namespace)
                    let id = try await invokeNonBlocking(namespace: actionNamespace, name: action, parameters: .object(event), subject: subject)
                    line.merge(["statusCode": 0, "success": true, "activationId": .string(id)]) { $1 }
                } catch let error as PlatformError {
                    let code = [.internalError, .unavailable].contains(error.code) ? 3 : 1
                    line.merge(["statusCode": .integer(Int64(code)), "success": false, "error": .string(error.message)]) { $1 }
                } catch {
                    // Recorded like the others: the rules fired before it ran, and the record says so.
                    line.merge(["statusCode": 3, "success": false, "error": "There was an internal server error."]) { $1 }
                }
            }
            logs.append(JSONValue.object(line).encodedString)
        }
        // The record is stored before the 202 leaves: the id it gives always resolves.
        let record = Activation(
            namespace: namespace, name: name, version: trigger.version, subject: subject, activationId: activationID,
            start: received, end: received, response: Activation.Response(ActivationResponse(status: .success, result: payload)),
            logs: logs, annotations: [])
        try await store.insertActivation(record)
        return activationID
    }

    // MARK: Rules

    /// Creates or updates a rule. Its trigger must be in its namespace; its action may be any the
    /// caller may invoke. A new rule is active; an update keeps the status.
    public func putRule(namespace: String, name: String, body: RulePut, overwrite: Bool) async throws -> Rule {
        try refuseWhenStopping()
        try EntityName.check(name, what: "rule")
        try await checkRoom(Rule.self, namespace: namespace, name: name)
        let existing = try await store.entity(Rule.self, namespace: namespace, name: name)
        guard let triggerName = body.trigger ?? existing?.trigger.fullyQualified, let actionName = body.action ?? existing?.action.fullyQualified else {
            throw PlatformError(.badRequest, "rule requires a valid trigger and a valid action")
        }
        let trigger = try Self.qualified(triggerName, in: namespace)
        guard EntityName.same(trigger.namespace, namespace), try ActionPath(trigger.name).package == nil else {
            throw PlatformError.notAuthorized("\(trigger.namespace)/\(trigger.name)")
        }
        guard try await store.entity(Trigger.self, namespace: trigger.namespace, name: trigger.name) != nil else {
            throw PlatformError(.badRequest, "trigger /\(trigger.namespace)/\(trigger.name) does not exist")
        }
        let action = try Self.qualified(actionName, in: namespace)
        do {
            _ = try await visibleTarget(from: namespace, namespace: action.namespace, name: action.name)
        } catch let error as PlatformError where error.code == .notFound {
            throw PlatformError(.badRequest, "action /\(action.namespace)/\(action.name) does not exist")
        }
        let triggerReference = EntityReference(name: trigger.name, path: trigger.namespace)
        let linked = try await store.entities(Rule.self, namespace: namespace, publishedOnly: false, link: "\(trigger.namespace)/\(trigger.name)", limit: Self.rulesPerTrigger, skip: 0)
        if linked.count >= Self.rulesPerTrigger, !linked.contains(where: { EntityName.same($0.name, name) }) {
            throw PlatformError(.forbidden, "The trigger /\(trigger.namespace)/\(trigger.name) has \(Self.rulesPerTrigger) rules, the most one trigger may have: delete one first.")
        }
        let actionPath = try ActionPath(action.name)
        let actionReference = EntityReference(name: actionPath.name, path: actionPath.package.map { "\(action.namespace)/\($0)" } ?? action.namespace)
        let rule = try await store.put(Rule.self, namespace: namespace, name: name, overwrite: overwrite) { previous in
            var rule = previous ?? Rule(namespace: namespace, name: name, trigger: triggerReference, action: actionReference)
            rule.trigger = triggerReference
            rule.action = actionReference
            if let annotations = body.annotations { rule.annotations = annotations }
            if let publish = body.publish { rule.publish = publish }
            return rule
        }
        logger.info("rule stored", metadata: ["namespace": "\(namespace)", "rule": "\(name)"])
        return rule
    }

    /// A rule; `inactive` while its trigger does not exist.
    public func rule(namespace: String, name: String) async throws -> Rule {
        try EntityName.check(name, what: "rule")
        guard var rule = try await store.entity(Rule.self, namespace: namespace, name: name) else {
            throw PlatformError(.notFound, PlatformError.doesNotExist)
        }
        if try await store.entity(Trigger.self, namespace: rule.trigger.path, name: rule.trigger.name) == nil {
            rule.status = Rule.inactive
        }
        return rule
    }

    public func rules(namespace: String, limit: Int, skip: Int) async throws -> [Rule] {
        try await store.entities(Rule.self, namespace: namespace, publishedOnly: false, limit: limit, skip: skip, byteLimit: configuration.listingByteLimit)
    }

    /// Deletes a rule, in any state; it is shown `inactive`, as OpenWhisk shows it.
    public func deleteRule(namespace: String, name: String) async throws -> Rule {
        try EntityName.check(name, what: "rule")
        guard var (rule, _) = try await store.delete(Rule.self, namespace: namespace, name: name) else {
            throw PlatformError(.notFound, PlatformError.doesNotExist)
        }
        rule.status = Rule.inactive
        return rule
    }

    /// Enables (`active`) or disables (`inactive`) a rule. Only a rule whose trigger exists is
    /// enabled.
    public func setRuleStatus(namespace: String, name: String, status: String) async throws {
        try refuseWhenStopping()
        try EntityName.check(name, what: "rule")
        guard status == Rule.active || status == Rule.inactive else {
            throw PlatformError(.badRequest, "The request content was malformed:\nrequirement failed: \(status.prefix(80)) is not a recognized rule state")
        }
        guard let rule = try await store.entity(Rule.self, namespace: namespace, name: name) else {
            throw PlatformError(.notFound, PlatformError.doesNotExist)
        }
        if status == Rule.active, try await store.entity(Trigger.self, namespace: rule.trigger.path, name: rule.trigger.name) == nil {
            throw PlatformError(.notFound, "Only rules with existing triggers can be activated")
        }
        guard rule.status != status else { return }
        _ = try await store.put(Rule.self, namespace: namespace, name: name, overwrite: true) { previous in
            guard var rule = previous else { throw PlatformError(.notFound, PlatformError.doesNotExist) }
            rule.status = status
            return rule
        }
    }

    /// The most rules one trigger may have: each fire reads them all.
    static let rulesPerTrigger = 100

    /// The rules that name a trigger (at most ``rulesPerTrigger``, each at most 64 KiB).
    private func rules(of trigger: Trigger) async throws -> [Rule] {
        try await store.entities(Rule.self, namespace: trigger.namespace, publishedOnly: false, link: "\(trigger.namespace)/\(trigger.name)", limit: Self.rulesPerTrigger, skip: 0)
    }

    /// A trigger's `rules` as OpenWhisk shows them; `nil` when no rule names it.
    private func ruleSummaries(of trigger: Trigger) async throws -> [String: Trigger.RuleSummary]? {
        let rules = try await rules(of: trigger)
        guard !rules.isEmpty else { return nil }
        return Dictionary(rules.map { ("\($0.namespace)/\($0.name)", Trigger.RuleSummary(action: $0.action, status: $0.status)) }) { first, _ in first }
    }

    /// The most packages, triggers or rules (each) one namespace may have.
    static let entitiesPerNamespace = 10_000

    /// Refuses to create a namespace's entity beyond ``entitiesPerNamespace`` of its kind.
    func checkRoom<E: Store.Entity>(_ type: E.Type, namespace: String, name: String) async throws {
        guard try await store.entity(E.self, namespace: namespace, name: name) == nil else { return }
        let count = try await store.entityCount(E.self, namespace: namespace, publishedOnly: false)
        guard count < Self.entitiesPerNamespace else {
            throw PlatformError(.forbidden, "The namespace \(namespace) has \(count) \(E.kind.rawValue)s, the most it may have: delete some first.")
        }
    }
}
