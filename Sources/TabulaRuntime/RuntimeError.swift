import TabulaWire

/// An error of the action runtime: a request it refuses, or an action that could not be
/// initialised or run.
///
/// Each has a stable ``code`` (sent as the `x-tabula-error-code` header) and a message. The body is
/// OpenWhisk's runtime error body, `{"error": message}`, and nothing else: OpenWhisk's runtime tests
/// compare it byte for byte, and the invoker takes the `error` member as the activation's error.
/// The HTTP status of each code is decided in one place, ``ActionRuntime/status(of:)``.
public struct RuntimeError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, CaseIterable {
        /// `/init` came after an initialisation (OpenWhisk initialises a container once).
        case alreadyInitialized = "already_initialized"
        /// `/run` came before `/init`.
        case notInitialized = "not_initialized"
        /// `/init` carried no code (or no `value`).
        case noCode = "no_code"
        /// The code is not a module the enclave loads (not base64 of WebAssembly, not WAT that
        /// parses, a missing entry, a failed initialisation).
        case initializationFailed = "initialization_failed"
        /// The request body is not JSON of the expected shape.
        case badRequest = "bad_request"
        /// The activation's `value` is not a JSON object.
        case invalidArgument = "invalid_argument"
        /// The body, or the parameters, are larger than the runtime accepts.
        case payloadTooLarge = "payload_too_large"
        /// Too many activations already wait for the sandbox (never 503: OpenWhisk would
        /// reschedule it elsewhere, and this one is only busy).
        case busy = "busy"
        /// A Knative request tried to initialise a runtime whose function is given by its
        /// environment (`__OW_ACTION_CODE`).
        case dedicatedFunction = "dedicated_function"
        /// The runtime is stopping: OpenWhisk reschedules the activation elsewhere.
        case shuttingDown = "shutting_down"
        /// The runtime has no attested enclave (no monitor).
        case notAttested = "not_attested"
        /// The path or method is not part of the protocol.
        case notFound = "not_found"
        /// The enclave failed in a way the request did not cause.
        case internalError = "internal_error"
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    /// OpenWhisk's runtime error body, `{"error": message}`.
    public var body: [UInt8] {
        JSONValue.object(["error": .string(message)]).encoded
    }
}
