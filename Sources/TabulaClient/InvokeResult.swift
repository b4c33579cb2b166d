public import TabulaWire

/// What an invocation answered.
///
/// A blocking invocation answers with the outcome once the function ends: only the result
/// (`result=true`) or the whole activation record. A function that failed, with an application
/// error, a developer error or a platform error, is an outcome too, not a ``ClientError``: its
/// record says why. A non-blocking invocation, or a blocking one that outlasted the server's
/// wait, answers only with the activation id; fetch the record later with
/// ``Client/activation(id:)``.
public enum InvokeResult: Sendable, Hashable {
    /// The function's result (blocking, `result=true`). `failed` is true when the function
    /// failed (HTTP 502, or 500 for a platform error); `activationID` is `nil` when the server did
    /// not send `x-openwhisk-activation-id`.
    case result(JSONValue, activationID: String?, failed: Bool)
    /// The activation record (blocking, `result=false`).
    case activation(Activation)
    /// The invocation was accepted and runs, or still runs, in the background (HTTP 202).
    case accepted(activationID: String)

    /// The activation id, when known.
    public var activationID: String? {
        switch self {
        case .result(_, let id, _): id
        case .activation(let activation): activation.activationId
        case .accepted(let id): id
        }
    }

    /// Whether the function ran and failed; `false` while it has not finished.
    public var failed: Bool {
        switch self {
        case .result(_, _, let failed): failed
        case .activation(let activation): activation.response.map { !$0.success } ?? (activation.statusCode != 0)
        case .accepted: false
        }
    }
}
