import Foundation
public import TabulaEnclave

/// How `tabula runtime` serves: the platform's protocol, the action's limits and engine, and what
/// the process environment says (OpenWhisk and Knative configure their runtimes through it).
public struct RuntimeConfiguration: Sendable {
    /// The protocol served.
    public enum Platform: String, Sendable {
        /// `POST /init` and `POST /run`, the OpenWhisk invoker's protocol.
        case openwhisk
        /// The single entry point `/` of OpenWhisk's Knative ("single entrypoint") contract.
        case knative
    }

    public var platform: Platform = .openwhisk
    /// The methods `/` answers in Knative mode (`__OW_HTTP_METHODS`, default POST).
    public var httpMethods: [String] = ["POST"]
    /// Whether activations may run at once (`__OW_ALLOW_CONCURRENT=true`); one at a time otherwise,
    /// as OpenWhisk promises an action.
    public var concurrent = false
    /// How many sandboxes, and so activations at once, a concurrent runtime has.
    public var concurrency = 4
    /// Knative's raw web actions (`__OW_ACTION_RAW=true`): the body reaches the function base64
    /// encoded as `__ow_body`.
    public var raw = false
    /// The function given by the environment (`__OW_ACTION_CODE`, `__OW_ACTION_MAIN`,
    /// `__OW_ACTION_BINARY`): a dedicated runtime, initialised at start, that refuses `init`.
    public var dedicated: ActionRuntime.Initialization?
    /// The process's `__OW_*` variables (such as `__OW_API_HOST`), given to every activation
    /// before the action's `env` and the activation's own fields.
    public var inherited: [(String, String)] = []
    /// The limits of the action's invocations.
    public var limits = Limits(timeout: .seconds(300))
    /// The engine the action runs with; `nil` for the enclave's default.
    public var engine: ExecutionEngine?
    /// The largest request body that may carry code (`/init`, and Knative's `/` when the runtime
    /// has no action of its own): base64 of the code, OpenWhisk allows 48 MB of code.
    public var maxBodySize = 64 << 20
    /// The largest request body that carries only an activation (`/run`, and Knative's `/` for
    /// a dedicated runtime): parsing a body takes many times its size in memory, so one request
    /// must not be able to fill the container.
    public var maxRunBodySize = 8 << 20
    /// Activations that may wait for a sandbox beyond those that run at once; more get 429.
    public var waitingLimit = 16

    public init() {}

    /// The configuration the environment states (`__OW_RUNTIME_PLATFORM`, `__OW_HTTP_METHODS`,
    /// `__OW_ALLOW_CONCURRENT`, `__OW_ACTION_*`), over the defaults.
    ///
    /// - Throws: ``RuntimeError`` for a platform or method this runtime does not know: a runtime
    ///   that silently served another protocol would only fail later, less clearly.
    public init(environment: [String: String]) throws(RuntimeError) {
        self.init()
        switch environment["__OW_RUNTIME_PLATFORM"]?.lowercased() {
        case nil, "", "openwhisk": platform = .openwhisk
        case "knative": platform = .knative
        case let other?:
            throw RuntimeError(.badRequest, "__OW_RUNTIME_PLATFORM is \"\(other)\"; set it to openwhisk or knative")
        }
        if let methods = environment["__OW_HTTP_METHODS"], !methods.isEmpty {
            let names = methods.trimmingCharacters(in: ["[", "]", " "]).split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).uppercased() }
            let known: Set = ["GET", "POST", "PUT", "DELETE", "OPTIONS"]
            guard !names.isEmpty, names.allSatisfy(known.contains) else {
                throw RuntimeError(.badRequest, "__OW_HTTP_METHODS is \"\(methods)\"; give a list of GET, POST, PUT, DELETE and OPTIONS, such as [GET,POST]")
            }
            httpMethods = names
        }
        concurrent = environment["__OW_ALLOW_CONCURRENT"]?.lowercased() == "true"
        raw = environment["__OW_ACTION_RAW"]?.lowercased() == "true"
        if let code = environment["__OW_ACTION_CODE"], !code.isEmpty {
            let main = environment["__OW_ACTION_MAIN"].flatMap { $0.isEmpty ? nil : $0 } ?? "main"
            dedicated = ActionRuntime.Initialization(code: code, main: main, binary: environment["__OW_ACTION_BINARY"]?.lowercased() == "true", environment: [])
        }
        // The code itself stays out of the function's environment: it is large, and the function
        // has it already.
        inherited = environment.filter { $0.key.hasPrefix("__OW_") && $0.key != "__OW_ACTION_CODE" }
            .sorted { $0.key < $1.key }
            .map { ($0.key, $0.value) }
    }
}
