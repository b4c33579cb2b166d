public import TabulaWire

extension Platform {
    /// The blob that holds a namespace's own limits (``NamespaceLimits`` JSON), named by the
    /// namespace's identity: a namespace deleted and created again starts from the defaults.
    static func limitsBlob(identity: String) -> String { "limits/\(identity)" }

    /// A namespace's limits: its own where set (`tabula namespace limits`), else the server's.
    public func limits(namespace: String) async throws -> NamespaceLimits {
        if let cached = throttle.cachedLimits(of: namespace) { return cached }
        var limits = throttle.defaults
        // Limits that do not decode (the store is not trusted to be well-formed) leave the defaults.
        if let own = (try? await store.namespaceLimits(namespace)) ?? nil {
            limits = own.over(throttle.defaults)
        }
        throttle.remember(limits, of: namespace)
        return limits
    }

    /// Sets a namespace's own limits (`nil` fields: the server's default); an admin operation.
    public func setLimits(_ limits: NamespaceLimits, namespace: String) async throws {
        try await store.setNamespaceLimits(limits, namespace: namespace)
    }

    /// Counts an invocation by `subject` against its per-minute limit (429 beyond it), having read
    /// its limits, which the run's concurrency check then uses.
    func admitInvocation(by subject: String) async throws {
        _ = try await limits(namespace: subject)
        try throttle.invoke(namespace: subject)
    }
}

extension Store {
    /// Writes a namespace's own limits (see ``Platform/limits(namespace:)``); the server reads them
    /// within seconds.
    public func setNamespaceLimits(_ limits: NamespaceLimits, namespace: String) async throws {
        guard let identity = try await namespaceIdentity(namespace) else {
            throw PlatformError(.notFound, "The namespace \(namespace) does not exist.")
        }
        let name = Platform.limitsBlob(identity: identity)
        let bytes = JSONValue.bytes(limits)
        for _ in 0..<8 {
            let current = try await backend.blob(name)
            if try await backend.putBlob(name, bytes: bytes, replacing: current?.version) != nil { return }
        }
        throw PlatformError(.conflict, "The limits of \(namespace) are being changed by someone else: try again.")
    }

    /// A namespace's own limits, as set; `nil` when none are.
    ///
    /// - Throws: when the stored limits do not decode (the store is not trusted to be well-formed:
    ///   the caller then applies the defaults, see ``Platform/limits(namespace:)``).
    public func namespaceLimits(_ namespace: String) async throws -> NamespaceLimits? {
        guard let identity = try await namespaceIdentity(namespace) else { return nil }
        return try await backend.blob(Platform.limitsBlob(identity: identity)).map { try JSONValue.decode(NamespaceLimits.self, from: $0.bytes) }
    }
}

extension Platform {
    /// What `GET /namespaces/{namespace}/limits` answers: the namespace's limits, and the bounds of
    /// an action's limits, in OpenWhisk's fields.
    public func limitsDocument(namespace: String) async throws -> JSONValue {
        let limits = try await limits(namespace: namespace)
        var document: [String: JSONValue] = [
            "minActionMemory": .integer(Int64(Self.limitRanges.memory.lowerBound)), "maxActionMemory": .integer(Int64(Self.limitRanges.memory.upperBound)),
            "minActionLogs": .integer(Int64(Self.limitRanges.logs.lowerBound)), "maxActionLogs": .integer(Int64(Self.limitRanges.logs.upperBound)),
            "minActionTimeout": .integer(Int64(Self.limitRanges.timeout.lowerBound)), "maxActionTimeout": .integer(Int64(Self.limitRanges.timeout.upperBound)),
            "minActionConcurrency": .integer(Int64(Self.limitRanges.concurrency.lowerBound)),
            "maxActionConcurrency": .integer(Int64(Self.limitRanges.concurrency.upperBound)),
            "maxParameterSize": .string("\(configuration.maxBodySize >> 20) MB"),
        ]
        // An unlimited one is left out, as OpenWhisk leaves out what is not set.
        func add(_ key: String, _ value: Int?) {
            if let value, value < .max { document[key] = .integer(Int64(value)) }
        }
        add("invocationsPerMinute", limits.invocationsPerMinute)
        add("concurrentInvocations", limits.concurrentInvocations)
        add("firesPerMinute", limits.firesPerMinute)
        add("maxActionInstances", limits.concurrentInvocations)
        return .object(document)
    }
}
