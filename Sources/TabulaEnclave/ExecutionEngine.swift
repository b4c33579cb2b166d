public import Foundation

/// How a function's WebAssembly runs.
public enum ExecutionEngine: String, Sendable, Hashable, CaseIterable {
    /// Compiled ahead of time to native code (``NativeCompiler``), when the action is deployed.
    case native
    /// Interpreted by WasmKit.
    case interpreter

    /// The engine the action asks for by its `engine` annotation: `"native"` (also `"aot"`) or
    /// `"interpreter"`; `nil` for the server's default.
    public init?(annotation: String) {
        switch annotation {
        case "native", "aot": self = .native
        case "interpreter": self = .interpreter
        default: return nil
        }
    }
}

/// The engines an enclave can run functions with, and which one a function gets.
///
/// The interpreter always exists; the native engine exists when a C compiler was found and
/// passed its self-test. This type owns the choice (``choose(_:for:)``): an action that names an
/// engine gets it or a clear error; an action that names none gets the native engine when it is
/// available and translates the module, and otherwise the interpreter, with the reason recorded
/// in the load report and every activation's annotations.
public struct Engines: Sendable {
    package let compiler: NativeCompiler?
    /// Why the native engine is unavailable; `nil` when it is available.
    public let unavailable: String?

    /// Only the interpreter: what an enclave uses unless told otherwise (tests, embedders).
    public static let interpreterOnly = Engines(compiler: nil, unavailable: "the server runs the interpreter only")

    package init(compiler: NativeCompiler?, unavailable: String?) {
        self.compiler = compiler
        self.unavailable = compiler == nil ? (unavailable ?? "no C compiler") : nil
    }

    /// The engines of this machine: the native engine when a compiler is found and compiles and
    /// runs a test module, with compiled code cached in `cacheDirectory` under `cacheKey` (no cache
    /// when either is `nil`).
    ///   - childExecutable: the `tabula` executable, to parse and compile modules in a child process
    ///     (with worker isolation, where the server never parses tenants' modules itself).
    public static func detect(cacheDirectory: URL? = nil, cacheKey: [UInt8]? = nil, childExecutable: String? = nil) -> Engines {
        let located: NativeCompiler
        switch detectedCompiler {
        case .failure(let error): return Engines(compiler: nil, unavailable: error.message)
        case .success(let compiler): located = compiler
        }
        var compiler = located
        compiler.childExecutable = childExecutable
        if let cacheDirectory, let cacheKey {
            compiler.cache = NativeCodeCache(directory: cacheDirectory, key: cacheKey)
        }
        return Engines(compiler: compiler, unavailable: nil)
    }

    /// The compiler found and checked once per process (finding it hashes the compiler binary,
    /// and the check compiles a module).
    private static let detectedCompiler: Result<NativeCompiler, EnclaveError> = {
        let compiler: NativeCompiler
        switch NativeCompiler.locate() {
        case .failure(let error): return .failure(error)
        case .success(let found): compiler = found
        }
        do {
            let probe = try FunctionModule(bytes: Array(#"(module (func (export "_start")))"#.utf8), memoryLimit: 1 << 20)
            // Outside the queue of compilations: it may be long, and whoever waits for this probe
            // (a server starting, a caller on Swift's cooperative pool) must not wait for all of it.
            let compiled = try compiler.translateAndCompile(probe, queued: false)
            _ = try NativeImage(code: NativeCode(image: compiled.image, typeDescriptions: compiled.types, compileDuration: .zero, cached: false, cacheStatus: "off"))
            return .success(compiler)
        } catch let error as EnclaveError {
            return .failure(EnclaveError(.compilationFailed, "the native engine's self-test failed with \(compiler.toolchain.path): \(error.message)"))
        } catch {
            return .failure(EnclaveError(.compilationFailed, "the native engine's self-test failed: \(error)"))
        }
    }()

    /// The default engine of a function that names none.
    public var defaultEngine: ExecutionEngine { compiler == nil ? .interpreter : .native }

    /// What runs a function: its engine, its native code when native, and why the interpreter
    /// runs it when the function did not ask for it.
    package struct Choice: Sendable {
        package var engine: ExecutionEngine
        package var code: NativeCode?
        /// Why a function that named no engine runs in the interpreter.
        package var fallback: String?
    }

    /// Chooses the engine of a function and compiles it when native.
    ///
    /// - Throws: ``EnclaveError`` when the function asks for the native engine and it is
    ///   unavailable, refuses the module, or fails to compile it.
    package func choose(_ requested: ExecutionEngine?, for request: NativeCompiler.Request) throws(EnclaveError) -> Choice {
        if requested == .interpreter { return Choice(engine: .interpreter) }
        guard let compiler else {
            if requested == .native {
                throw EnclaveError(.compilationFailed, "the action asks for the native engine, which this server does not have (\(unavailable ?? "no compiler")); remove the \"engine\" annotation or set it to \"interpreter\"")
            }
            return Choice(engine: .interpreter, fallback: "native engine unavailable: \(unavailable ?? "no compiler")")
        }
        do {
            return Choice(engine: .native, code: try compiler.compile(request))
        } catch {
            // A module the translator refuses, or one that does not compile within the bounds,
            // still runs in the interpreter unless the action insisted on the native engine.
            if requested == .native || error.code == .invalidModule { throw error }
            return Choice(engine: .interpreter, fallback: error.message)
        }
    }
}
