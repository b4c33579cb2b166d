public import TabulaWire

/// An action's default parameters and an invocation's, merged the way OpenWhisk merges them: the
/// invocation's win, unless the action is annotated `final`, which forbids overriding a default
/// that has a value (one that is `null` may still be set).
///
/// One rule for both paths: the control plane applies it to plain invocations (to refuse before it
/// acknowledges), the enclave to sealed ones (whose parameters only it can read).
public enum Parameters {
    /// OpenWhisk's message for an invocation that overrides a `final` default.
    public static let finalViolation = "Request defines parameters that are not allowed (e.g., reserved properties)."

    /// The merged parameters, or `nil` when `final` forbids overriding a default that `given` sets.
    public static func merge(_ given: [String: JSONValue], defaults: [String: JSONValue], final: Bool) -> [String: JSONValue]? {
        // OpenWhisk's immutable parameters are the defaults with a value: a null one may be set.
        if final, given.keys.contains(where: { defaults[$0] != nil && defaults[$0] != .null }) { return nil }
        return defaults.merging(given) { _, invocation in invocation }
    }
}
