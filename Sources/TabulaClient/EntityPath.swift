import TabulaWire

/// Where an entity name points: OpenWhisk's `name`, `package/name`, `/namespace/name` or
/// `/namespace/package/name`.
///
/// A leading `/` makes the name fully qualified: its first part is the namespace and overrides
/// the client's.
struct EntityPath: Hashable {
    var namespace: String
    /// The name, after its package when it has one.
    var parts: [String]

    init(_ name: String, defaultNamespace: String) throws {
        let qualified = name.hasPrefix("/")
        let parts = name.split(separator: "/", omittingEmptySubsequences: false).dropFirst(qualified ? 1 : 0).map(String.init)
        let range = qualified ? 2...3 : 1...2
        guard range.contains(parts.count), parts.allSatisfy({ !$0.isEmpty }) else {
            throw ClientError(.invalidArgument, "The name \"\(name)\" is not valid: use NAME, PACKAGE/NAME, /NAMESPACE/NAME or /NAMESPACE/PACKAGE/NAME.")
        }
        // The server's rule, checked before a name becomes part of a URL path or is compared
        // with a certificate's: a name outside it can only be a mistake or an attempt to confuse.
        for part in parts where !EntityName.isValid(part) {
            throw ClientError(.invalidArgument, "The name \"\(name)\" is not valid: in each part, \(EntityName.rule).")
        }
        if qualified {
            namespace = parts[0]
            self.parts = Array(parts.dropFirst())
        } else {
            namespace = defaultNamespace
            self.parts = parts
        }
    }

    /// The name within its namespace: `name` or `package/name`.
    var name: String { parts.joined(separator: "/") }
}
