/// What a function may reach beyond its own memory, granted by its policy.
///
/// The default, ``default``, is both the clocks and secure randomness: ordinary programs need them
/// (Rust's std seeds every `HashMap` from `random_get`, and traps when it fails). A policy may
/// deny either. Initialisation never gets them, whatever the policy, so that nothing time- or
/// random-dependent is frozen into the snapshot that every invocation starts from.
public struct Capabilities: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// `clock_time_get` and `clock_res_get` (real-time and monotonic clocks).
    public static let clock = Capabilities(rawValue: 1 << 0)
    /// `random_get`, from the operating system's secure generator.
    public static let random = Capabilities(rawValue: 1 << 1)

    /// What a function gets when its policy does not say: the clocks and randomness. The one place
    /// that default is decided; the control plane and the CLI use it.
    public static let `default`: Capabilities = [.clock, .random]

    /// The resolution of the clocks, in nanoseconds: times are rounded down to a multiple of it,
    /// and `clock_res_get` reports it. Coarse enough to blunt timing measurements of the host
    /// from inside a sandbox, fine enough to time requests.
    public static let clockResolutionNanoseconds: UInt64 = 1_000_000
}
