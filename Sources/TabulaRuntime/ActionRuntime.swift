import Foundation
import Synchronization
public import TabulaEnclave
public import TabulaWire

/// One OpenWhisk action container: a function initialised once, then run once per activation in
/// a sandbox the enclave rewinds after each.
///
/// The state goes from uninitialised to initialised, once: a second initialisation is refused, as
/// OpenWhisk's runtimes refuse it, and a failed one leaves the runtime uninitialised. This type
/// decides every answer of the protocol, with its status (``status(of:)``) and OpenWhisk's wording
/// (``Messages``); ``RuntimeServer`` only carries bytes to and from HTTP.
///
/// What the function writes to stderr goes to the runtime's stderr, followed after every activation
/// by OpenWhisk's sentinel line on stdout and on stderr; the runtime itself writes nothing else,
/// because OpenWhisk reads a container's output as the action's logs.
public final class ActionRuntime: Sendable {
    /// The line that ends an activation's logs on each stream, as OpenWhisk's invoker waits for it.
    public static let sentinel = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX"

    /// The name the function is loaded under in the enclave; the activation's `action_name` (or the
    /// Knative init's `name`) is what the function sees as `__OW_ACTION_NAME`.
    public static let functionName = FunctionName(namespace: "runtime", name: "action")

    /// OpenWhisk's messages, where the reference runtimes' tests compare them exactly.
    public enum Messages {
        public static let reinitialization = "Cannot initialize the action more than once."
        public static let noCode = "Missing main/no code to execute."
        public static let notInitialized = "System not initialized."
        public static let notAnObject = "The action did not receive a dictionary as an argument."
        public static let dedicated = "Cannot initialize a runtime with a dedicated function."
    }

    public enum Stream: Sendable, Equatable {
        case stdout, stderr
    }

    /// What an initialisation asks for: `/init`'s `value`, Knative's `init`, or the environment.
    public struct Initialization: Sendable {
        /// Base64 of a `.wasm` module, or WAT text.
        public var code: String
        /// The export run per activation (reactor modules).
        public var main: String
        /// Whether `code` is base64 (OpenWhisk sets it for binary code).
        public var binary: Bool
        /// The action's `env`, as strings.
        public var environment: [(String, String)]
        /// Knative's `init.name`: the action's name when the activation gives none.
        public var name: String?

        public init(code: String, main: String = "main", binary: Bool = false, environment: [(String, String)] = [], name: String? = nil) {
            self.code = code
            self.main = main
            self.binary = binary
            self.environment = environment
            self.name = name
        }
    }

    /// What a run asks for: the parameters and the activation's fields as `__OW_*` variables.
    public struct Activation: Sendable {
        public var value: JSONValue
        public var environment: [(String, String)]
    }

    /// An answer, for ``RuntimeServer`` to send as it is.
    public struct Reply: Sendable {
        public var status: Int
        public var body: [UInt8]
        public var headers: [(String, String)]

        init(status: Int, body: [UInt8], headers: [(String, String)] = [("content-type", "application/json")]) {
            self.status = status
            self.body = body
            self.headers = headers
        }

        /// The body as JSON, for tests and callers that inspect it.
        public var json: JSONValue? { try? JSONValue(parsing: body) }
    }

    /// The initialised action.
    struct Action: Sendable {
        var environment: [(String, String)]
        var moduleDigest: String
        var name: String?
    }

    enum State: Sendable {
        case uninitialized
        case initializing
        case ready(Action)
    }

    let enclave: Enclave
    public let configuration: RuntimeConfiguration
    let state = Mutex(State.uninitialized)
    /// Activations running or waiting for a sandbox: bounded, so that callers who give up cannot
    /// pile up work that still runs, each to its time limit.
    private let inFlight = Mutex(0)
    /// Writes the runtime's output; behind a lock so that an activation's logs and its sentinels
    /// stay together when activations run at once.
    private let output: Mutex<@Sendable (Stream, String) -> Void>

    /// - Parameters:
    ///   - enclave: the enclave the function runs in (its monitor, if any, attests the runtime).
    ///   - output: where the function's logs and the sentinels go; the process's stdout and
    ///     stderr by default.
    public init(enclave: Enclave, configuration: RuntimeConfiguration = RuntimeConfiguration(), output: (@Sendable (Stream, String) -> Void)? = nil) {
        self.enclave = enclave
        self.configuration = configuration
        self.output = Mutex(output ?? Self.standardStreams)
    }

    /// The process's stdout and stderr, unbuffered. A stream closed by the reader (the invoker gone)
    /// loses the text, not the process: `write(_:)` would end it.
    @Sendable static func standardStreams(_ stream: Stream, _ text: String) {
        try? (stream == .stdout ? FileHandle.standardOutput : FileHandle.standardError).write(contentsOf: Data(text.utf8))
    }

    /// SHA-256 of the initialised module, in hex; `nil` before initialisation.
    public var moduleDigest: String? {
        state.withLock { state in
            if case .ready(let action) = state { return action.moduleDigest }
            return nil
        }
    }

    /// Initialises a dedicated runtime (a function given by the environment) before it serves.
    public func start() async throws(RuntimeError) {
        guard let dedicated = configuration.dedicated else { return }
        let reply = await initialize(dedicated)
        guard reply.status == 200 else {
            throw RuntimeError(.initializationFailed, reply.json?.objectValue?["error"]?.stringValue ?? "the function in __OW_ACTION_CODE did not initialise")
        }
    }

    // MARK: The one mapping of outcomes to statuses

    /// The HTTP status of each refusal. Never 503 but for a runtime that is stopping: OpenWhisk
    /// reads 503 as "the container is shutting down" and reschedules the activation.
    public static func status(of code: RuntimeError.Code) -> Int {
        switch code {
        case .alreadyInitialized, .notInitialized, .noCode, .dedicatedFunction: 403
        case .initializationFailed: 502
        case .badRequest, .invalidArgument: 400
        case .payloadTooLarge: 413
        case .busy: 429
        case .shuttingDown, .notAttested: 503
        case .notFound: 404
        case .internalError: 500
        }
    }

    /// The answer for a refusal: OpenWhisk's `{"error": …}` and the stable code in a header.
    public static func reply(_ error: RuntimeError) -> Reply {
        Reply(status: status(of: error.code), body: error.body, headers: [("content-type", "application/json"), ("x-tabula-error-code", error.code.rawValue)])
    }

    /// The answer for an activation that ran: its result with 200 when it succeeded or returned an
    /// application error, OpenWhisk's developer error (`{"error": …}`) with 502 when it failed.
    static func reply(_ response: ActivationResponse) -> Reply {
        switch response.status {
        case .success, .applicationError: Reply(status: 200, body: response.result.encoded)
        case .developerError: Reply(status: 502, body: response.result.encoded)
        case .internalError: Reply(status: 500, body: response.result.encoded)
        }
    }

    /// An enclave error at run time, as the runtime's error.
    static func runtimeError(_ error: any Error) -> RuntimeError {
        guard let error = error as? EnclaveError else { return RuntimeError(.internalError, "The action could not be run: \(error)") }
        switch error.code {
        case .limitExceeded: return RuntimeError(.payloadTooLarge, "The action could not be run: \(error.message).")
        case .shuttingDown: return RuntimeError(.shuttingDown, "The runtime is shutting down.")
        case .invalidConfiguration: return RuntimeError(.invalidArgument, Messages.notAnObject)
        default: return RuntimeError(.internalError, "The action could not be run: \(error.message) (\(error.code.rawValue)).")
        }
    }

    // MARK: /init

    /// `POST /init`.
    public func initialize(_ body: [UInt8]) async -> Reply {
        await initialize { () throws(RuntimeError) in try Self.initialization(fromBody: body) }
    }

    /// Initialises with what `read` makes of the request, once the state allows it: a second
    /// initialisation is refused whatever its body holds.
    func initialize(reading read: () throws(RuntimeError) -> Initialization) async -> Reply {
        if let refusal = refuseReinitialization() { return refusal }
        do throws(RuntimeError) {
            return await load(try read())
        } catch {
            state.withLock { $0 = .uninitialized }
            return Self.reply(error)
        }
    }

    /// Initialises with an initialisation already read (Knative's `init`, the environment's).
    public func initialize(_ initialization: Initialization) async -> Reply {
        if let refusal = refuseReinitialization() { return refusal }
        return await load(initialization)
    }

    /// Takes the runtime from uninitialised to initialising, or refuses: the only place that
    /// decides whether an initialisation may start.
    private func refuseReinitialization() -> Reply? {
        let allowed = state.withLock { state in
            guard case .uninitialized = state else { return false }
            state = .initializing
            return true
        }
        if allowed { return nil }
        // OpenWhisk's runtimes log the refusal (its tests look for it), without sentinels.
        write([(.stderr, Messages.reinitialization + "\n")])
        return Self.reply(RuntimeError(.alreadyInitialized, Messages.reinitialization))
    }

    /// Loads the function, once ``refuseReinitialization()`` let the initialisation start.
    private func load(_ initialization: Initialization) async -> Reply {
        do {
            let module = try Self.module(initialization)
            let definition = FunctionDefinition(
                name: Self.functionName, module: module, main: initialization.main, limits: configuration.limits,
                maxSandboxes: configuration.concurrent ? max(1, configuration.concurrency) : 1, engine: configuration.engine)
            let info = try await enclave.load(definition)
            let action = Action(environment: initialization.environment, moduleDigest: info.moduleDigest.hex, name: initialization.name)
            if !info.initializationLogs.isEmpty {
                write([(.stderr, info.initializationLogs.map { $0 + "\n" }.joined())])
            }
            state.withLock { $0 = .ready(action) }
            return Reply(status: 200, body: Array(#"{"ok":true}"#.utf8), headers: [("content-type", "application/json"), ("x-tabula-module-digest", action.moduleDigest)])
        } catch {
            state.withLock { $0 = .uninitialized }
            let failure = (error as? RuntimeError) ?? RuntimeError(
                .initializationFailed, "The action failed to initialize: \((error as? EnclaveError)?.message ?? "\(error)").")
            // Like OpenWhisk's Node.js runtime: the reason in the logs, then the sentinels.
            write([(.stderr, Self.oneLine(failure.message) + "\n" + Self.sentinel + "\n"), (.stdout, Self.sentinel + "\n")])
            return Self.reply(failure)
        }
    }

    /// The module bytes of the code: base64 of a `.wasm` module when `binary`, or when the code
    /// is base64 of bytes that start with WebAssembly's magic; WAT text otherwise (the enclave
    /// compiles it), as the platform reads an action's code.
    static func module(_ initialization: Initialization) throws(RuntimeError) -> [UInt8] {
        let decoded = Data(base64Encoded: initialization.code, options: .ignoreUnknownCharacters)
        if initialization.binary {
            guard let decoded, !decoded.isEmpty else {
                throw RuntimeError(.initializationFailed, "The action's code is marked binary but is not base64: send a .wasm module in base64, or WAT text with binary false.")
            }
            return Array(decoded)
        }
        if let decoded, decoded.starts(with: [0x00, 0x61, 0x73, 0x6D]) { return Array(decoded) }
        return Array(initialization.code.utf8)
    }

    /// Reads `/init`'s body: `{"value": {"code", "binary", "main", "env"}}`.
    static func initialization(fromBody body: [UInt8]) throws(RuntimeError) -> Initialization {
        guard case .object(let members) = try json(body) else {
            throw RuntimeError(.badRequest, "The request body must be a JSON object: {\"value\": {\"code\": …, \"main\": …, \"binary\": …, \"env\": …}}.")
        }
        guard case .object(let value)? = members["value"] else { throw RuntimeError(.noCode, Messages.noCode) }
        return try initialization(fromValue: value)
    }

    /// Reads the initialisation object (`/init`'s `value`, Knative's `init`).
    static func initialization(fromValue value: [String: JSONValue]) throws(RuntimeError) -> Initialization {
        guard case .string(let code)? = value["code"], !code.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw RuntimeError(.noCode, Messages.noCode)
        }
        var main = "main"
        switch value["main"] {
        case nil, .null: break
        case .string(let name): if !name.isEmpty { main = name }
        default: throw RuntimeError(.badRequest, "The initialisation's main must be a string, the name of the export to run.")
        }
        var binary = false
        switch value["binary"] {
        case nil, .null: break
        case .bool(let flag): binary = flag
        default: throw RuntimeError(.badRequest, "The initialisation's binary must be true or false.")
        }
        var environment: [(String, String)] = []
        switch value["env"] {
        case nil, .null: break
        case .object(let variables):
            // OpenWhisk sends strings; other values as their JSON, null as empty, like its runtimes.
            for (name, value) in variables.sorted(by: { $0.key < $1.key }) {
                let text: String
                switch value {
                case .string(let string): text = string
                case .null: text = ""
                default: text = value.encodedString
                }
                if let variable = variable(name, text) { environment.append(variable) }
            }
        default: throw RuntimeError(.badRequest, "The initialisation's env must be an object of variables.")
        }
        var name: String?
        if case .string(let given)? = value["name"], !given.isEmpty { name = given }
        return Initialization(code: code, main: main, binary: binary, environment: environment, name: name)
    }

    // MARK: /run

    /// `POST /run`.
    public func run(_ body: [UInt8]) async -> Reply {
        guard let action = readyAction() else { return Self.reply(RuntimeError(.notInitialized, Messages.notInitialized)) }
        let activation: Activation
        do throws(RuntimeError) {
            activation = try Self.activation(fromBody: body)
        } catch {
            return Self.reply(error)
        }
        return await execute(action, activation)
    }

    func readyAction() -> Action? {
        state.withLock { state in
            if case .ready(let action) = state { return action }
            return nil
        }
    }

    /// Reads `/run`'s body: `{"value": {…}, "api_key": …, "namespace": …, …}`; every top-level
    /// member but `value` becomes `__OW_<NAME>`.
    static func activation(fromBody body: [UInt8]) throws(RuntimeError) -> Activation {
        guard case .object(let members) = try json(body) else {
            throw RuntimeError(.badRequest, "The request body must be a JSON object: {\"value\": {…parameters…}, …activation fields…}.")
        }
        let value = try parameters(members["value"])
        let fields = members.filter { $0.key != "value" }
        return Activation(value: value, environment: environment(of: fields))
    }

    /// An activation's parameters: an object; none (or null) is `{}`.
    static func parameters(_ value: JSONValue?) throws(RuntimeError) -> JSONValue {
        switch value {
        case nil, .null?: return .object([:])
        case .object?: return value!
        default: throw RuntimeError(.invalidArgument, Messages.notAnObject)
        }
    }

    /// The activation's fields as `__OW_<NAME>` variables: strings as they are, numbers and
    /// booleans as their JSON (OpenWhisk sends `deadline` as a string or a number); objects,
    /// arrays and null are left out.
    static func environment(of fields: [String: JSONValue]) -> [(String, String)] {
        fields.sorted { $0.key < $1.key }.compactMap { name, value -> (String, String)? in
            let text: String
            switch value {
            case .string(let string): text = string
            case .integer, .number, .numberLiteral, .bool: text = value.encodedString
            default: return nil
            }
            return variable("__OW_" + name.uppercased(), text)
        }
    }

    /// A variable the WASI environment can carry (`NAME=value`, NUL-terminated): a name of
    /// letters, digits and underscores and a value without NUL; `nil` for anything else, so that
    /// a request cannot forge or cut another variable.
    static func variable(_ name: String, _ value: String) -> (String, String)? {
        guard let first = name.utf8.first, !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first),
              name.utf8.allSatisfy({ $0 == UInt8(ascii: "_") || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
              !value.utf8.contains(0)
        else { return nil }
        return (name, value)
    }

    /// Runs one activation: the function's logs, then the sentinels, then the answer.
    func execute(_ action: Action, _ activation: Activation) async -> Reply {
        let running = configuration.concurrent ? max(1, configuration.concurrency) : 1
        let admitted = inFlight.withLock { count -> Bool in
            guard count < running + configuration.waitingLimit else { return false }
            count += 1
            return true
        }
        guard admitted else {
            return Self.reply(RuntimeError(.busy, "Too many activations are waiting for this runtime (\(running + configuration.waitingLimit)): retry shortly."))
        }
        defer { inFlight.withLock { $0 -= 1 } }
        // The process's __OW_* variables, then the action's env, then the activation's fields:
        // a later one replaces an earlier one of the same name.
        var environment: [(String, String)] = []
        var seen: [String: Int] = [:]
        for (name, value) in configuration.inherited + action.environment + activation.environment {
            if let index = seen[name] {
                environment[index].1 = value
            } else {
                seen[name] = environment.count
                environment.append((name, value))
            }
        }
        do {
            let invocation = try await enclave.invoke(Self.functionName, parameters: activation.value, environment: environment)
            let logs = invocation.logs.map { $0 + "\n" }.joined()
            write([(.stderr, logs + Self.sentinel + "\n"), (.stdout, Self.sentinel + "\n")])
            var reply = Self.reply(invocation.response)
            reply.headers.append(("x-tabula-module-digest", action.moduleDigest))
            return reply
        } catch {
            let failure = Self.runtimeError(error)
            write([(.stderr, Self.oneLine(failure.message) + "\n" + Self.sentinel + "\n"), (.stdout, Self.sentinel + "\n")])
            return Self.reply(failure)
        }
    }

    // MARK: Helpers

    static func json(_ body: [UInt8]) throws(RuntimeError) -> JSONValue {
        do {
            return try JSONValue(parsing: body)
        } catch {
            throw RuntimeError(.badRequest, "The request body is not valid JSON.")
        }
    }

    /// Writes blocks of output together.
    /// A message on one line, control characters escaped: a reason may quote what the module
    /// holds (its export names), which must not forge a sentinel line or reach a terminal.
    static func oneLine(_ text: String) -> String {
        String(text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? $0.escaped(asASCII: true) : String($0) }.joined())
    }

    func write(_ blocks: [(Stream, String)]) {
        output.withLock { write in
            for (stream, text) in blocks { write(stream, text) }
        }
    }
}
