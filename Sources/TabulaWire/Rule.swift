/// A rule as the OpenWhisk REST API shows it: when its trigger fires, its action is invoked with
/// the event, while the rule is active.
public struct Rule: Codable, Sendable, Hashable {
    public var namespace: String
    public var name: String
    public var version: String
    public var publish: Bool
    public var trigger: EntityReference
    public var action: EntityReference
    /// `active` or `inactive`.
    public var status: String
    public var annotations: [KeyValue]
    /// Milliseconds since the Unix epoch.
    public var updated: Int64

    public init(namespace: String, name: String, version: String = "0.0.1", publish: Bool = false, trigger: EntityReference, action: EntityReference, status: String = Rule.active, annotations: [KeyValue] = [], updated: Int64 = 0) {
        self.namespace = namespace
        self.name = name
        self.version = version
        self.publish = publish
        self.trigger = trigger
        self.action = action
        self.status = status
        self.annotations = annotations
        self.updated = updated
    }

    public static let active = "active"
    public static let inactive = "inactive"
}

/// The body of `PUT …/rules/{name}`: the trigger and action as fully qualified names
/// (`/namespace/name`, `/namespace/package/name`), or names in the rule's namespace.
public struct RulePut: Codable, Sendable, Hashable {
    public var trigger: String?
    public var action: String?
    public var annotations: [KeyValue]?
    public var publish: Bool?
    public var status: String?
    public var version: String?

    public init(trigger: String? = nil, action: String? = nil, annotations: [KeyValue]? = nil) {
        self.trigger = trigger
        self.action = action
        self.annotations = annotations
    }
}
