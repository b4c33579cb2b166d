import Foundation
public import TabulaWire

extension Client {
    /// Creates or replaces an action.
    ///
    /// `PUT …/actions/{name}?overwrite=`. A binary module travels as base64 with
    /// `"binary": true`; WAT text travels as is.
    /// - Parameters:
    ///   - module: The `.wasm` binary, or the UTF-8 bytes of WAT text when `isText`.
    ///   - main: The reactor export to run; `nil` for the server's default.
    ///   - limits: Only the limits set are sent; the server fills in the rest.
    ///   - parameters: Default parameters; `nil` sends none (an update keeps the old ones).
    ///   - annotations: `nil` sends none (an update keeps the old ones).
    ///   - overwrite: Replace an existing action; without it an existing name is a `conflict`.
    /// - Returns: The action as stored, without its code.
    @discardableResult
    public func putAction(
        name: String, module: [UInt8], isText: Bool, main: String? = nil, limits: Action.Limits = Action.Limits(),
        parameters: [KeyValue]? = nil, annotations: [KeyValue]? = nil, overwrite: Bool = false
    ) async throws -> Action {
        let entity = try EntityPath(name, defaultNamespace: namespace)
        let code = isText ? String(decoding: module, as: UTF8.self) : Data(module).base64EncodedString()
        let put = ActionPut(
            exec: Action.Exec(kind: "wasm", code: code, main: main, binary: !isText),
            parameters: parameters, annotations: annotations,
            limits: limits == Action.Limits() ? nil : limits)
        let reply = try await send("PUT", segments("actions", entity), query: [("overwrite", String(overwrite))], body: Self.body(put))
        return try reply.decode(Action.self, what: "action")
    }

    /// Creates or replaces a sequence: an action that runs `components` in order, each one's
    /// result the next one's parameters.
    ///
    /// `PUT …/actions/{name}?overwrite=` with `{"exec": {"kind": "sequence", "components": […]}}`.
    /// Components are qualified as `wsk` does: `a` → `/_/a`, `pkg/a` → `/_/pkg/a` (with the
    /// client's namespace, `_` by default, which the server resolves to the caller's),
    /// `/ns/a` as it is. A sequence has no parameters of its own (OpenWhisk discards them).
    /// - Parameters:
    ///   - components: The actions, at least one; the server refuses missing ones, more than 50
    ///     and a sequence that reaches itself.
    ///   - annotations: `nil` sends none (an update keeps the old ones).
    ///   - limits: Only the limits set are sent.
    ///   - overwrite: Replace an existing action; without it an existing name is a `conflict`.
    /// - Returns: The sequence as stored, its components fully qualified.
    @discardableResult
    public func putSequence(
        name: String, components: [String], annotations: [KeyValue]? = nil, limits: Action.Limits = Action.Limits(), overwrite: Bool = false
    ) async throws -> Action {
        let entity = try EntityPath(name, defaultNamespace: namespace)
        guard !components.isEmpty else {
            throw ClientError(.invalidArgument, "A sequence needs at least one action.")
        }
        let put = ActionPut(
            exec: Action.Exec(kind: "sequence", components: try components.map(qualifiedName)), annotations: annotations,
            limits: limits == Action.Limits() ? nil : limits)
        let reply = try await send("PUT", segments("actions", entity), query: [("overwrite", String(overwrite))], body: Self.body(put))
        return try reply.decode(Action.self, what: "action")
    }

    /// One action.
    ///
    /// `GET …/actions/{name}?code=`.
    /// - Parameter includeCode: Whether `exec.code` comes along (base64 or WAT text).
    public func action(name: String, includeCode: Bool = false) async throws -> Action {
        let entity = try EntityPath(name, defaultNamespace: namespace)
        let reply = try await send("GET", segments("actions", entity), query: [("code", String(includeCode))])
        return try reply.decode(Action.self, what: "action")
    }

    /// A page of the namespace's actions, without their code.
    ///
    /// `GET …/actions?limit=&skip=`.
    /// - Parameters:
    ///   - limit: At most this many (the server allows up to 200 and defaults to 30).
    ///   - skip: Skip this many first.
    public func actions(limit: Int? = nil, skip: Int? = nil) async throws -> [Action] {
        var query: [(String, String)] = []
        if let limit { query.append(("limit", String(limit))) }
        if let skip { query.append(("skip", String(skip))) }
        let reply = try await send("GET", segments("actions"), query: query)
        return try reply.decode([Action].self, what: "list of actions")
    }

    /// How many actions the namespace has.
    ///
    /// `GET …/actions?count=true`, answered with `{"actions": N}`.
    public func actionCount() async throws -> Int {
        struct Count: Decodable { var actions: Int }
        let reply = try await send("GET", segments("actions"), query: [("count", "true")])
        return try reply.decode(Count.self, what: "action count").actions
    }

    /// Deletes an action; its activation records stay.
    ///
    /// `DELETE …/actions/{name}`.
    /// - Returns: The action as it was.
    @discardableResult
    public func deleteAction(name: String) async throws -> Action {
        let entity = try EntityPath(name, defaultNamespace: namespace)
        let reply = try await send("DELETE", segments("actions", entity))
        return try reply.decode(Action.self, what: "action")
    }

    /// Invokes an action.
    ///
    /// `POST …/actions/{name}?blocking=&result=&timeout=` with the parameters as the body.
    /// A function that fails is not an error: see ``InvokeResult``.
    /// - Parameters:
    ///   - parameters: A JSON object; the action's default parameters fill in the rest.
    ///   - blocking: Wait for the function to end.
    ///   - result: With `blocking`, answer with the result only instead of the whole record.
    ///   - timeout: With `blocking`, milliseconds to wait before answering with only the
    ///     activation id; `nil` for the server's wait (60 s).
    public func invoke(name: String, parameters: JSONValue = [:], blocking: Bool = false, result: Bool = false, timeout: Int? = nil) async throws -> InvokeResult {
        let entity = try EntityPath(name, defaultNamespace: namespace)
        var query = [("blocking", String(blocking)), ("result", String(result))]
        if let timeout { query.append(("timeout", String(timeout))) }
        // The server may hold a blocking request for its whole wait, then answer.
        let wait = blocking ? Double(timeout ?? 60_000) / 1000 + 30 : nil
        let reply = try await send("POST", segments("actions", entity), query: query, body: Self.body(parameters), wait: wait)

        switch reply.status {
        case 202:
            struct Accepted: Decodable { var activationId: String }
            let id = try reply.activationID ?? reply.decodeBody(Accepted.self, what: "activation id").activationId
            try Self.checkActivationID(id)
            return .accepted(activationID: id)
        case 200, 502, 500:
            // 502 is the function's failure (application or developer error) and 500 with an
            // activation id a platform failure during the activation: outcomes, not errors.
            // Without the id header, a 5xx that reads as an error body came from elsewhere.
            let failed = reply.status != 200
            if failed, reply.activationID == nil, reply.status == 500 || Self.isErrorBody(reply.body) {
                throw reply.error
            }
            if result {
                return .result(try reply.decodeBody(JSONValue.self, what: "result"), activationID: reply.activationID, failed: failed)
            }
            return .activation(try reply.decodeBody(Activation.self, what: "activation"))
        default:
            throw reply.error
        }
    }

    /// Whether a body is OpenWhisk's error body (`error` and `code`), not a function's result.
    static func isErrorBody(_ body: Data) -> Bool {
        guard let json = try? JSONValue(parsing: body), json["error"]?.stringValue != nil else { return false }
        return json["code"] != nil
    }
}
