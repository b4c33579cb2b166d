public import TabulaWire

/// The fully qualified name of a function: its tenant (an OpenWhisk namespace) and its name.
public struct FunctionName: Hashable, Sendable, CustomStringConvertible {
    public var namespace: String
    public var name: String

    public init(namespace: String, name: String) {
        self.namespace = namespace
        self.name = name
    }

    /// The OpenWhisk path form, `/namespace/name`.
    public var description: String { "/\(namespace)/\(name)" }

    /// Equal when the UTF-8 bytes are: Swift's `String` equality (canonical equivalence) would let
    /// another spelling of a name reach a function loaded under this one.
    public static func == (a: FunctionName, b: FunctionName) -> Bool {
        EntityName.same(a.namespace, b.namespace) && EntityName.same(a.name, b.name)
    }

    /// Hashes the UTF-8 bytes, consistently with ``==(_:_:)``.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(namespace.utf8.count)
        Self.combine(namespace, into: &hasher)
        Self.combine(name, into: &hasher)
    }

    private static func combine(_ text: String, into hasher: inout Hasher) {
        let done: Void? = text.utf8.withContiguousStorageIfAvailable { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        if done == nil { for byte in text.utf8 { hasher.combine(byte) } }
    }
}

/// Everything needed to load a function into the enclave.
public struct FunctionDefinition: Sendable {
    public var name: FunctionName
    /// The module: a WebAssembly binary or WAT text.
    public var module: [UInt8]
    /// The reactor entry called per invocation (command modules always run `_start`).
    public var main: String
    public var limits: Limits
    public var capabilities: Capabilities
    /// Who may invoke it, and whether only sealed requests may.
    public var policy: Policy
    /// The most sandboxes the function may have, and so the most invocations it runs at once.
    public var maxSandboxes: Int
    /// Which stored version of the function this is, in the caller's terms (the platform's
    /// owner, revision and module digest); empty when the caller keeps one version per name.
    /// An invocation or certificate that names a revision is served only by that revision.
    public var revision: String
    /// The engine the function asks for; `nil` for the enclave's default (see ``Engines``).
    public var engine: ExecutionEngine?

    public init(
        name: FunctionName, module: [UInt8], main: String = "main", limits: Limits = Limits(), capabilities: Capabilities = .default, policy: Policy = Policy(),
        maxSandboxes: Int = 1, revision: String = "", engine: ExecutionEngine? = nil
    ) {
        self.name = name
        self.engine = engine
        self.revision = revision
        self.module = module
        self.main = main
        self.limits = limits
        self.capabilities = capabilities
        self.policy = policy
        self.maxSandboxes = maxSandboxes
    }
}

/// What loading a function established.
public struct FunctionInfo: Sendable {
    public var name: FunctionName
    /// `command` or `reactor`.
    public var kind: String
    /// The export run per invocation.
    public var entry: String
    /// SHA-256 of the module bytes as given.
    public var moduleDigest: [UInt8]
    /// SHA-256 of the snapshot state (memory size and contents, mutable globals).
    public var snapshotDigest: [UInt8]
    /// Time to compile, instantiate, initialise and snapshot the first sandbox.
    public var initTime: Duration
    /// What initialisation wrote to stderr.
    public var initializationLogs: [String]
    /// Why every invocation ends in a rebuild rather than an in-place rewind, if it does.
    public var rebuildReason: String?
    /// The engine that runs the function.
    public var engine: ExecutionEngine = .interpreter
    /// Why the function runs in the interpreter although it named no engine (the native engine is
    /// unavailable, or does not translate the module).
    public var engineFallback: String?
    /// Time to translate and compile the module to native code; zero when it came from the cache,
    /// `nil` for the interpreter.
    public var compileTime: Duration?
    /// The native code cache's answer: "hit", "miss", "rejected" (a tampered entry, compiled
    /// again) or "off"; `nil` for the interpreter.
    public var codeCache: String?
}

extension FunctionInfo {
    /// Records the engine chosen for the function.
    mutating func record(_ choice: Engines.Choice) {
        engine = choice.engine
        engineFallback = choice.fallback
        compileTime = choice.code?.compileDuration
        codeCache = choice.code?.cacheStatus
    }
}
