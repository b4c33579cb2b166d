import Foundation
public import Hummingbird
import Logging
import TabulaWire

/// The HTTP side of `tabula runtime`: carries requests to an ``ActionRuntime`` and its answers back.
///
/// OpenWhisk mode serves `POST /init` and `POST /run`; Knative mode (`__OW_RUNTIME_PLATFORM=knative`)
/// serves `/` for the methods of `__OW_HTTP_METHODS`, as OpenWhisk's runtimes do. Both serve
/// `GET /api/v1/attestation`, the same attestation bundle `tabula serve` returns.
public enum RuntimeServer {
    /// The router with every route.
    public static func router(runtime: ActionRuntime) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: ErrorMiddleware())
        let codeLimit = runtime.configuration.maxBodySize
        let runLimit = runtime.configuration.maxRunBodySize
        switch runtime.configuration.platform {
        case .openwhisk:
            router.post("/init") { request, _ in
                await answer(request, limit: codeLimit) { body in await runtime.initialize(body) }
            }
            router.post("/run") { request, _ in
                await answer(request, limit: runLimit) { body in await runtime.run(body) }
            }
        case .knative:
            // Only a runtime without an action of its own takes code on `/`.
            let limit = runtime.configuration.dedicated == nil ? codeLimit : runLimit
            for name in runtime.configuration.httpMethods {
                guard let method = HTTPRequest.Method(name) else { continue }
                router.on("/", method: method) { request, _ in
                    let headers = request.headers.map { ($0.name.canonicalName, $0.value) }
                    return await answer(request, limit: limit) { body in
                        await runtime.knative(body, method: request.method.rawValue, headers: headers)
                    }
                }
            }
        }
        // Public, like tabula serve's: anyone may check what runs before trusting it with data.
        router.get("/api/v1/attestation") { request, _ in
            guard let monitor = runtime.enclave.monitor else {
                return response(ActionRuntime.reply(RuntimeError(.notAttested, "This runtime runs without an attested enclave.")))
            }
            var nonce: [UInt8]?
            if let text = request.uri.queryParameters.get("nonce") {
                guard let bytes = [UInt8](hex: text), (1...64).contains(bytes.count) else {
                    return response(ActionRuntime.reply(RuntimeError(.badRequest, "The nonce must be 1 to 64 bytes in hex, not \"\(text.prefix(140))\".")))
                }
                nonce = bytes
            }
            let bundle = try await monitor.bundle(nonce: nonce)
            return Response(
                status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                body: ResponseBody(byteBuffer: ByteBuffer(data: JSONValue.encode(bundle))))
        }
        return router
    }

    /// The application, silent: OpenWhisk reads everything a container prints as the action's logs.
    ///
    /// - Parameter onRunning: called with the bound port once the server listens (for port 0).
    public static func application(
        runtime: ActionRuntime, host: String, port: Int, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        Application(
            router: router(runtime: runtime),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "tabula-runtime"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
            logger: Logger(label: "tabula-runtime") { _ in SwiftLogNoOpLogHandler() })
    }

    /// Serves until SIGTERM or SIGINT, then lets the requests in progress finish.
    public static func run(runtime: ActionRuntime, host: String, port: Int, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        try await application(runtime: runtime, host: host, port: port, onRunning: onRunning)
            .runService(gracefulShutdownSignals: [.sigterm, .sigint])
    }

    /// Reads the body (up to `limit`) and sends what `handle` answers.
    static func answer(_ request: Request, limit: Int, _ handle: ([UInt8]) async -> ActionRuntime.Reply) async -> Response {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: limit)
        } catch {
            return response(ActionRuntime.reply(RuntimeError(.payloadTooLarge, "The request body is larger than \(limit) bytes.")))
        }
        return response(await handle(Array(buffer.readableBytesView)))
    }

    static func response(_ reply: ActionRuntime.Reply) -> Response {
        var headers = HTTPFields()
        for (name, value) in reply.headers {
            guard let name = HTTPFields.Element.Name(name) else { continue }
            headers.append(HTTPFields.Element(name: name, value: value))
        }
        return Response(status: HTTPResponse.Status(code: reply.status), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: reply.body)))
    }

    /// Hummingbird's own refusals (an unknown path, a wrong method) in OpenWhisk's error body.
    struct ErrorMiddleware: RouterMiddleware {
        func handle(_ request: Request, context: BasicRequestContext, next: (Request, BasicRequestContext) async throws -> Response) async throws -> Response {
            do {
                return try await next(request, context)
            } catch let error as any HTTPResponseError {
                let refusal: RuntimeError = switch error.status {
                case .notFound, .methodNotAllowed: RuntimeError(.notFound, "The requested resource does not exist.")
                case .contentTooLarge: RuntimeError(.payloadTooLarge, "The request body is too large.")
                default: RuntimeError(.badRequest, error.status.reasonPhrase)
                }
                return response(ActionRuntime.reply(refusal))
            } catch {
                return response(ActionRuntime.reply(RuntimeError(.internalError, "The runtime failed: \(error)")))
            }
        }
    }
}
