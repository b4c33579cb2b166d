/// The limits a namespace's invocations and trigger fires are held to, as OpenWhisk's
/// `GET /namespaces/{namespace}/limits` shows them (its field names).
///
/// `nil` leaves a limit to the server's default; ``NamespaceLimits/unlimited`` holds nothing back.
public struct NamespaceLimits: Codable, Sendable, Hashable {
    /// Invocations (plain, confidential, web) one namespace may start per wall-clock minute.
    public var invocationsPerMinute: Int?
    /// Runs of one namespace's invocations in flight at once.
    public var concurrentInvocations: Int?
    /// Trigger fires one namespace may make per wall-clock minute.
    public var firesPerMinute: Int?

    public init(invocationsPerMinute: Int? = nil, concurrentInvocations: Int? = nil, firesPerMinute: Int? = nil) {
        self.invocationsPerMinute = invocationsPerMinute
        self.concurrentInvocations = concurrentInvocations
        self.firesPerMinute = firesPerMinute
    }

    /// No limit at all (benchmarks).
    public static let unlimited = NamespaceLimits(invocationsPerMinute: .max, concurrentInvocations: .max, firesPerMinute: .max)

    /// Each limit this one sets, else `defaults`'.
    public func over(_ defaults: NamespaceLimits) -> NamespaceLimits {
        NamespaceLimits(
            invocationsPerMinute: invocationsPerMinute ?? defaults.invocationsPerMinute,
            concurrentInvocations: concurrentInvocations ?? defaults.concurrentInvocations,
            firesPerMinute: firesPerMinute ?? defaults.firesPerMinute)
    }
}
