/// An action as the OpenWhisk REST API shows it.
public struct Action: Codable, Sendable, Hashable {
    /// The code and how to run it.
    public struct Exec: Codable, Sendable, Hashable {
        /// `wasm`, the only kind Tabula runs.
        public var kind: String
        /// The module: base64 of a `.wasm` binary (`binary` true) or WAT text. Absent in listings
        /// and when fetched with `code=false`.
        public var code: String?
        /// The reactor entry point.
        public var main: String?
        public var binary: Bool?
        /// A sequence's actions, fully qualified (`/NS/NAME` or `/NS/PACKAGE/NAME`), in order:
        /// for `kind` `sequence` only.
        public var components: [String]?

        public init(kind: String = "wasm", code: String? = nil, main: String? = nil, binary: Bool? = nil, components: [String]? = nil) {
            self.kind = kind
            self.code = code
            self.main = main
            self.binary = binary
            self.components = components
        }
    }

    /// OpenWhisk's per-action limits.
    public struct Limits: Codable, Sendable, Hashable {
        /// Milliseconds.
        public var timeout: Int?
        /// MiB.
        public var memory: Int?
        /// MiB of logs.
        public var logs: Int?
        /// Invocations of this action that may run at once (its warm sandboxes).
        public var concurrency: Int?

        public init(timeout: Int? = nil, memory: Int? = nil, logs: Int? = nil, concurrency: Int? = nil) {
            self.timeout = timeout
            self.memory = memory
            self.logs = logs
            self.concurrency = concurrency
        }
    }

    public var namespace: String
    public var name: String
    public var version: String
    public var publish: Bool
    public var exec: Exec
    public var parameters: [KeyValue]
    public var annotations: [KeyValue]
    public var limits: Limits
    /// Milliseconds since the Unix epoch.
    public var updated: Int64

    public init(namespace: String, name: String, version: String = "0.0.1", publish: Bool = false, exec: Exec, parameters: [KeyValue] = [], annotations: [KeyValue] = [], limits: Limits = Limits(), updated: Int64 = 0) {
        self.namespace = namespace
        self.name = name
        self.version = version
        self.publish = publish
        self.exec = exec
        self.parameters = parameters
        self.annotations = annotations
        self.limits = limits
        self.updated = updated
    }
}

/// The body of `PUT …/actions/{name}`: every field optional, as OpenWhisk accepts it.
public struct ActionPut: Codable, Sendable, Hashable {
    public var exec: Action.Exec?
    public var parameters: [KeyValue]?
    public var annotations: [KeyValue]?
    public var limits: Action.Limits?
    public var publish: Bool?
    public var version: String?

    public init(exec: Action.Exec? = nil, parameters: [KeyValue]? = nil, annotations: [KeyValue]? = nil, limits: Action.Limits? = nil, publish: Bool? = nil) {
        self.exec = exec
        self.parameters = parameters
        self.annotations = annotations
        self.limits = limits
        self.publish = publish
    }
}
