/// A trigger as the OpenWhisk REST API shows it: a named channel of events that rules connect to
/// actions.
public struct Trigger: Codable, Sendable, Hashable {
    /// A rule as a trigger's document lists it, under the rule's fully qualified name.
    public struct RuleSummary: Codable, Sendable, Hashable {
        public var action: EntityReference
        /// `active` or `inactive`.
        public var status: String

        public init(action: EntityReference, status: String) {
            self.action = action
            self.status = status
        }
    }

    public var namespace: String
    public var name: String
    public var version: String
    public var publish: Bool
    public var parameters: [KeyValue]
    public var annotations: [KeyValue]
    /// OpenWhisk keeps `{}` here.
    public var limits: [String: JSONValue]
    /// The rules that name this trigger; absent when none does.
    public var rules: [String: RuleSummary]?
    /// Milliseconds since the Unix epoch.
    public var updated: Int64

    public init(namespace: String, name: String, version: String = "0.0.1", publish: Bool = false, parameters: [KeyValue] = [], annotations: [KeyValue] = [], updated: Int64 = 0) {
        self.namespace = namespace
        self.name = name
        self.version = version
        self.publish = publish
        self.parameters = parameters
        self.annotations = annotations
        self.limits = [:]
        self.updated = updated
    }
}

/// The body of `PUT …/triggers/{name}`.
public struct TriggerPut: Codable, Sendable, Hashable {
    public var parameters: [KeyValue]?
    public var annotations: [KeyValue]?
    public var publish: Bool?
    public var version: String?

    public init(parameters: [KeyValue]? = nil, annotations: [KeyValue]? = nil, publish: Bool? = nil) {
        self.parameters = parameters
        self.annotations = annotations
        self.publish = publish
    }
}

/// An entity named by its path (`namespace` or `namespace/package`) and name, as rules show their
/// trigger and action.
public struct EntityReference: Codable, Sendable, Hashable {
    public var name: String
    public var path: String

    public init(name: String, path: String) {
        self.name = name
        self.path = path
    }

    /// `/path/name`, how a rule's body names it.
    public var fullyQualified: String { "/\(path)/\(name)" }
}
