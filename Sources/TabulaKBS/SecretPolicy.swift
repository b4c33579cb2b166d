/// Which functions may read a tenant's secret: the manifest entry a secret is stored with.
public struct SecretPolicy: Codable, Sendable, Hashable {
    /// A function that may read the secret: an action of the secret's namespace, and, when
    /// `digest` is given, only while it runs that module (hex SHA-256).
    public struct Reader: Codable, Sendable, Hashable {
        public var action: String
        public var digest: String?

        public init(action: String, digest: String? = nil) {
            self.action = action
            self.digest = digest?.lowercased()
        }

        /// Parses `NAME` or `NAME@DIGEST` (as `tabula secret set --for` takes it).
        public init(parsing text: String) throws(BrokerError) {
            let parts = text.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard let name = parts.first, !name.isEmpty else {
                throw BrokerError(.invalidRequest, "a reader is an action name, optionally followed by @ and the hex SHA-256 of its module")
            }
            if parts.count == 2 {
                let digest = parts[1].lowercased()
                guard digest.count == 64, digest.allSatisfy(\.isHexDigit) else {
                    throw BrokerError(.invalidRequest, "the module digest after @ in \(text) must be 64 hex digits (SHA-256)")
                }
                self.init(action: name, digest: digest)
            } else {
                self.init(action: name)
            }
        }

        /// Whether a function named `action` running the module `digest` (hex) is this reader.
        public func admits(action: String, digest: String) -> Bool {
            self.action == action && (self.digest == nil || self.digest == digest.lowercased())
        }
    }

    public var namespace: String
    public var name: String
    public var readers: [Reader]
    /// When it was last set (milliseconds since 1970).
    public var updated: Int64

    public init(namespace: String, name: String, readers: [Reader], updated: Int64) {
        self.namespace = namespace
        self.name = name
        self.readers = readers
        self.updated = updated
    }

    /// Secret names become environment variables (`TABULA_SECRET_<NAME>`): upper-case ASCII
    /// letters, digits and `_`, starting with a letter, at most 64 (so that two names never make
    /// one variable).
    public static func checkName(_ name: String) throws(BrokerError) {
        guard (1...64).contains(name.utf8.count), let first = name.utf8.first, (0x41...0x5A).contains(first),
              name.utf8.allSatisfy({ (0x41...0x5A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x5F })
        else {
            throw BrokerError(.invalidRequest, "a secret's name is 1 to 64 upper-case ASCII letters, digits and _, starting with a letter (it becomes TABULA_SECRET_<NAME>)")
        }
    }

    /// The environment variable a reader finds the secret in.
    public static func environmentName(_ name: String) -> String { "TABULA_SECRET_\(name)" }

    /// The most secrets one namespace may have.
    public static let maximumPerNamespace = 100

    /// The largest secret value accepted (bytes).
    public static let maximumValueSize = 64 * 1024
}
