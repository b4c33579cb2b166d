import Foundation
public import TabulaWire

// MARK: Triggers

extension Client {
    /// Creates or replaces a trigger.
    ///
    /// `PUT …/triggers/{name}?overwrite=`.
    /// - Parameters:
    ///   - parameters: Default parameters of its events, under each fire's payload; `nil` sends
    ///     none (an update keeps the old ones).
    ///   - annotations: `nil` sends none (an update keeps the old ones).
    ///   - overwrite: Replace an existing trigger; without it an existing name is a `conflict`.
    /// - Returns: The trigger as stored.
    @discardableResult
    public func putTrigger(name: String, parameters: [KeyValue]? = nil, annotations: [KeyValue]? = nil, overwrite: Bool = false) async throws -> Trigger {
        let entity = try entityPath(name, kind: "trigger")
        let put = TriggerPut(parameters: parameters, annotations: annotations)
        let reply = try await send("PUT", segments("triggers", entity), query: [("overwrite", String(overwrite))], body: Self.body(put))
        return try reply.decode(Trigger.self, what: "trigger")
    }

    /// One trigger, with the rules that name it.
    ///
    /// `GET …/triggers/{name}`.
    public func trigger(name: String) async throws -> Trigger {
        let entity = try entityPath(name, kind: "trigger")
        let reply = try await send("GET", segments("triggers", entity))
        return try reply.decode(Trigger.self, what: "trigger")
    }

    /// A page of the namespace's triggers.
    ///
    /// `GET …/triggers?limit=&skip=`.
    /// - Parameters:
    ///   - limit: At most this many (the server allows up to 200 and defaults to 30).
    ///   - skip: Skip this many first.
    public func triggers(limit: Int? = nil, skip: Int? = nil) async throws -> [Trigger] {
        let reply = try await send("GET", segments("triggers"), query: Self.page(limit: limit, skip: skip))
        return try reply.decode([Trigger].self, what: "list of triggers")
    }

    /// Deletes a trigger; the rules that name it stay, inactive.
    ///
    /// `DELETE …/triggers/{name}`.
    /// - Returns: The trigger as it was.
    @discardableResult
    public func deleteTrigger(name: String) async throws -> Trigger {
        let entity = try entityPath(name, kind: "trigger")
        let reply = try await send("DELETE", segments("triggers", entity))
        return try reply.decode(Trigger.self, what: "trigger")
    }

    /// Fires a trigger: each of its active rules invokes its action with the trigger's
    /// parameters under `payload`.
    ///
    /// `POST …/triggers/{name}` with the payload as the body: 202 with the id of the trigger's
    /// activation record (whose logs name each rule's action activation), or 204 when no rule of
    /// the trigger is active.
    /// - Returns: The trigger's activation id, or `nil` when no rule is active and nothing ran.
    public func fireTrigger(name: String, payload: JSONValue = [:]) async throws -> String? {
        let entity = try entityPath(name, kind: "trigger")
        let reply = try await send("POST", segments("triggers", entity), body: Self.body(payload))
        switch reply.status {
        case 204:
            return nil
        case 202, 200:
            struct Fired: Decodable { var activationId: String }
            let id = try reply.activationID ?? reply.decodeBody(Fired.self, what: "activation id").activationId
            try Self.checkActivationID(id)
            return id
        default:
            throw reply.error
        }
    }
}

// MARK: Rules

extension Client {
    /// Creates or replaces a rule: while it is active, each fire of `trigger` invokes `action`.
    ///
    /// `PUT …/rules/{name}?overwrite=`. The trigger and action are sent qualified as `wsk` does
    /// (`t` → `/_/t`, `pkg/a` → `/_/pkg/a` with the client's namespace); a new rule is active,
    /// an updated one keeps its status.
    /// - Parameters:
    ///   - trigger: The trigger; `nil` keeps an updated rule's.
    ///   - action: The action (`NAME`, `PACKAGE/NAME` or fully qualified); `nil` keeps an updated rule's.
    ///   - annotations: `nil` sends none (an update keeps the old ones).
    ///   - overwrite: Replace an existing rule; without it an existing name is a `conflict`.
    /// - Returns: The rule as stored, with its status.
    @discardableResult
    public func putRule(name: String, trigger: String?, action: String?, annotations: [KeyValue]? = nil, overwrite: Bool = false) async throws -> Rule {
        let entity = try entityPath(name, kind: "rule")
        if let trigger { _ = try entityPath(trigger, kind: "trigger") }
        let put = RulePut(trigger: try trigger.map(qualifiedName), action: try action.map(qualifiedName), annotations: annotations)
        let reply = try await send("PUT", segments("rules", entity), query: [("overwrite", String(overwrite))], body: Self.body(put))
        return try reply.decode(Rule.self, what: "rule")
    }

    /// One rule, with its status.
    ///
    /// `GET …/rules/{name}`.
    public func rule(name: String) async throws -> Rule {
        let entity = try entityPath(name, kind: "rule")
        let reply = try await send("GET", segments("rules", entity))
        return try reply.decode(Rule.self, what: "rule")
    }

    /// A page of the namespace's rules. OpenWhisk lists rules without their status: each
    /// ``Rule/status`` here is empty; ``rule(name:)`` has it.
    ///
    /// `GET …/rules?limit=&skip=`.
    /// - Parameters:
    ///   - limit: At most this many (the server allows up to 200 and defaults to 30).
    ///   - skip: Skip this many first.
    public func rules(limit: Int? = nil, skip: Int? = nil) async throws -> [Rule] {
        let reply = try await send("GET", segments("rules"), query: Self.page(limit: limit, skip: skip))
        let list = try reply.decode([JSONValue].self, what: "list of rules")
        return try list.map { summary in
            var fields = summary.objectValue ?? [:]
            if fields["status"] == nil { fields["status"] = "" }
            do {
                return try JSONValue.decode(Rule.self, from: JSONValue.encode(JSONValue.object(fields)))
            } catch {
                throw ClientError(.invalidResponse, "The server's answer to GET \(reply.path) is not the OpenWhisk API's list of rules: \(Reply.describe(error))", status: reply.status)
            }
        }
    }

    /// Deletes a rule, whatever its status.
    ///
    /// `DELETE …/rules/{name}`.
    /// - Returns: The rule as it was, `inactive`.
    @discardableResult
    public func deleteRule(name: String) async throws -> Rule {
        let entity = try entityPath(name, kind: "rule")
        let reply = try await send("DELETE", segments("rules", entity))
        return try reply.decode(Rule.self, what: "rule")
    }

    /// Enables or disables a rule; asking for its current status changes nothing.
    ///
    /// `POST …/rules/{name}` with `{"status": "active"}` or `{"status": "inactive"}`. A rule
    /// whose trigger is gone cannot be enabled (`notFound`).
    public func setRuleStatus(name: String, active: Bool) async throws {
        let entity = try entityPath(name, kind: "rule")
        let body: JSONValue = ["status": .string(active ? Rule.active : Rule.inactive)]
        let reply = try await send("POST", segments("rules", entity), body: Self.body(body), accept: "application/json, text/plain")
        guard reply.succeeded else { throw reply.error }
    }
}

extension Client {
    /// OpenWhisk's paging query: `limit` and `skip` when given.
    static func page(limit: Int?, skip: Int?) -> [(String, String)] {
        var query: [(String, String)] = []
        if let limit { query.append(("limit", String(limit))) }
        if let skip { query.append(("skip", String(skip))) }
        return query
    }
}
