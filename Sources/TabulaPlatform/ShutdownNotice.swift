public import ServiceLifecycle

/// A service that tells the platform the moment a graceful shutdown begins (SIGTERM, SIGINT).
///
/// Put it after the HTTP application in the service group that handles the signals: a group stops
/// its services in reverse order, so this one hears first and the platform's grace period
/// (``Platform/beginShutdown()``) runs while the server drains its requests, instead of starting
/// only after them.
public struct ShutdownNotice: Service {
    let platform: Platform

    public init(platform: Platform) {
        self.platform = platform
    }

    public func run() async throws {
        do {
            try await gracefulShutdown()
        } catch {
            return  // cancelled: the group is going away without a graceful shutdown
        }
        platform.beginShutdown()
    }
}
