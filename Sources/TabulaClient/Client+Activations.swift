import Foundation
public import TabulaWire

extension Client {
    /// A page of the namespace's activation records, newest first.
    ///
    /// `GET …/activations?name=&limit=&skip=&since=&upto=&docs=`.
    /// - Parameters:
    ///   - name: Only the activations of this action.
    ///   - limit: At most this many (the server allows up to 200 and defaults to 30).
    ///   - skip: Skip this many first.
    ///   - since: Only those that started at or after this time, in milliseconds since the epoch.
    ///   - upto: Only those that started at or before this time, in milliseconds since the epoch.
    ///   - docs: Full records with `response` and `logs`; summaries without them otherwise.
    public func activations(name: String? = nil, limit: Int? = nil, skip: Int? = nil, since: Int64? = nil, upto: Int64? = nil, docs: Bool = false) async throws -> [Activation] {
        var query: [(String, String)] = []
        var entity: EntityPath?
        if let name {
            entity = try EntityPath(name, defaultNamespace: namespace)
            query.append(("name", entity!.name))
        }
        if let limit { query.append(("limit", String(limit))) }
        if let skip { query.append(("skip", String(skip))) }
        if let since { query.append(("since", String(since))) }
        if let upto { query.append(("upto", String(upto))) }
        if docs { query.append(("docs", "true")) }
        let path = ["namespaces", entity?.namespace ?? namespace, "activations"]
        let reply = try await send("GET", path, query: query)
        return try reply.decode([Activation].self, what: "list of activations")
    }

    /// One activation record with its response and logs.
    ///
    /// `GET …/activations/{id}`.
    public func activation(id: String) async throws -> Activation {
        let reply = try await send("GET", segments("activations") + [id])
        return try reply.decode(Activation.self, what: "activation")
    }

    /// The response of an activation: its status and result.
    ///
    /// `GET …/activations/{id}/result`.
    public func activationResult(id: String) async throws -> ActivationResponse {
        let reply = try await send("GET", segments("activations") + [id, "result"])
        return try reply.decode(ActivationResponse.self, what: "activation response")
    }

    /// The log lines of an activation.
    ///
    /// `GET …/activations/{id}/logs`, answered with `{"logs": [...]}`.
    public func activationLogs(id: String) async throws -> [String] {
        struct Logs: Decodable { var logs: [String] }
        let reply = try await send("GET", segments("activations") + [id, "logs"])
        return try reply.decode(Logs.self, what: "activation logs").logs
    }
}
