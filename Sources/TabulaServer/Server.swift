public import Hummingbird
public import Logging
public import Prometheus
public import TabulaPlatform

/// The HTTP server of `tabula serve`: the OpenWhisk API over a ``Platform``.
public enum Server {
    /// The router with every route and middleware.
    public static func router(platform: Platform, registry: PrometheusCollectorRegistry) -> Router<ServerContext> {
        let router = Router(context: ServerContext.self)
        router.add(middleware: RequestIDMiddleware(maxUploadSize: platform.configuration.maxBodySize))
        // Method and path only: bodies may carry what a function must keep secret.
        router.add(middleware: LogRequestsMiddleware(.info))
        Routes(platform: platform, registry: registry).register(on: router)
        return router
    }

    /// The application: the server and the platform as services, stopped by SIGINT or SIGTERM.
    ///
    /// - Parameter onRunning: called with the bound port once the server listens (useful with port 0).
    public static func application(
        platform: Platform, registry: PrometheusCollectorRegistry, host: String, port: Int, logger: Logger,
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        Application(
            router: router(platform: platform, registry: registry),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "tabula"),
            services: [platform],
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
            logger: logger)
    }
}
