public import Foundation
public import Hummingbird
public import Logging
import NIOCore
public import TabulaKBS
public import TabulaPlatform
import TabulaWire

extension Store: BrokerStorage {
    public func namespaceOwner(_ namespace: String) async throws -> String? {
        try await namespaceIdentity(namespace)
    }
}

/// The HTTP server of `tabula broker`: the Key Broker Service protocol (`/kbs/v0/auth`, `attest`,
/// `resource`) and Tabula's own broker endpoints under `/kbs/v0/tabula/` (docs/broker.md).
///
/// Every refusal is a Trustee error body, `{"type": ".../errors/<Name>", "detail": …}`, with the
/// status of ``BrokerError/httpStatus``.
public enum BrokerServer {
    public static func router(broker: Broker, store: Store, logger: Logger) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: LogRequestsMiddleware(.info))
        let kbs = router.group("kbs/v0")
        kbs.post("auth") { request, context in
            try await answer(logger) {
                let body = try await decode(KBSMessages.Request.self, request, context)
                let (session, expires, challenge) = try await broker.auth(body)
                var response = try json(challenge)
                response.headers[.setCookie] = "\(KBSMessages.sessionCookie)=\(session); Expires=\(cookieDate(expires))"
                return response
            }
        }
        kbs.post("attest") { request, context in
            try await answer(logger) {
                let body = try await decode(KBSMessages.Attestation.self, request, context)
                let token = try await broker.attest(session: sessionID(request), body)
                var response = try json(KBSMessages.TokenResponse(token: token))
                if let id = sessionID(request) { response.headers[.setCookie] = "\(KBSMessages.sessionCookie)=\(id)" }
                return response
            }
        }
        kbs.get("resource/:repository/:type/:tag") { request, context in
            try await answer(logger) {
                let path = ["repository", "type", "tag"].compactMap { context.parameters.get($0) }.joined(separator: "/")
                var bearer: String?
                if let header = request.headers[.authorization], header.hasPrefix("Bearer ") { bearer = String(header.dropFirst(7)) }
                return try json(try await broker.resource(path, session: sessionID(request), bearer: bearer))
            }
        }
        kbs.get("tabula/attestation") { request, _ in
            try await answer(logger) {
                var nonce: [UInt8]?
                if let text = request.uri.queryParameters.get("nonce") {
                    guard let bytes = [UInt8](hex: text), bytes.count <= 64 else {
                        throw BrokerError(.invalidRequest, "nonce must be hex of at most 64 bytes")
                    }
                    nonce = bytes
                }
                return try json(try await broker.bundle(nonce: nonce))
            }
        }
        kbs.get("tabula/manifest") { _, _ in
            try await answer(logger) { try json(try await broker.statement()) }
        }
        kbs.post("tabula/manifest") { request, context in
            try await answer(logger) {
                let body = try await decode(ManifestUpdate.self, request, context)
                let bytes = try Base64URL.decode(body.manifest, field: "manifest")
                let manifest = try await broker.updateManifest(bytes, signatures: body.signatures)
                return try json(["version": manifest.version])
            }
        }
        kbs.put("tabula/secrets/:namespace/:name") { request, context in
            try await answer(logger) {
                let (namespace, owner) = try await authenticated(request, context, store: store)
                let body = try await decode(SecretRequest.self, request, context)
                let name = context.parameters.get("name") ?? ""
                try await broker.setSecret(namespace: namespace, owner: owner, name: name, sealed: body.value, readers: body.readers)
                return try json(try await broker.secretPolicies(namespace: namespace, owner: owner).first { $0.name == name })
            }
        }
        kbs.get("tabula/secrets/:namespace") { request, context in
            try await answer(logger) {
                let (namespace, owner) = try await authenticated(request, context, store: store)
                return try json(try await broker.secretPolicies(namespace: namespace, owner: owner))
            }
        }
        kbs.delete("tabula/secrets/:namespace/:name") { request, context in
            try await answer(logger) {
                let (namespace, _) = try await authenticated(request, context, store: store)
                guard try await broker.deleteSecret(namespace: namespace, name: context.parameters.get("name") ?? "") else {
                    throw BrokerError(.notFound, "the namespace \(namespace) has no such secret")
                }
                return Response(status: .noContent)
            }
        }
        kbs.get("tabula/recovery") { _, _ in
            try await answer(logger) { try json(try await broker.recoveryStatus()) }
        }
        kbs.post("tabula/recovery") { request, context in
            try await answer(logger) {
                let body = try await decode(ShareUpload.self, request, context)
                return try json(["waitingFor": try await broker.submitShare(holder: body.holder, sealed: body.share)])
            }
        }
        return router
    }

    /// The application: the broker's HTTP server, stopped by SIGINT or SIGTERM; the broker reads
    /// the shared state again every 2 seconds (other instances' changes, epoch turns).
    public static func application(
        broker: Broker, store: Store, host: String, port: Int, logger: Logger, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        Application(
            router: router(broker: broker, store: store, logger: logger),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "tabula-broker"),
            onServerRunning: { channel in
                Task {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .seconds(2))
                        do { try await broker.refresh() } catch { logger.warning("cannot read the broker state again: \(error)") }
                    }
                }
                await onRunning(channel.localAddress?.port ?? port)
            },
            logger: logger)
    }

    /// `POST /kbs/v0/tabula/manifest`.
    struct ManifestUpdate: Decodable {
        /// base64url of the new manifest's exact bytes.
        var manifest: String
        /// Base64 DER ECDSA signatures over those bytes.
        var signatures: [String]
    }

    /// `PUT /kbs/v0/tabula/secrets/<namespace>/<name>`.
    struct SecretRequest: Decodable {
        var value: JWE
        var readers: [SecretPolicy.Reader]
    }

    /// `POST /kbs/v0/tabula/recovery`.
    struct ShareUpload: Decodable {
        var holder: String
        var share: JWE
    }

    private static func answer(_ logger: Logger, _ body: () async throws -> Response) async throws -> Response {
        do {
            return try await body()
        } catch let error as BrokerError {
            return errorResponse(error)
        } catch let error as PlatformError where error.code == .unavailable {
            return errorResponse(BrokerError(.unavailable, error.message))
        } catch {
            logger.error("broker request failed: \(error)")
            return errorResponse(BrokerError(.stateFailure, "the broker failed to answer; its log says why"))
        }
    }

    private static func errorResponse(_ error: BrokerError) -> Response {
        let body = KBSMessages.ErrorBody(name: error.trusteeName, detail: error.message)
        var response = (try? json(body)) ?? Response(status: .internalServerError)
        response.status = HTTPResponse.Status(code: error.httpStatus)
        return response
    }

    private static func json(_ value: some Encodable) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(value)
        return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    private static func decode<T: Decodable>(_ type: T.Type, _ request: Request, _ context: BasicRequestContext) async throws -> T {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: 1 << 20)
        } catch {
            throw BrokerError(.invalidRequest, "the request body is larger than 1 MiB")
        }
        do {
            return try JSONDecoder().decode(type, from: Data(buffer.readableBytesView))
        } catch {
            throw BrokerError(.invalidRequest, "the body is not the JSON this endpoint takes (docs/broker.md): \(error)")
        }
    }

    private static func sessionID(_ request: Request) -> String? {
        guard let header = request.headers[.cookie] else { return nil }
        for pair in header.split(separator: ";") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == KBSMessages.sessionCookie {
                return String(parts[1]).trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }

    /// The namespace whose OpenWhisk credentials (HTTP basic) the request carries, and their
    /// UUID; the namespace must be the one the path names.
    private static func authenticated(_ request: Request, _ context: BasicRequestContext, store: Store) async throws -> (namespace: String, owner: String) {
        guard let credentials = BasicCredentials(request.headers),
              let namespace = try await store.authenticate(uuid: credentials.uuid, key: credentials.key)
        else {
            throw BrokerError(.unauthenticated, "a namespace's secrets need that namespace's credentials (HTTP basic, UUID:KEY)")
        }
        let named = context.parameters.get("namespace") ?? ""
        guard named == "_" || EntityName.same(named, namespace) else {
            throw BrokerError(.forbidden, "these credentials are the namespace \(namespace)'s, not \(named)'s")
        }
        return (namespace, credentials.uuid)
    }

    private static func cookieDate(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return formatter.string(from: date)
    }
}
