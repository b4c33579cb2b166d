import Foundation
import Hummingbird
import TabulaPlatform
import TabulaWire

/// Packages, triggers, rules and a namespace's limits: the rest of OpenWhisk's entities.
extension Routes {
    func registerEntities(on api: RouterGroup<ServerContext>) {
        let packages = api.group("namespaces/:namespace/packages")
        packages.get { request, context in
            // Another namespace's packages may be listed: only its published ones are.
            let caller = try context.caller()
            let namespace = try context.namedNamespace(context.parameters.require("namespace"))
            if request.uri.queryParameters.get("count") == "true" {
                return Response.json(["packages": .integer(Int64(try await platform.packageCount(namespace: namespace, caller: caller)))] as JSONValue)
            }
            let (limit, skip) = try Self.page(request)
            let packages = try await platform.packages(namespace: namespace, caller: caller, limit: limit, skip: skip)
            return Response.json(packages.map(Self.summary))
        }
        packages.get(":name") { _, context in
            let caller = try context.caller()
            let namespace = try context.namedNamespace(context.parameters.require("namespace"))
            return Response.json(try await platform.package(namespace: namespace, name: context.parameters.require("name"), caller: caller))
        }
        packages.put(":name") { request, context in
            let namespace = try context.namespace(context.parameters.require("namespace"))
            let body = try await Self.decode(PackagePut.self, request, context)
            let overwrite = request.uri.queryParameters.get("overwrite") == "true"
            return Response.json(try await platform.putPackage(namespace: namespace, name: context.parameters.require("name"), body: body, overwrite: overwrite))
        }
        packages.delete(":name") { request, context in
            let namespace = try context.namespace(context.parameters.require("namespace"))
            let force = request.uri.queryParameters.get("force") == "true"
            return Response.json(try await platform.deletePackage(namespace: namespace, name: context.parameters.require("name"), force: force))
        }

        let triggers = api.group("namespaces/:namespace/triggers")
        triggers.get { request, context in
            let namespace = try context.namespace(context.parameters.require("namespace"))
            if request.uri.queryParameters.get("count") == "true" {
                return Response.json(["triggers": .integer(Int64(try await platform.store.entityCount(Trigger.self, namespace: namespace, publishedOnly: false)))] as JSONValue)
            }
            let (limit, skip) = try Self.page(request)
            return Response.json(try await platform.triggers(namespace: namespace, limit: limit, skip: skip))
        }
        triggers.get(":name") { _, context in
            let namespace = try context.namespace(context.parameters.require("namespace"))
            return Response.json(try await platform.trigger(namespace: namespace, name: context.parameters.require("name")))
        }
        triggers.put(":name") { request, context in
            let namespace = try context.namespace(context.parameters.require("namespace"))
            let body = try await Self.decode(TriggerPut.self, request, context)
            let overwrite = request.uri.queryParameters.get("overwrite") == "true"
            return Response.json(try await platform.putTrigger(namespace: namespace, name: context.parameters.require("name"), body: body, overwrite: overwrite))
        }
        triggers.delete(":name") { _, context in
            let namespace = try context.namespace(context.parameters.require("namespace"))
            return Response.json(try await platform.deleteTrigger(namespace: namespace, name: context.parameters.require("name")))
        }
        // Fire: 202 with the trigger's activation id, or 204 when no rule is active.
        triggers.post(":name") { request, context in
            let caller = try context.caller()
            let namespace = try context.namespace(context.parameters.require("namespace"))
            let payload = try await Self.parameters(request, context)
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName.lowercased()] = field.value }
            headers["authorization"] = nil  // the caller's key is not the event's
            guard let id = try await platform.fire(namespace: namespace, name: context.parameters.require("name"), payload: payload, headers: headers, subject: caller) else {
                return Response(status: .noContent)
            }
            return Response.json(["activationId": .string(id)] as JSONValue, status: .accepted, headers: [Self.activationIDField: id])
        }

        let rules = api.group("namespaces/:namespace/rules")
        rules.get { request, context in
            let namespace = try context.namespace(context.parameters.require("namespace"))
            if request.uri.queryParameters.get("count") == "true" {
                return Response.json(["rules": .integer(Int64(try await platform.store.entityCount(Rule.self, namespace: namespace, publishedOnly: false)))] as JSONValue)
            }
            let (limit, skip) = try Self.page(request)
            let rules = try await platform.rules(namespace: namespace, limit: limit, skip: skip)
            // OpenWhisk lists rules without their status.
            return Response.json(rules.map { rule -> JSONValue in
                guard case .object(var fields) = Self.json(rule) else { return Self.json(rule) }
                fields["status"] = nil
                return .object(fields)
            })
        }
        rules.get(":name") { _, context in
            let namespace = try context.namespace(context.parameters.require("namespace"))
            return Response.json(try await platform.rule(namespace: namespace, name: context.parameters.require("name")))
        }
        rules.put(":name") { request, context in
            let namespace = try context.namespace(context.parameters.require("namespace"))
            let body = try await Self.decode(RulePut.self, request, context)
            let overwrite = request.uri.queryParameters.get("overwrite") == "true"
            return Response.json(try await platform.putRule(namespace: namespace, name: context.parameters.require("name"), body: body, overwrite: overwrite))
        }
        rules.delete(":name") { _, context in
            let namespace = try context.namespace(context.parameters.require("namespace"))
            return Response.json(try await platform.deleteRule(namespace: namespace, name: context.parameters.require("name")))
        }
        // Enable or disable: {"status": "active" | "inactive"}.
        rules.post(":name") { request, context in
            let namespace = try context.namespace(context.parameters.require("namespace"))
            guard case .string(let status)? = try await Self.parameters(request, context)["status"] else {
                throw PlatformError(.badRequest, "The request content was malformed: give {\"status\": \"active\"} or {\"status\": \"inactive\"}.")
            }
            try await platform.setRuleStatus(namespace: namespace, name: context.parameters.require("name"), status: status)
            return Response(status: .ok, headers: [.contentType: "text/plain; charset=UTF-8"], body: ResponseBody(byteBuffer: ByteBuffer(string: "OK")))
        }

        api.get("namespaces/:namespace/limits") { _, context in
            let namespace = try context.namespace(context.parameters.require("namespace"))
            return Response.json(try await platform.limitsDocument(namespace: namespace))
        }
    }

    /// OpenWhisk's answer header with the activation id.
    static let activationIDField = HTTPFields.Element.Name("x-openwhisk-activation-id")!

    /// A package as a listing shows it: `binding` is `false` for a package that binds nothing.
    static func summary(_ package: Package) -> JSONValue {
        guard case .object(var fields) = json(package) else { return json(package) }
        if !package.binding.isBinding { fields["binding"] = false }
        return .object(fields)
    }

    static func json(_ value: some Encodable) -> JSONValue {
        (try? JSONValue(parsing: JSONValue.encode(value))) ?? .null
    }

    /// A request's JSON body decoded as `T` (400 naming what is wrong otherwise).
    static func decode<T: Decodable>(_ type: T.Type, _ request: Request, _ context: ServerContext) async throws -> T {
        let body = try await request.body.collect(upTo: context.maxUploadSize)
        do {
            return try JSONValue.decode(T.self, from: Data(buffer: body))
        } catch {
            throw PlatformError(.badRequest, "The request content was malformed: \(describe(error))")
        }
    }

    /// A request's optional JSON body: `{}` when empty (400 when not JSON).
    static func parameters(_ request: Request, _ context: ServerContext) async throws -> JSONValue {
        let body = try await request.body.collect(upTo: context.maxUploadSize)
        guard body.readableBytes > 0 else { return [:] }
        do {
            return try JSONValue(parsing: Data(buffer: body))
        } catch {
            throw PlatformError(.badRequest, "The request content was malformed: the body is not valid JSON.")
        }
    }
}
