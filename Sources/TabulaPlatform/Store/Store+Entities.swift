import Synchronization
public import TabulaWire

extension Store {
    /// The OpenWhisk entities kept as documents besides actions.
    package enum EntityKind: String, Sendable {
        case package
        case trigger
        case rule
    }

    /// A package, trigger or rule as a backend stores it.
    package struct EntityRow: Sendable {
        var document: String
        /// Whether other namespaces may see it (a shared package).
        var publish: Bool
        /// Milliseconds since the Unix epoch: listings show the newest first.
        var updated: Int64
        /// What a listing may select it by: a rule's trigger (`NAMESPACE/NAME`); empty for others.
        var link: String = ""
    }

    /// What deleting an entity did.
    package enum EntityDeletion: Sendable {
        /// It was deleted; with a package, the actions it held (their names in the namespace).
        case deleted(String, actions: [String])
        case notFound
        /// A package that still holds this many actions, left alone.
        case notEmpty(Int)
    }

    /// The package of a packaged action's stored name (`PACKAGE/NAME`); `nil` for one without.
    static func package(ofAction name: String) -> String? {
        name.firstIndex(of: "/").map { String(name[..<$0]) }
    }

    /// What a backend checks, in the transaction that writes a packaged action, of its package's
    /// row (its `link`, `nil` when there is no package): it exists and binds nothing.
    static func checkPackage(link: String?) throws(PlatformError) {
        guard let link else { throw PlatformError(.notFound, PlatformError.doesNotExist) }
        guard link == Package.plainLink else { throw Platform.bindingRefusal }
    }

    /// A document that is an OpenWhisk entity: a package, trigger or rule.
    package protocol Entity: Codable, Sendable {
        static var kind: EntityKind { get }
        /// The largest document stored, in bytes (OpenWhisk's 1 MB for parameters and annotations).
        static var maxDocumentSize: Int { get }
        var name: String { get }
        var version: String { get set }
        var publish: Bool { get }
        var updated: Int64 { get set }
        /// See ``EntityRow/link``.
        var link: String { get }
    }

    /// Creates or (with `overwrite`) updates an entity: `revise` gets the stored one (`nil` when
    /// there is none) and returns what to store; its version and time are set here.
    package func put<E: Entity>(
        _ type: E.Type, namespace: String, name: String, overwrite: Bool, revise: @escaping @Sendable (E?) throws -> E
    ) async throws -> E {
        let stored = Mutex<E?>(nil)
        try await backend.putEntity(E.kind, namespace: namespace, name: name) { previous in
            let old = try previous.map { try Self.decode(E.self, $0) }
            if old != nil && !overwrite { throw PlatformError(.conflict, PlatformError.alreadyExists) }
            var entity = try revise(old)
            if let old { entity.version = Self.nextVersion(old.version) }
            entity.updated = Self.now()
            let document = Self.encode(entity)
            guard document.utf8.count <= E.maxDocumentSize else {
                throw PlatformError(.payloadTooLarge, "The \(E.kind.rawValue) would be \(document.utf8.count) bytes, larger than allowed: \(E.maxDocumentSize) bytes.")
            }
            stored.withLock { $0 = entity }
            return EntityRow(document: document, publish: entity.publish, updated: entity.updated, link: entity.link)
        }
        guard let entity = stored.withLock({ $0 }) else { throw PlatformError(.internalError, "the \(E.kind.rawValue) was not stored") }
        return entity
    }

    package func entity<E: Entity>(_ type: E.Type, namespace: String, name: String) async throws -> E? {
        try await backend.entity(E.kind, namespace: namespace, name: name).map { try Self.decode(E.self, $0) }
    }

    /// A page of a namespace's entities, most recently updated first.
    /// - Parameter link: only those whose ``Entity/link`` is this.
    package func entities<E: Entity>(
        _ type: E.Type, namespace: String, publishedOnly: Bool, link: String? = nil, limit: Int, skip: Int, byteLimit: Int = .max
    ) async throws -> [E] {
        try await backend.entityDocuments(
            E.kind, namespace: namespace, publishedOnly: publishedOnly, link: link, limit: limit, skip: skip, page: DocumentPage(byteLimit: byteLimit)
        ).map { try Self.decode(E.self, $0) }
    }

    package func entityCount<E: Entity>(_ type: E.Type, namespace: String, publishedOnly: Bool, link: String? = nil) async throws -> Int {
        try await backend.entityCount(E.kind, namespace: namespace, publishedOnly: publishedOnly, link: link)
    }

    /// Deletes an entity (a package's actions with it when `force`).
    package func delete<E: Entity>(_ type: E.Type, namespace: String, name: String, force: Bool = false) async throws -> (E, actions: [String])? {
        switch try await backend.deleteEntity(E.kind, namespace: namespace, name: name, force: force) {
        case .notFound: return nil
        case .deleted(let document, let actions): return (try Self.decode(E.self, document), actions)
        case .notEmpty(let count):
            throw PlatformError(.conflict, "Package not empty (contains \(count) \(count == 1 ? "entity" : "entities")). Set force param or delete package contents.")
        }
    }
}

extension Package: Store.Entity {
    package static var kind: Store.EntityKind { .package }
    package static var maxDocumentSize: Int { 1 << 20 }
    /// A binding's link is the package it binds, so that listings can leave bindings out.
    package var link: String { binding.isBinding ? "\(binding.namespace ?? "")/\(binding.name ?? "")" : Self.plainLink }
    /// The link of a package that binds nothing.
    package static let plainLink = ""
}

extension Trigger: Store.Entity {
    package static var kind: Store.EntityKind { .trigger }
    package static var maxDocumentSize: Int { 1 << 20 }
    package var link: String { "" }
}

extension Rule: Store.Entity {
    package static var kind: Store.EntityKind { .rule }
    /// Small: a trigger's rules are read whenever it fires.
    package static var maxDocumentSize: Int { 64 << 10 }
    package var link: String { "\(trigger.path)/\(trigger.name)" }
}
