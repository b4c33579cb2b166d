import Foundation
import TabulaWire

/// OpenWhisk's single entry point for Knative: `/` takes `init`, `activation` and `value` in one
/// body (docs/runtime.md).
extension ActionRuntime {
    /// One request to `/` in Knative mode.
    ///
    /// - `{"init": {…}}` initialises (refused on a dedicated runtime) and answers as `/init`;
    /// - with `activation` or `value` too (or alone), runs: `activation`'s strings become `__OW_*`
    ///   variables, `value` the parameters (with the HTTP context, `__ow_method`, `__ow_headers`,
    ///   `__ow_path` and `__ow_user`, when `activation` is given), and a web-style result
    ///   (`statusCode`, `headers`, `body`) becomes the HTTP answer.
    ///
    /// - Parameters:
    ///   - method: the request's method, upper case.
    ///   - headers: the request's headers, names in lower case.
    public func knative(_ body: [UInt8], method: String, headers: [(String, String)]) async -> Reply {
        let members: [String: JSONValue]
        do throws(RuntimeError) {
            if body.allSatisfy({ [0x20, 0x09, 0x0A, 0x0D].contains($0) }) {
                members = [:]
            } else {
                guard case .object(let object) = try Self.json(body) else {
                    throw RuntimeError(.badRequest, "The request body must be a JSON object: {\"init\": …, \"activation\": …, \"value\": …}.")
                }
                members = object
            }
        } catch {
            return Self.reply(error)
        }
        let runs = members["activation"] != nil || members["value"] != nil || members["init"] == nil
        if let initialization = members["init"] {
            if configuration.dedicated != nil {
                return Self.reply(RuntimeError(.dedicatedFunction, Messages.dedicated))
            }
            let reply = await initialize { () throws(RuntimeError) in
                guard case .object(let value) = initialization else { throw RuntimeError(.noCode, Messages.noCode) }
                return try Self.initialization(fromValue: value)
            }
            guard reply.status == 200, runs else { return reply }
        }
        guard let action = readyAction() else { return Self.reply(RuntimeError(.notInitialized, Messages.notInitialized)) }
        var environment: [(String, String)] = []
        if case .object(let activation)? = members["activation"] {
            environment = Self.environment(of: activation.filter { $0.value.stringValue != nil })
        }
        if let name = action.name, !environment.contains(where: { $0.0 == "__OW_ACTION_NAME" && !$0.1.isEmpty }) {
            environment.removeAll { $0.0 == "__OW_ACTION_NAME" }
            if let variable = Self.variable("__OW_ACTION_NAME", name) { environment.append(variable) }
        }
        var value: JSONValue
        do throws(RuntimeError) {
            value = try Self.parameters(members["value"])
        } catch {
            return Self.reply(error)
        }
        if members["activation"] != nil {
            value = context(value, method: method, headers: headers, user: environment.first { $0.0 == "__OW_NAMESPACE" }?.1 ?? "")
        }
        let reply = await execute(action, Activation(value: value, environment: environment))
        return Self.webReply(reply)
    }

    /// The parameters with the HTTP context of a web action; a raw action gets the body itself,
    /// base64, as `__ow_body`, instead of parameters.
    func context(_ value: JSONValue, method: String, headers: [(String, String)], user: String) -> JSONValue {
        var context: [String: JSONValue] = [
            "__ow_method": .string(method),
            "__ow_headers": .object(Dictionary(headers.map { ($0.0, JSONValue.string($0.1)) }, uniquingKeysWith: { first, _ in first })),
            "__ow_path": "",
            "__ow_user": .string(user),
        ]
        if configuration.raw {
            context["__ow_body"] = .string(Data(value.encoded).base64EncodedString())
            context["__ow_query"] = .object([:])
            return .object(context)
        }
        return .object((value.objectValue ?? [:]).merging(context) { _, new in new })
    }

    /// A successful result with `statusCode`, `headers` or `body` as that HTTP answer (Knative
    /// serves functions as web actions, by OpenWhisk's `.http` rule, ``WebResponse/http(_:)``: the
    /// function cannot frame the answer nor set the runtime's headers); any other answer as it is.
    static func webReply(_ reply: Reply) -> Reply {
        guard reply.status == 200, case .object(let result)? = reply.json,
              result["statusCode"] != nil || result["headers"] != nil || result["body"] != nil
        else { return reply }
        let web: WebResponse
        do {
            web = try WebResponse.http(.object(result))
        } catch {
            return Reply(status: 400, body: JSONValue.object(["error": .string(error.message)]).encoded, headers: [("content-type", "application/json")] + reply.headers.filter { $0.0.hasPrefix("x-tabula-") })
        }
        return Reply(status: web.status, body: web.body, headers: web.headers.map { ($0.name, $0.value) } + reply.headers.filter { $0.0.hasPrefix("x-tabula-") })
    }
}
