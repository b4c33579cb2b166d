public import TabulaWire

extension Platform {
    /// An action exported to the web (`web-export: true`), as `/api/v1/web/NS/PACKAGE/NAME` names
    /// it, and how its annotations say to serve it.
    public struct WebAction: Sendable {
        /// The namespace the path names: the action runs as its own, is charged to it, and its
        /// record is kept there.
        public let namespace: String
        /// `NAME` or `PACKAGE/NAME` within ``namespace`` (a binding's name when the path went
        /// through one).
        public let name: String
        /// `raw-http`: the body and query reach the action as they came.
        public let raw: Bool
        /// `require-whisk-auth`: `true` (any valid credentials), a string or number (the
        /// `X-Require-Whisk-Auth` header must equal it), or `nil`.
        public let requireAuthentication: JSONValue?
        /// `web-custom-options`: the action answers OPTIONS itself, without default CORS headers.
        public let customOptions: Bool
    }

    /// The web action at `namespace/package/name` (`package` `default` for none). Every failure
    /// to find one, including an action that is not exported, is OpenWhisk's plain 404.
    public func webAction(namespace: String, package: String, name: String) async throws -> WebAction {
        let notFound = PlatformError(.notFound, PlatformError.doesNotExist)
        guard EntityName.isValid(namespace), EntityName.isValid(package), EntityName.isValid(name),
              try await store.namespaceIdentity(namespace) != nil
        else { throw notFound }
        let path = package == Self.defaultPackage ? name : "\(package)/\(name)"
        let target: Target
        do {
            target = try await self.target(namespace: namespace, name: path, as: namespace)
        } catch let error as PlatformError where [.notFound, .forbidden, .badRequest].contains(error.code) {
            throw notFound
        }
        let annotations = target.deployed.stored.action.annotations
        guard annotations["web-export"] == true else { throw notFound }
        let auth = annotations["require-whisk-auth"]
        return WebAction(
            namespace: namespace, name: path, raw: annotations["raw-http"] == true,
            requireAuthentication: auth == false ? nil : auth, customOptions: annotations["web-custom-options"] == true)
    }
}
