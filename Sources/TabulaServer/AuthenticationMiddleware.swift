import Foundation
import Hummingbird
import TabulaPlatform
import TabulaWire

/// HTTP basic authentication with OpenWhisk credentials (`UUID:KEY`), and the rule that a caller
/// reaches only its own namespace (`_` names it).
struct AuthenticationMiddleware: RouterMiddleware {
    let store: Store

    func handle(_ request: Request, context: ServerContext, next: (Request, ServerContext) async throws -> Response) async throws -> Response {
        guard let credentials = BasicCredentials(request.headers) else {
            throw PlatformError(.unauthorized, "The resource requires authentication, which was not supplied with the request.")
        }
        guard let namespace = try await store.authenticate(uuid: credentials.uuid, key: credentials.key) else {
            throw PlatformError(.unauthorized, "The supplied authentication is invalid.")
        }
        var context = context
        context.namespace = namespace
        context.logger[metadataKey: "namespace"] = .string(namespace)
        return try await next(request, context)
    }
}

extension ServerContext {
    /// The namespace the credentials opened.
    func caller() throws -> String {
        guard let caller = namespace else {
            throw PlatformError(.unauthorized, "The resource requires authentication, which was not supplied with the request.")
        }
        return caller
    }

    /// The namespace a path names where any caller may name any namespace (an invocation, which
    /// the function's policy admits or not; a job's parties): `_` is the caller's own.
    func namedNamespace(_ path: String) throws -> String {
        let caller = try caller()
        if EntityName.same(path, "_") { return caller }
        try EntityName.check(path, what: "namespace")
        return path
    }

    /// The namespace a path names, checked against the caller's: `_` is the caller's own.
    func namespace(_ path: String) throws -> String {
        guard let caller = namespace else {
            throw PlatformError(.unauthorized, "The resource requires authentication, which was not supplied with the request.")
        }
        // By bytes: another spelling of the caller's name (canonically equivalent in Swift) is
        // another namespace.
        guard EntityName.same(path, "_") || EntityName.same(path, caller) else {
            throw PlatformError(.forbidden, "The supplied authentication is not authorized to access '\(path)'.")
        }
        return caller
    }
}
