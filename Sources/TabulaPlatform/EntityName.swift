/// OpenWhisk's rules for entity names (namespaces, actions).
enum EntityName {
    /// Letters, digits, `_`, `@`, `.`, `-` and inner spaces; at most 256 characters; not starting
    /// with a punctuation mark.
    static func validate(_ name: String, what: String) throws(PlatformError) {
        let allowed: (Character) -> Bool = { $0.isLetter || $0.isNumber || "_@.- ".contains($0) }
        guard !name.isEmpty, name.count <= 256, name.allSatisfy(allowed),
              let first = name.first, first.isLetter || first.isNumber || first == "_",
              name.last != " "
        else {
            throw PlatformError(.badRequest, "The \(what) name \"\(name)\" is not valid: use at most 256 letters, digits, '_', '@', '.', '-' or inner spaces, starting with a letter, a digit or '_'.")
        }
    }
}
