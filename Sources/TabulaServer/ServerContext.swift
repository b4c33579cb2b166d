public import Hummingbird

/// The per-request context: who is calling, and how large a body may be.
///
/// Hummingbird's request id (`id`) is the one answers carry as `X-Request-ID` and error bodies as `code`.
public struct ServerContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The namespace the credentials opened; set by ``AuthenticationMiddleware``.
    public var namespace: String?
    /// Set from the platform configuration by ``RequestIDMiddleware``.
    public var maxUploadSize: Int

    public init(source: Source) {
        self.coreContext = .init(source: source)
        self.namespace = nil
        self.maxUploadSize = 48 << 20
    }
}
