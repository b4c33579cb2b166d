public import TabulaAttestation

extension Isolation {
    /// The WebAssembly engine every sandbox runs on: WasmKit's interpreter.
    package static let engine = "wasmkit-interpreter"
    /// WasmKit's version, as Package.resolved pins it (a test checks that they agree).
    package static let engineVersion = "0.4.2"
    /// How workers are confined: a seccomp-bpf allow-list with `no_new_privs` and resource limits
    /// (docs/isolation.md).
    package static let workerConfinement = "seccomp-bpf"

    /// What the identity certificate states about this isolation (its `"tabula-runtime"` claim).
    public var runtimeClaims: RuntimeClaims {
        switch self {
        case .inProcess:
            RuntimeClaims(isolation: RuntimeClaims.inProcess, engine: Self.engine, engineVersion: Self.engineVersion)
        case .workers:
            RuntimeClaims(isolation: RuntimeClaims.workers, confinement: Self.workerConfinement, engine: Self.engine, engineVersion: Self.engineVersion)
        }
    }
}
