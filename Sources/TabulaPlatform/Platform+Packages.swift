import Foundation
import TabulaEnclave
public import TabulaWire

extension Platform {
    // MARK: Action names

    /// An action's name within its namespace: `NAME`, or `PACKAGE/NAME` for one in a package.
    ///
    /// The store keeps a packaged action under `PACKAGE/NAME`; the API shows it as OpenWhisk does,
    /// with namespace `NS/PACKAGE` and name `NAME` (see ``shown(_:)``).
    struct ActionPath: Sendable, Hashable {
        var package: String?
        var name: String

        /// Checks each part of `path` against the entity name rule (400 otherwise).
        init(_ path: String) throws(PlatformError) {
            let parts = path.split(separator: "/", omittingEmptySubsequences: false)
            switch parts.count {
            case 1:
                try EntityName.check(path, what: "action")
                name = path
            case 2:
                try EntityName.check(String(parts[0]), what: "package")
                try EntityName.check(String(parts[1]), what: "action")
                package = String(parts[0])
                name = String(parts[1])
            default:
                throw PlatformError(.badRequest, "The action name \"\(path.prefix(200))\" is not valid: name an action as NAME or PACKAGE/NAME.")
            }
        }

        var stored: String { package.map { "\($0)/\(name)" } ?? name }
    }

    /// An action's document as the API shows it: a packaged action's namespace is `NS/PACKAGE`.
    static func shown(_ action: Action) -> Action {
        guard let slash = action.name.firstIndex(of: "/") else { return action }
        var shown = action
        shown.namespace = "\(action.namespace)/\(action.name[..<slash])"
        shown.name = String(action.name[action.name.index(after: slash)...])
        return shown
    }

    /// The path an action is invoked at, without the leading slash: `NS/NAME` or `NS/PACKAGE/NAME`.
    static func path(of action: Action) -> String {
        "\(action.namespace)/\(action.name)"
    }

    // MARK: Packages

    /// Creates or updates a package or a binding. A binding names a package (not a binding) that
    /// exists, in this namespace or published by another (`_` is this namespace).
    public func putPackage(namespace: String, name: String, body: PackagePut, overwrite: Bool) async throws -> Package {
        try refuseWhenStopping()
        try EntityName.check(name, what: "package")
        guard name != Self.defaultPackage else {
            throw PlatformError(.badRequest, "Package name '\(Self.defaultPackage)' is reserved.")
        }
        try await checkRoom(Package.self, namespace: namespace, name: name)
        var requested = body.binding
        if var named = requested, named.isBinding {
            if named.namespace == "_" { named.namespace = namespace }
            _ = try await boundPackage(named, from: namespace)
            requested = named
        }
        let binding = requested
        if let annotations = body.annotations { try Self.checkPackageAnnotations(annotations) }
        let stored = try await store.put(Package.self, namespace: namespace, name: name, overwrite: overwrite) { previous in
            var package = previous ?? Package(namespace: namespace, name: name)
            if let binding {
                if previous != nil, binding.isBinding, !package.binding.isBinding {
                    throw PlatformError(.conflict, "Resource is a package and cannot be converted into a binding.")
                }
                // `{}` on a binding names nothing: it stays what it binds.
                if previous == nil || binding.isBinding { package.binding = binding.isBinding ? binding : Package.Binding() }
            }
            if let parameters = body.parameters { package.parameters = parameters }
            if let annotations = body.annotations { package.annotations = annotations }
            // OpenWhisk's own annotation names the bound package; a client's is replaced.
            package.annotations.removeAll { $0.key == "binding" }
            if package.binding.isBinding {
                package.annotations.append(KeyValue(key: "binding", value: [
                    "namespace": .string(package.binding.namespace ?? ""), "name": .string(package.binding.name ?? ""),
                ]))
            }
            if let publish = body.publish { package.publish = publish }
            return package
        }
        logger.info("package stored", metadata: ["namespace": "\(namespace)", "package": "\(name)"])
        return stored
    }

    /// The package name that stands for "no package" in web action paths: reserved.
    static let defaultPackage = "default"

    /// A package, with its actions listed. A binding shows its own fields, the bound package's
    /// parameters under its own, and the bound package's actions.
    ///
    /// - Parameter caller: another namespace may read only a published package (403 otherwise,
    ///   also when there is none, so that existence does not leak), never a binding.
    public func package(namespace: String, name: String, caller: String) async throws -> Package {
        try EntityName.check(name, what: "package")
        let own = EntityName.same(namespace, caller)
        guard var package = try await store.entity(Package.self, namespace: namespace, name: name) else {
            throw own ? PlatformError(.notFound, PlatformError.doesNotExist) : PlatformError.notAuthorized("\(namespace)/\(name)")
        }
        guard own || (package.publish && !package.binding.isBinding) else { throw PlatformError.notAuthorized("\(namespace)/\(name)") }
        var source = (namespace: namespace, name: name)
        if package.binding.isBinding {
            let bound = try await boundPackage(package.binding, from: namespace)
            source = (bound.namespace, bound.name)
            package.parameters = Self.merged(bound.parameters, package.parameters)
        }
        let actions = try await store.actions(namespace: source.namespace, package: source.name, limit: 200, skip: 0, byteLimit: configuration.listingByteLimit)
        let ownActions = EntityName.same(source.namespace, caller)
        package.actions = actions.map { action in
            let shown = Self.shown(action)
            return Package.Member(name: shown.name, version: shown.version, annotations: ownActions ? shown.annotations : Self.redacted(shown.annotations))
        }
        package.feeds = []
        return package
    }

    /// A page of a package's actions (`…/actions/PACKAGE/`); a binding's are the bound package's,
    /// shown as another namespace may see them.
    public func packageActions(namespace: String, package name: String, limit: Int, skip: Int) async throws -> [Action] {
        try EntityName.check(name, what: "package")
        guard let package = try await store.entity(Package.self, namespace: namespace, name: name) else {
            throw PlatformError(.notFound, PlatformError.doesNotExist)
        }
        guard package.binding.isBinding else {
            return try await actions(namespace: namespace, package: name, limit: limit, skip: skip)
        }
        let bound = try await boundPackage(package.binding, from: namespace)
        let actions = try await actions(namespace: bound.namespace, package: bound.name, limit: limit, skip: skip)
        guard !EntityName.same(bound.namespace, namespace) else { return actions }
        return actions.map { action in
            var shown = action
            shown.annotations = Self.redacted(action.annotations)
            return shown
        }
    }

    /// A page of a namespace's packages: another namespace's published packages only (never its
    /// bindings).
    public func packages(namespace: String, caller: String, limit: Int, skip: Int) async throws -> [Package] {
        let own = EntityName.same(namespace, caller)
        return try await store.entities(
            Package.self, namespace: namespace, publishedOnly: !own, link: own ? nil : Package.plainLink, limit: limit, skip: skip,
            byteLimit: configuration.listingByteLimit)
    }

    public func packageCount(namespace: String, caller: String) async throws -> Int {
        let own = EntityName.same(namespace, caller)
        return try await store.entityCount(Package.self, namespace: namespace, publishedOnly: !own, link: own ? nil : Package.plainLink)
    }

    /// Deletes a package; one that holds actions only with `force`, which deletes them too.
    public func deletePackage(namespace: String, name: String, force: Bool) async throws -> Package {
        try EntityName.check(name, what: "package")
        guard let (package, actions) = try await store.delete(Package.self, namespace: namespace, name: name, force: force) else {
            throw PlatformError(.notFound, PlatformError.doesNotExist)
        }
        for action in actions {
            let key = FunctionName(namespace: namespace, name: action)
            actionCache.withLock { _ = $0.removeValue(forKey: key) }
            pool.retire(key)
        }
        logger.info("package deleted", metadata: ["namespace": "\(namespace)", "package": "\(name)", "actions": "\(actions.count)"])
        return package
    }

    /// The package a binding refers to: it exists, is no binding itself, and is this namespace's
    /// or published. OpenWhisk's answers: 400 for a missing package of this namespace, 403 for
    /// another namespace's that is missing or not shared, 400 for a binding.
    func boundPackage(_ binding: Package.Binding, from namespace: String) async throws -> Package {
        let boundNamespace = binding.namespace ?? ""
        let boundName = binding.name ?? ""
        let own = EntityName.same(boundNamespace, namespace)
        guard EntityName.isValid(boundNamespace), EntityName.isValid(boundName),
              let package = try await store.entity(Package.self, namespace: boundNamespace, name: boundName)
        else {
            throw own ? PlatformError(.badRequest, "Binding references a package that does not exist.") : PlatformError.notAuthorized("\(boundNamespace)/\(boundName)")
        }
        guard own || package.publish else { throw PlatformError.notAuthorized("\(boundNamespace)/\(boundName)") }
        guard !package.binding.isBinding else {
            throw PlatformError(.badRequest, "Cannot bind to another package binding.")
        }
        return package
    }

    /// Annotations as another namespace may see them: a web action's `require-whisk-auth` secret
    /// is its owner's alone (`true` says one is required).
    static func redacted(_ annotations: [KeyValue]) -> [KeyValue] {
        annotations.map { annotation in
            guard annotation.key == "require-whisk-auth", annotation.value != .bool(false) else { return annotation }
            return KeyValue(key: annotation.key, value: true)
        }
    }

    /// Parameters `over` laid over `under`: a key of `over` wins (OpenWhisk's `++`).
    static func merged(_ under: [KeyValue], _ over: [KeyValue]) -> [KeyValue] {
        var result = under.filter { kept in !over.contains { $0.key == kept.key } }
        result.append(contentsOf: over)
        return result
    }

    private static func checkPackageAnnotations(_ annotations: [KeyValue]) throws(PlatformError) {
        // A package's annotations are documentation for people: no policy lives there.
        if annotations.contains(where: { $0.key == "invokers" || $0.key == "requireConfidential" }) {
            throw PlatformError(.badRequest, "A package cannot carry a function's policy annotations (invokers, requireConfidential): annotate its actions.")
        }
    }

    // MARK: Resolving an invocation's action

    /// The action an invocation names, and the default parameters it runs with.
    struct Target: Sendable {
        let deployed: Deployed
        /// The package's (or binding's) parameters under the action's own: OpenWhisk's order,
        /// package < binding < action, with the invocation's on top.
        let parameters: [KeyValue]
        /// The package path the request named when it went through a binding (`NS/BINDING`).
        var binding: String?

        var defaults: [String: JSONValue] { parameters.object }
    }

    /// Resolves `NAME` or `PACKAGE/NAME` in `namespace`, following a binding to the package it
    /// binds (404 when any part is missing).
    ///
    /// - Parameter user: who uses the name. A binding is its namespace's alone (its parameters are
    ///   often credentials): followed for another namespace, it is 403, as in OpenWhisk.
    func target(namespace: String, name: String, as user: String) async throws -> Target {
        let path = try ActionPath(name)
        guard let packageName = path.package else {
            let deployed = try await deployedAction(namespace: namespace, name: name)
            return Target(deployed: deployed, parameters: deployed.stored.action.parameters)
        }
        guard let package = try await store.entity(Package.self, namespace: namespace, name: packageName) else {
            throw PlatformError(.notFound, PlatformError.doesNotExist)
        }
        var parameters = package.parameters
        var owner = namespace
        var source = packageName
        var binding: String?
        if package.binding.isBinding {
            guard EntityName.same(user, namespace) else { throw PlatformError.notAuthorized("\(namespace)/\(packageName)") }
            let bound = try await boundPackage(package.binding, from: namespace)
            parameters = Self.merged(bound.parameters, parameters)
            owner = bound.namespace
            source = bound.name
            binding = "\(namespace)/\(packageName)"
        }
        let deployed = try await deployedAction(namespace: owner, name: "\(source)/\(path.name)")
        return Target(deployed: deployed, parameters: Self.merged(parameters, deployed.stored.action.parameters), binding: binding)
    }
}
