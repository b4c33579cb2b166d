import Foundation
import HTTPTypes
import Hummingbird
import TabulaPlatform
import TabulaWire

/// Web actions: `/api/v1/web/NS/PACKAGE/NAME[.EXT][/PATH]`, any method, credentials optional.
extension Routes {
    func registerWeb(on router: Router<ServerContext>) {
        let web = router.group("api/v1/web").add(middleware: WebErrorMiddleware())
        for path in [":namespace/:package/:action", ":namespace/:package/:action/**"] {
            for method: HTTPRequest.Method in [.get, .post, .put, .delete, .patch, .head, .options] {
                web.on(RouterPath(path), method: method, use: webAction)
            }
        }
    }

    /// OpenWhisk's CORS headers on every web answer (unless the action answers OPTIONS itself).
    static func addCORS(to headers: inout HTTPFields, request: Request) {
        headers[HTTPField.Name("Access-Control-Allow-Origin")!] = "*"
        headers[HTTPField.Name("Access-Control-Allow-Methods")!] = "OPTIONS, GET, DELETE, POST, PUT, HEAD, PATCH"
        headers[HTTPField.Name("Access-Control-Allow-Headers")!] = request.headers[HTTPField.Name("Access-Control-Request-Headers")!]
            ?? "Authorization, Origin, X-Requested-With, Content-Type, Accept, User-Agent"
    }

    @Sendable func webAction(_ request: Request, context: ServerContext) async throws -> Response {
        let (name, format) = WebTranscoder.split(try context.parameters.require("action"))
        let rest = context.parameters.getCatchAll()
        let path = rest.isEmpty ? "" : "/" + rest.joined(separator: "/")
        let web = try await platform.webAction(namespace: context.parameters.require("namespace"), package: context.parameters.require("package"), name: name)
        var headers: HTTPFields = [:]
        if !web.customOptions {
            Self.addCORS(to: &headers, request: request)
            // A browser's preflight: answered here, the action is not run.
            if request.method == .options { return Response(status: .ok, headers: headers) }
        }
        var user: String?
        if let credentials = BasicCredentials(request.headers) {
            user = try await platform.store.authenticate(uuid: credentials.uuid, key: credentials.key)
        }
        if let required = web.requireAuthentication, request.method != .options {
            let given = request.headers[HTTPField.Name("X-Require-Whisk-Auth")!]
            let allowed = switch required {
            case .bool(true): user != nil
            case .string(let secret): given.map { EntityName.same($0, secret) } ?? false
            case .integer(let number): given == String(number)
            default: false
            }
            guard allowed else { throw PlatformError(.unauthorized, "Authentication is possible but has failed or not yet been provided.") }
        }
        let body = try await request.body.collect(upTo: context.maxUploadSize)
        if request.headers[.contentType].map({ $0.lowercased().hasPrefix(ObliviousHTTP.requestMediaType) }) == true {
            // A confidential web request: sealed to the enclave by any OHTTP client, answered sealed.
            let pending = try await platform.invokeConfidential(namespace: web.namespace, name: web.name, sealed: Array(buffer: body), subject: web.namespace)
            headers[Self.activationIDField] = pending.activationID
            guard let activation = try await pending.record(within: platform.configuration.blockingTimeout) else { return try await Self.notReady(pending, context: context, headers: headers) }
            return try Self.sealedResponse(activation, headers: headers)
        }
        let arguments = try WebTranscoder.arguments(
            method: request.method, headers: request.headers, query: request.uri.query, body: body, raw: web.raw, path: path, user: user)
        let pending = try await platform.invoke(namespace: web.namespace, name: web.name, parameters: .object(arguments), subject: web.namespace)
        headers[Self.activationIDField] = pending.activationID
        guard let activation = try await pending.record(within: platform.configuration.blockingTimeout) else { return try await Self.notReady(pending, context: context, headers: headers) }
        let result = activation.response?.result ?? [:]
        var response: Response
        switch ActivationResponse.Status(code: activation.statusCode) {
        case .success?: response = try WebTranscoder.response(result, as: format)
        // The action's own error is its answer: rendered as a result would be.
        case .applicationError?: response = try WebTranscoder.response(result["error"] ?? result, as: format)
        default: throw PlatformError(.badRequest, "There was an error processing your request.")
        }
        // The platform's headers are the platform's: the result cannot set them (WebResponse drops its
        // x-openwhisk- ones), and CORS follows the annotation, not the function.
        for field in headers { response.headers[field.name] = field.value }
        return response
    }


    /// OpenWhisk's 202 for a web request still running; like every 202, it promises that the id
    /// resolves, so the stand-in record is stored first.
    static func notReady(_ pending: Platform.PendingActivation, context: ServerContext, headers: HTTPFields) async throws -> Response {
        try await pending.acknowledge()
        return Response.json(["error": "Response not yet ready.", "code": .string(context.id)] as JSONValue, status: .accepted, headers: headers)
    }
}

/// Web answers carry OpenWhisk's CORS headers, errors included.
struct WebErrorMiddleware: RouterMiddleware {
    func handle(_ request: Request, context: ServerContext, next: (Request, ServerContext) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let (status, message) = RequestIDMiddleware.describe(error, maxUploadSize: context.maxUploadSize)
            var response = Response.json(["error": .string(message), "code": .string(context.id)] as JSONValue, status: status)
            Routes.addCORS(to: &response.headers, request: request)
            return response
        }
    }
}
