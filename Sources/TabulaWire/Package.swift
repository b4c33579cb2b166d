/// A package as the OpenWhisk REST API shows it: a named group of actions with shared default
/// parameters, or a binding to another package (possibly another namespace's shared one).
public struct Package: Codable, Sendable, Hashable {
    /// The package a binding refers to. OpenWhisk writes `{}` for a package that is no binding.
    public struct Binding: Codable, Sendable, Hashable {
        public var namespace: String?
        public var name: String?

        public init(namespace: String? = nil, name: String? = nil) {
            self.namespace = namespace
            self.name = name
        }

        /// Whether this names a package (`{}` does not).
        public var isBinding: Bool { namespace != nil && name != nil }
    }

    /// An action or feed as a package's document lists it.
    public struct Member: Codable, Sendable, Hashable {
        public var name: String
        public var version: String
        public var annotations: [KeyValue]

        public init(name: String, version: String, annotations: [KeyValue]) {
            self.name = name
            self.version = version
            self.annotations = annotations
        }
    }

    public var namespace: String
    public var name: String
    public var version: String
    public var publish: Bool
    public var binding: Binding
    public var parameters: [KeyValue]
    public var annotations: [KeyValue]
    /// Milliseconds since the Unix epoch.
    public var updated: Int64
    /// The package's actions: in `GET` of one package only.
    public var actions: [Member]?
    /// Its feeds (Tabula has none): in `GET` of one package only.
    public var feeds: [Member]?

    public init(namespace: String, name: String, version: String = "0.0.1", publish: Bool = false, binding: Binding = Binding(), parameters: [KeyValue] = [], annotations: [KeyValue] = [], updated: Int64 = 0) {
        self.namespace = namespace
        self.name = name
        self.version = version
        self.publish = publish
        self.binding = binding
        self.parameters = parameters
        self.annotations = annotations
        self.updated = updated
    }
}

/// The body of `PUT …/packages/{name}`: every field optional, as OpenWhisk accepts it.
public struct PackagePut: Codable, Sendable, Hashable {
    public var binding: Package.Binding?
    public var parameters: [KeyValue]?
    public var annotations: [KeyValue]?
    public var publish: Bool?
    public var version: String?

    public init(binding: Package.Binding? = nil, parameters: [KeyValue]? = nil, annotations: [KeyValue]? = nil, publish: Bool? = nil) {
        self.binding = binding
        self.parameters = parameters
        self.annotations = annotations
        self.publish = publish
    }
}
