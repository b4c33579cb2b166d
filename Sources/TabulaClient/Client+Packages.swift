import Foundation
public import TabulaWire

extension Client {
    /// Creates or replaces a package, or a binding to another package.
    ///
    /// `PUT …/packages/{name}?overwrite=`.
    /// - Parameters:
    ///   - name: `NAME`, or `/NAMESPACE/NAME`.
    ///   - binding: The package to bind: `PACKAGE` (the client's namespace) or `/NAMESPACE/PACKAGE`
    ///     (another namespace's, which it must have shared); `nil` for a package of its own.
    ///   - parameters: Default parameters of its actions; `nil` sends none (an update keeps the old ones).
    ///   - annotations: `nil` sends none (an update keeps the old ones).
    ///   - publish: Share it with every namespace (`true`) or not; `nil` leaves it as it is
    ///     (private for a new package).
    ///   - overwrite: Replace an existing package; without it an existing name is a `conflict`.
    /// - Returns: The package as stored.
    @discardableResult
    public func putPackage(
        name: String, binding: String? = nil, parameters: [KeyValue]? = nil, annotations: [KeyValue]? = nil, publish: Bool? = nil,
        overwrite: Bool = false
    ) async throws -> Package {
        let entity = try entityPath(name, kind: "package")
        var bound: Package.Binding?
        if let binding {
            let target = try entityPath(binding, kind: "package")
            bound = Package.Binding(namespace: target.namespace, name: target.name)
        }
        let put = PackagePut(binding: bound, parameters: parameters, annotations: annotations, publish: publish)
        let reply = try await send("PUT", segments("packages", entity), query: [("overwrite", String(overwrite))], body: Self.body(put))
        if reply.status == 403, let bound, entity.namespace == "_" {
            // The generic 403 hint (the key's namespace) misleads here: the bound package is the
            // one out of reach, and the server does not say whether it exists.
            var error = reply.error
            if let hint = error.code.hint, error.message.hasSuffix(hint) { error.message.removeLast(hint.count + 1) }
            error.message += " The package /\(bound.namespace ?? "")/\(bound.name ?? "") does not exist or is not shared; its owner shares it with `publish` (tabula package update NAME --shared yes)."
            throw error
        }
        return try reply.decode(Package.self, what: "package")
    }

    /// One package with its actions (for a binding: the bound package's actions, and its
    /// parameters under the binding's).
    ///
    /// `GET …/packages/{name}`. Another namespace's package is readable when it is shared.
    public func package(name: String) async throws -> Package {
        let entity = try entityPath(name, kind: "package")
        let reply = try await send("GET", segments("packages", entity))
        return try reply.decode(Package.self, what: "package")
    }

    /// A page of a namespace's packages: all of the client's own namespace, only the shared ones
    /// (and no bindings) of another.
    ///
    /// `GET …/packages?limit=&skip=`. A listing shows `binding` as `false` for a package that
    /// binds nothing; it is decoded as ``Package/Binding`` with neither field set.
    /// - Parameters:
    ///   - namespace: Another namespace than the client's.
    ///   - limit: At most this many (the server allows up to 200 and defaults to 30).
    ///   - skip: Skip this many first.
    public func packages(namespace: String? = nil, limit: Int? = nil, skip: Int? = nil) async throws -> [Package] {
        if let namespace, !EntityName.isValid(namespace) && namespace != "_" {
            throw ClientError(.invalidArgument, "The namespace \"\(namespace)\" is not valid: \(EntityName.rule).")
        }
        let reply = try await send("GET", ["namespaces", namespace ?? self.namespace, "packages"], query: Self.page(limit: limit, skip: skip))
        // `binding: false` is OpenWhisk's listing of a plain package: read it as no binding.
        let list = try reply.decode([JSONValue].self, what: "list of packages")
        return try list.map { summary in
            var fields = summary.objectValue ?? [:]
            if fields["binding"] == .bool(false) { fields["binding"] = [:] }
            do {
                return try JSONValue.decode(Package.self, from: JSONValue.encode(JSONValue.object(fields)))
            } catch {
                throw ClientError(.invalidResponse, "The server's answer to GET \(reply.path) is not the OpenWhisk API's list of packages: \(Reply.describe(error))", status: reply.status)
            }
        }
    }

    /// Deletes a package or a binding.
    ///
    /// `DELETE …/packages/{name}?force=`.
    /// - Parameter force: Delete the package's actions with it; without it, a package that still
    ///   holds actions is a `conflict`.
    /// - Returns: The package as it was.
    @discardableResult
    public func deletePackage(name: String, force: Bool = false) async throws -> Package {
        let entity = try entityPath(name, kind: "package")
        let query = force ? [("force", "true")] : []
        let reply = try await send("DELETE", segments("packages", entity), query: query)
        return try reply.decode(Package.self, what: "package")
    }

    /// The limits the namespace is held to, as the server applies them: OpenWhisk's
    /// `invocationsPerMinute`, `concurrentInvocations`, `firesPerMinute` (absent when unlimited)
    /// and the ranges of an action's limits (`minActionMemory`, `maxActionTimeout`, …).
    ///
    /// `GET …/limits`. The document is returned whole; ``NamespaceLimits`` decodes its throttles.
    public func limits() async throws -> JSONValue {
        let reply = try await send("GET", ["namespaces", namespace, "limits"])
        let document = try reply.decode(JSONValue.self, what: "limits")
        guard document.objectValue != nil else {
            throw ClientError(.invalidResponse, "The server's answer to GET \(reply.path) is not the OpenWhisk API's limits: it is not an object.", status: reply.status)
        }
        return document
    }

    /// A name of an entity that lives directly in a namespace (a package, trigger or rule):
    /// `NAME` or `/NAMESPACE/NAME`, never `PACKAGE/NAME`.
    func entityPath(_ name: String, kind: String) throws -> EntityPath {
        let entity = try EntityPath(name, defaultNamespace: namespace)
        guard entity.parts.count == 1 else {
            throw ClientError(.invalidArgument, "The \(kind) name \"\(name)\" is not valid: a \(kind) is not in a package; use NAME or /NAMESPACE/NAME.")
        }
        return entity
    }

    /// A name as OpenWhisk's `wsk` qualifies it for a sequence's components and a rule's trigger
    /// and action: `a` → `/NS/a`, `pkg/a` → `/NS/pkg/a` with the client's namespace (`_`, which
    /// the server resolves to the caller's, by default), `/ns/a` as it is.
    func qualifiedName(_ name: String) throws -> String {
        let entity = try EntityPath(name, defaultNamespace: namespace)
        return "/" + ([entity.namespace] + entity.parts).joined(separator: "/")
    }
}
