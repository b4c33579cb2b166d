public import TabulaWire

extension EntityName {
    /// Refuses a name that breaks the entity name rule with 400, naming what it was for.
    ///
    /// The platform's one check of names from requests and admin commands: paths, action and
    /// namespace creation, and the `invokers` annotation.
    package static func check(_ name: String, what: String) throws(PlatformError) {
        guard isValid(name) else {
            // The name is echoed escaped and shortened: it may be long or carry control characters.
            let shown = String(String(decoding: name.utf8.prefix(80), as: UTF8.self).unicodeScalars.map { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7F ? String($0) : $0.escaped(asASCII: true) }.joined().prefix(200))
            throw PlatformError(.badRequest, "The \(what) name \"\(shown)\(name.utf8.count > 80 ? "…" : "")\" is not valid: \(rule).")
        }
    }

    /// Refuses a name for a new namespace: the entity rule, and not `_`, which in a path means
    /// the caller's own namespace.
    package static func checkNewNamespace(_ name: String) throws(PlatformError) {
        try check(name, what: "namespace")
        guard !same(name, "_") else {
            throw PlatformError(.badRequest, "The namespace name \"_\" is reserved: in a path it means the caller's own namespace. Choose another name.")
        }
    }
}
