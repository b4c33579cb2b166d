public import Hummingbird

/// The per-request context: who is calling, and the request id that answers and logs carry.
public struct ServerContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The namespace the credentials opened; set by ``AuthenticationMiddleware``.
    public var namespace: String?
    /// 32 hex digits, sent back as `X-Request-ID` and as `code` in error bodies.
    public var requestID: String
    /// Set from the platform configuration by ``RequestIDMiddleware``.
    public var maxUploadSize: Int

    public init(source: Source) {
        self.coreContext = .init(source: source)
        self.namespace = nil
        self.requestID = ""
        self.maxUploadSize = 48 << 20
    }
}
