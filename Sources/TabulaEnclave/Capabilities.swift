/// What a function may reach beyond its own memory, granted by its policy.
///
/// The default is nothing: no clock and no randomness, so that a function's output depends only on
/// its input unless its owner decides otherwise.
public struct Capabilities: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// `clock_time_get` and `clock_res_get` (real-time and monotonic clocks).
    public static let clock = Capabilities(rawValue: 1 << 0)
    /// `random_get`, from the operating system's secure generator.
    public static let random = Capabilities(rawValue: 1 << 1)
}
