import Foundation
import Hummingbird
import Prometheus
import TabulaPlatform
import TabulaWire

/// The OpenWhisk REST API v1 routes, plus `/metrics` and `/health`.
struct Routes {
    let platform: Platform
    let registry: PrometheusCollectorRegistry

    func register(on router: Router<ServerContext>) {
        router.get("/") { _, _ in Response.json(Info.root) }
        router.get("/api/v1") { _, _ in Response.json(Info.v1) }
        router.get("/health") { _, _ in Response.json(["status": "ok"] as JSONValue) }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }

        // Attestation is public: anyone may check what runs before trusting it with data.
        router.get("/.well-known/ohttp-gateway") { _, _ in
            Response(status: .ok, headers: [.contentType: KeyConfiguration.listMediaType, .cacheControl: "no-store"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: try platform.keyConfigurations())))
        }
        router.get("/api/v1/attestation", use: attestation)

        let api = router.group("api/v1").add(middleware: AuthenticationMiddleware(store: platform.store))
        api.get("attestation/namespaces/:namespace/actions/:name", use: functionCertificate)
        api.get("attestation/namespaces/:namespace/actions/:name/:inner", use: functionCertificate)
        api.get("namespaces") { _, context in
            Response.json([try context.namespace("_")])
        }
        // The nodes, their leases and load: what an operator's `tabula node list` shows. Counts
        // only, never which functions of which tenant are warm where.
        api.get("nodes") { _, _ in
            Response.json(try await platform.nodes())
        }
        registerLog(on: api)

        let actions = api.group("namespaces/:namespace/actions")
        actions.get(use: listActions)
        // An action in a package: PACKAGE/NAME (see actionName(_:); the router wants one name
        // per path segment, so the package is `name` and the action `inner` there).
        for path in [":name", ":name/:inner"] {
            actions.get(RouterPath(path), use: getAction)
            actions.put(RouterPath(path), use: putAction)
            actions.delete(RouterPath(path), use: deleteAction)
            actions.post(RouterPath(path), use: invoke)
        }
        registerEntities(on: api)
        registerWeb(on: router)
        // Multi-party jobs (docs/jobs.md): the namespace's owner creates them; any party may
        // send its sealed input, read the state and fetch a sealed result.
        let jobs = api.group("namespaces/:namespace/jobs")
        jobs.post { request, context in
            let namespace = try context.namespace(context.parameters.require("namespace"))
            let body = try await request.body.collect(upTo: context.maxUploadSize)
            let job: Platform.JobRequest
            do {
                job = try JSONValue.decode(Platform.JobRequest.self, from: Data(buffer: body))
            } catch {
                throw PlatformError(.badRequest, "The request content was malformed: \(Self.describe(error))")
            }
            return Response.json(try await platform.createJob(namespace: namespace, request: job))
        }
        jobs.get(":id") { _, context in
            let namespace = try context.namedNamespace(context.parameters.require("namespace"))
            return Response.json(try await platform.job(namespace: namespace, id: context.parameters.require("id")))
        }
        jobs.post(":id/run") { _, context in
            let namespace = try context.namedNamespace(context.parameters.require("namespace"))
            let id = try context.parameters.require("id")
            try await platform.runIfComplete(namespace: namespace, id: id)
            return Response.json(try await platform.job(namespace: namespace, id: id))
        }
        jobs.post(":id/inputs/:slot") { request, context in
            let namespace = try context.namedNamespace(context.parameters.require("namespace"))
            guard request.headers[.contentType].map({ $0.lowercased().hasPrefix(ObliviousHTTP.requestMediaType) }) == true else {
                throw PlatformError(.badRequest, "A job input must be sealed to the enclave: Content-Type \(ObliviousHTTP.requestMediaType) (tabula job submit does so).")
            }
            let body = try await request.body.collect(upTo: context.maxUploadSize)
            let outcome = try await platform.submitJobInput(
                namespace: namespace, id: context.parameters.require("id"), slot: context.parameters.require("slot"), sealed: Array(buffer: body))
            let headers: HTTPFields = [.contentType: ObliviousHTTP.responseMediaType, HTTPFields.Element.Name("x-tabula-job-state")!: outcome.state.rawValue]
            return Response(status: HTTPResponse.Status(code: outcome.status), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: outcome.sealedResponse)))
        }
        jobs.get(":id/results/:recipient") { _, context in
            let namespace = try context.namedNamespace(context.parameters.require("namespace"))
            let id = try context.parameters.require("id")
            let recipient = try context.parameters.require("recipient")
            let result = try await platform.jobResult(namespace: namespace, id: id, recipient: recipient)
            return Response.json([
                "job": .string(id), "recipient": .string(recipient), "sealed": .string(Data(result.sealed).base64EncodedString()),
                "signature": .string(Data(result.signature).base64EncodedString()),
            ] as JSONValue)
        }

        let activations = api.group("namespaces/:namespace/activations")
        activations.get(use: listActivations)
        activations.get(":id", use: getActivation)
        activations.get(":id/result") { request, context in
            let activation = try await platform.activation(namespace: try context.namespace(context.parameters.require("namespace")), id: context.parameters.require("id"))
            return Response.json(activation.response)
        }
        activations.get(":id/logs") { request, context in
            let activation = try await platform.activation(namespace: try context.namespace(context.parameters.require("namespace")), id: context.parameters.require("id"))
            return Response.json(["logs": .array((activation.logs ?? []).map(JSONValue.string))] as JSONValue)
        }
    }

    // MARK: Function certificates

    @Sendable func functionCertificate(_ request: Request, context: ServerContext) async throws -> Response {
        let namespace = try context.namespace(context.parameters.require("namespace"))
        // A client pins the enclave it verified: in a cluster, that enclave's node issues the
        // certificate, whichever node the request reached.
        if let pinned = request.uri.queryParameters.get(Confidential.enclaveParameter), let own = platform.enclaveFingerprint, pinned != own {
            if !Forwarder.wasForwarded(request), let node = try await platform.node(withEnclave: pinned),
               let answer = await Forwarder.forward(request, body: nil, to: node) {
                return answer
            }
            throw PlatformError(.misdirected, "The enclave \(pinned.prefix(16))… is not this node's, and no live node of this cluster has it; fetch the attestation bundle again.")
        }
        let pem = try await platform.functionCertificate(namespace: namespace, name: try Self.actionName(context))
        return Response(status: .ok, headers: [.contentType: "application/x-pem-file"], body: ResponseBody(byteBuffer: ByteBuffer(string: pem)))
    }

    // MARK: Actions

    @Sendable func listActions(_ request: Request, context: ServerContext) async throws -> Response {
        let namespace = try context.namespace(context.parameters.require("namespace"))
        if request.uri.queryParameters.get("count") == "true" {
            return Response.json(["actions": .integer(Int64(try await platform.store.actionCount(namespace: namespace)))] as JSONValue)
        }
        let (limit, skip) = try Self.page(request)
        return Response.json(try await platform.actions(namespace: namespace, limit: limit, skip: skip))
    }

    @Sendable func getAction(_ request: Request, context: ServerContext) async throws -> Response {
        let namespace = try context.namespace(context.parameters.require("namespace"))
        // `…/actions/PACKAGE/` (with the slash) lists the package's actions, as OpenWhisk does.
        if context.parameters.get("inner") == nil, request.uri.path.hasSuffix("/") {
            let (limit, skip) = try Self.page(request)
            return Response.json(try await platform.packageActions(namespace: namespace, package: context.parameters.require("name"), limit: limit, skip: skip))
        }
        let code = request.uri.queryParameters.get("code") != "false"
        return Response.json(try await platform.action(namespace: namespace, name: try Self.actionName(context), includeCode: code))
    }

    /// The action a path names within its namespace: `NAME`, or `PACKAGE/NAME`.
    static func actionName(_ context: ServerContext) throws -> String {
        let name = try context.parameters.require("name")
        return context.parameters.get("inner").map { "\(name)/\($0)" } ?? name
    }

    @Sendable func putAction(_ request: Request, context: ServerContext) async throws -> Response {
        let namespace = try context.namespace(context.parameters.require("namespace"))
        let body = try await request.body.collect(upTo: context.maxUploadSize)
        let put: ActionPut
        do {
            put = try JSONValue.decode(ActionPut.self, from: Data(buffer: body))
        } catch {
            throw PlatformError(.badRequest, "The request content was malformed: \(Self.describe(error))")
        }
        let overwrite = request.uri.queryParameters.get("overwrite") == "true"
        let action = try await platform.putAction(namespace: namespace, name: try Self.actionName(context), body: put, overwrite: overwrite)
        return Response.json(action)
    }

    @Sendable func deleteAction(_ request: Request, context: ServerContext) async throws -> Response {
        let namespace = try context.namespace(context.parameters.require("namespace"))
        return Response.json(try await platform.deleteAction(namespace: namespace, name: try Self.actionName(context)))
    }

    // MARK: Invoke

    /// Invokes an action: plain JSON parameters, or a sealed request (`message/ohttp-req`).
    ///
    /// Another namespace than the caller's may be named: the action's policy (`invokers`) decides.
    @Sendable func invoke(_ request: Request, context: ServerContext) async throws -> Response {
        let caller = try context.caller()
        let namespace = try context.namedNamespace(context.parameters.require("namespace"))
        let name = try Self.actionName(context)
        let query = request.uri.queryParameters
        let body = try await request.body.collect(upTo: context.maxUploadSize)
        let sealed = request.headers[.contentType].map { $0.lowercased().hasPrefix(ObliviousHTTP.requestMediaType) } ?? false
        let blocking = query.get("blocking") == "true"
        let pending: Platform.PendingActivation
        if sealed {
            do {
                pending = try await platform.invokeConfidential(namespace: namespace, name: name, sealed: Array(buffer: body), subject: caller)
            } catch let error as PlatformError where error.code == .misdirected && !Forwarder.wasForwarded(request) {
                // Another node's enclave holds the key: send it there. Key ids are one byte, so
                // more than one node may claim it; a node that is not the one answers 421 too.
                for node in try await platform.nodes(holdingKey: body.getInteger(at: body.readerIndex, as: UInt8.self) ?? 0) {
                    if let answer = await Forwarder.forward(request, body: body, to: node), answer.status != .misdirectedRequest {
                        return answer
                    }
                }
                throw error
            }
        } else {
            let parameters: JSONValue
            if body.readableBytes == 0 {
                parameters = [:]
            } else {
                do {
                    parameters = try JSONValue(parsing: Data(buffer: body))
                } catch {
                    throw PlatformError(.badRequest, "The request content was malformed: the parameters are not valid JSON.")
                }
            }
            guard blocking else {
                // Its id resolves once answered (in a cluster, any node may run it).
                let activationID = try await platform.invokeNonBlocking(namespace: namespace, name: name, parameters: parameters, subject: caller)
                let headers: HTTPFields = [HTTPFields.Element.Name("x-openwhisk-activation-id")!: activationID]
                return Response.json(["activationId": .string(activationID)] as JSONValue, status: .accepted, headers: headers)
            }
            pending = try await platform.invoke(namespace: namespace, name: name, parameters: parameters, subject: caller)
        }
        let headers: HTTPFields = [HTTPFields.Element.Name("x-openwhisk-activation-id")!: pending.activationID]
        // Built only when answered: a blocking call that completes in time never needs it.
        var accepted: Response { Response.json(["activationId": .string(pending.activationID)] as JSONValue, status: .accepted, headers: headers) }
        // A 202 promises that the id resolves, even should the server stop: the stand-in record is
        // stored before it leaves (see Platform.PendingActivation.acknowledge()).
        guard blocking else {
            try await pending.acknowledge()
            return accepted
        }
        let wait = try query.get("timeout").map { text -> Duration in
            guard let milliseconds = Int(text), milliseconds > 0 else {
                throw PlatformError(.badRequest, "The timeout \(text) is not a positive number of milliseconds.")
            }
            return .milliseconds(milliseconds)
        } ?? platform.configuration.blockingTimeout
        guard let activation = try await pending.record(within: wait) else {
            try await pending.acknowledge()
            return accepted
        }
        if sealed {
            return try Self.sealedResponse(activation, headers: headers)
        }
        let outcome = ActivationResponse.Status(code: activation.statusCode) ?? .internalError
        let status = HTTPResponse.Status(code: outcome.blockingHTTPStatus)
        if query.get("result") == "true" {
            return Response.json(activation.response?.result ?? [:], status: status, headers: headers)
        }
        return Response.json(activation, status: status, headers: headers)
    }

    /// The answer to a confidential invocation: the sealed response, whose inner status is the
    /// real one; the outer one says only that it is here.
    static func sealedResponse(_ activation: Activation, headers: HTTPFields) throws -> Response {
        guard case .string(let base64)? = activation.response?.result?[Confidential.sealedResultKey], let bytes = Data(base64Encoded: base64) else {
            // The platform's own words when it withheld the answer (its receipt could not be
            // logged): they name no plaintext, and say whether to try again.
            let reason = activation.response?.result?["error"]?.stringValue ?? activation.response?.status ?? "no status"
            throw PlatformError(reason == Platform.withheldAnswer ? .unavailable : .internalError, "The invocation ended without a sealed response: \(reason)")
        }
        var sealedHeaders = headers
        sealedHeaders[.contentType] = ObliviousHTTP.responseMediaType
        return Response(status: .ok, headers: sealedHeaders, body: ResponseBody(byteBuffer: ByteBuffer(data: bytes)))
    }

    // MARK: Attestation

    /// `GET /api/v1/attestation[?nonce=HEX]`: the attestation bundle.
    @Sendable func attestation(_ request: Request, context: ServerContext) async throws -> Response {
        var nonce: [UInt8]?
        if let text = request.uri.queryParameters.get("nonce") {
            guard let bytes = [UInt8](hex: text), (1...64).contains(bytes.count) else {
                throw PlatformError(.badRequest, "The nonce must be 1 to 64 bytes in hex, not \"\(text.prefix(140))\".")
            }
            nonce = bytes
        }
        var response = Response.json(try await platform.attestationBundle(nonce: nonce))
        response.headers[.cacheControl] = "no-store"
        return response
    }

    // MARK: Activations

    @Sendable func listActivations(_ request: Request, context: ServerContext) async throws -> Response {
        let namespace = try context.namespace(context.parameters.require("namespace"))
        let query = request.uri.queryParameters
        let (limit, skip) = try Self.page(request)
        let since: Int64? = try query.get("since").map { try Self.integer($0, "since") }
        let upto: Int64? = try query.get("upto").map { try Self.integer($0, "upto") }
        let docs = query.get("docs") == "true"
        return Response.json(try await platform.activations(namespace: namespace, name: query.get("name"), limit: limit, skip: skip, since: since, upto: upto, docs: docs))
    }

    @Sendable func getActivation(_ request: Request, context: ServerContext) async throws -> Response {
        let namespace = try context.namespace(context.parameters.require("namespace"))
        return Response.json(try await platform.activation(namespace: namespace, id: context.parameters.require("id")))
    }

    // MARK: Helpers

    /// OpenWhisk's paging: `limit` 1-200 (default 30), `skip` from 0.
    static func page(_ request: Request) throws -> (Int, Int) {
        let query = request.uri.queryParameters
        let limit = try query.get("limit").map { try integer($0, "limit") } ?? 30
        let skip = try query.get("skip").map { try integer($0, "skip") } ?? 0
        guard (0...200).contains(limit) else { throw PlatformError(.badRequest, "The limit \(limit) is out of range: it must be between 0 and 200.") }
        guard skip >= 0 else { throw PlatformError(.badRequest, "The skip \(skip) must not be negative.") }
        return (limit == 0 ? 200 : Int(limit), Int(skip))
    }

    static func integer<T: FixedWidthInteger>(_ text: String, _ name: String) throws -> T {
        guard let value = T(text) else { throw PlatformError(.badRequest, "The parameter \(name) must be an integer, not \"\(text)\".") }
        return value
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context), DecodingError.keyNotFound(_, let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
        default:
            return "the body is not valid JSON."
        }
    }
}

/// The answers of `GET /` and `GET /api/v1`.
enum Info {
    static let root: JSONValue = [
        "description": "Tabula: a confidential serverless platform for WebAssembly, with the OpenWhisk API",
        "api_paths": ["/api/v1"],
        "runtimes": ["wasm": [["kind": "wasm", "default": true]]],
    ]
    static let v1: JSONValue = [
        "api_version": "1.0.0",
        "api_version_path": "v1",
        "description": "OpenWhisk API",
        "build": "tabula",
    ]
}
