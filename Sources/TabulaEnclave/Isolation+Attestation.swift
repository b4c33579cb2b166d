public import TabulaAttestation

extension Isolation {
    /// The WebAssembly engine every sandbox runs on: WasmKit's interpreter.
    package static let engine = "wasmkit-interpreter"
    /// WasmKit's version, as Package.resolved pins it (a test checks that they agree).
    package static let engineVersion = "0.4.2"
    /// How workers are confined: a seccomp-bpf allow-list with `no_new_privs` and resource limits
    /// (docs/isolation.md).
    package static let workerConfinement = "seccomp-bpf"

    /// The engines of an enclave that also compiles functions to native code (each function's
    /// certificate then names the engine that runs it, the translator and the compiler).
    package static let nativeEngine = "tabula-native+wasmkit-interpreter"

    /// What the identity certificate states about this isolation (its `"tabula-runtime"` claim),
    /// for an enclave with the interpreter only.
    public var runtimeClaims: RuntimeClaims { runtimeClaims(native: false) }

    /// What the identity certificate states about this isolation and the enclave's engines: with
    /// `native`, the enclave compiles functions to native code where it can (the engine version
    /// stays WasmKit's, whose parser reads every module).
    public func runtimeClaims(native: Bool) -> RuntimeClaims {
        let engine = native ? Self.nativeEngine : Self.engine
        switch self {
        case .inProcess:
            return RuntimeClaims(isolation: RuntimeClaims.inProcess, engine: engine, engineVersion: Self.engineVersion)
        case .workers:
            return RuntimeClaims(isolation: RuntimeClaims.workers, confinement: Self.workerConfinement, engine: engine, engineVersion: Self.engineVersion)
        }
    }
}
