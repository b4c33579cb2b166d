import Crypto
import Dispatch
import Foundation

/// Compiles modules to native code: ``CTranslator`` writes C, the C compiler that ships with the
/// Swift toolchain compiles it into a position-independent shared object, and ``NativeImage``
/// maps it.
///
/// Compilation runs in the enclave's own process (in a TEE, inside it): the code that runs is never
/// taken from the operator's disk unless the authenticated cache vouches for it
/// (``NativeCodeCache``). The compiler runs as a child process under a CPU-time and an
/// address-space limit and a wall-clock timeout, so a hostile module cannot make it run for minutes
/// or take the machine's memory; translations larger than ``Bounds/sourceBytes`` are refused
/// before the compiler starts.
package struct NativeCompiler: Sendable {
    /// The compiler and what identifies it in function certificates.
    package struct Toolchain: Sendable, Hashable {
        /// The compiler executable.
        package var path: String
        /// Its first `--version` line.
        package var version: String
        /// Hex SHA-256 of the compiler executable's bytes.
        package var digest: String
    }

    /// The bounds of one compilation.
    package struct Bounds: Sendable, Hashable {
        /// Wall-clock time, and CPU time, one compilation may take.
        package var time: Duration = .seconds(120)
        /// Address space the compiler may use.
        package var memory: Int = 4 << 30
        /// The largest translation handed to the compiler.
        package var sourceBytes: Int = 64 << 20

        package init() {}
    }

    /// Identifies the translator (its output format and runtime ABI), in certificates and cache keys.
    package static let translatorVersion = "tabula-c/2"

    /// The flags every compilation uses: no libc, hidden symbols, one entry point, IEEE arithmetic
    /// kept exact (no contraction into fused multiply-adds), wrapping integers.
    package static let flags = [
        "-x", "c", "-std=gnu11", "-O2", "-fPIC", "-shared", "-nostdlib", "-fvisibility=hidden", "-fno-stack-protector",
        "-fno-builtin", "-fstack-clash-protection", "-ffp-contract=off", "-fno-strict-aliasing", "-fwrapv", "-fno-math-errno", "-fno-asynchronous-unwind-tables",
        "-w", "-Wl,-z,defs", "-Wl,-e,tabula_native_module", "-Wl,--build-id=none", "-Wl,--hash-style=gnu",
    ]

    package let toolchain: Toolchain
    package var bounds: Bounds
    package var cache: NativeCodeCache?

    /// A compiler for this machine's toolchain, or why there is none.
    ///
    /// Looks for `TABULA_CC`, then `clang` on the `PATH`, then next to `swift` on the `PATH`, then
    /// the toolchain's usual places; the one found must print a version.
    package static func locate(environment: [String: String] = ProcessInfo.processInfo.environment) -> Result<NativeCompiler, EnclaveError> {
        var candidates: [String] = []
        if let forced = environment["TABULA_CC"], !forced.isEmpty { candidates.append(forced) }
        let path = (environment["PATH"] ?? "").split(separator: ":").map(String.init)
        candidates += path.map { "\($0)/clang" }
        candidates += ["/opt/swift/usr/bin/clang", "/usr/bin/clang"]
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate) {
            guard let version = try? (run(candidate, ["--version"], bounds: Bounds(), input: nil) as (status: Int32, output: String)).output,
                  let first = version.split(separator: "\n").first, first.contains("clang")
            else { continue }
            let resolved = URL(fileURLWithPath: candidate).resolvingSymlinksInPath().path
            guard let digest = fileDigest(resolved) else { continue }
            return .success(NativeCompiler(toolchain: Toolchain(path: resolved, version: String(first), digest: digest), bounds: Bounds(), cache: nil, childExecutable: nil))
        }
        return .failure(EnclaveError(.compilationFailed, "no C compiler for the native engine: clang was not found (set TABULA_CC to the clang of the Swift toolchain); functions run in the interpreter"))
    }

    /// Compilations take seconds of CPU each: at most half the cores compile at once in this
    /// process, so that a burst of deploys (or of tests) cannot starve the invocations running
    /// beside them. Every run of the compiler, in this process or in a child, takes a slot here.
    private static let compilations = DispatchSemaphore(value: max(1, ProcessInfo.processInfo.activeProcessorCount / 2))

    /// Runs `body` (which runs the compiler) once a compilation slot is free.
    private static func queued<T>(_ body: () throws(EnclaveError) -> T) throws(EnclaveError) -> T {
        compilations.wait()
        defer { compilations.signal() }
        return try body()
    }

    /// What to compile: the module as deployed and how it is loaded.
    package struct Request: Sendable {
        package var bytes: [UInt8]
        package var main: String
        package var memoryLimit: Int
        /// The module already parsed in this process; `nil` to parse and translate it in a child
        /// process (``childExecutable``), so that the process holding the enclave's keys never
        /// parses the tenant's bytes (worker isolation).
        package var module: FunctionModule?

        package init(bytes: [UInt8], main: String, memoryLimit: Int, module: FunctionModule?) {
            self.bytes = bytes
            self.main = main
            self.memoryLimit = memoryLimit
            self.module = module
        }
    }

    /// The executable (`tabula`) that compiles in a child process: `tabula native-compile`.
    package var childExecutable: String?

    /// The module's native code: from the cache when it holds an authentic entry, else compiled
    /// (and cached).
    package func compile(_ request: Request) throws(EnclaveError) -> NativeCode {
        let key = cacheKey(request)
        var status = "off"
        if let cache {
            switch cache.lookup(key) {
            case .hit(let entry):
                if let code = Self.decode(entry) {
                    return NativeCode(image: code.image, typeDescriptions: code.types, compileDuration: .zero, cached: true, cacheStatus: "hit")
                }
                status = "rejected"
            case .miss: status = "miss"
            case .rejected: status = "rejected"
            }
        }
        let started = ContinuousClock.now
        let compiled: (image: [UInt8], types: [String])
        if let module = request.module {
            compiled = try translateAndCompile(module)
        } else {
            compiled = try compileInChild(request)
        }
        let duration = ContinuousClock.now - started
        cache?.store(key, entry: Self.encode(image: compiled.image, types: compiled.types))
        return NativeCode(image: compiled.image, typeDescriptions: compiled.types, compileDuration: duration, cached: false, cacheStatus: status)
    }

    /// Translates and compiles a module parsed in this process: the image and the type
    /// descriptions.
    ///
    /// - Parameter queued: whether the compiler waits for a compilation slot; only the engine's
    ///   self-test, a module of one empty function, skips the queue (a server starting must not
    ///   wait behind every deploy in progress).
    package func translateAndCompile(_ module: FunctionModule, queued: Bool = true) throws(EnclaveError) -> (image: [UInt8], types: [String]) {
        try module.validateBodies()
        let translation = try CTranslator.translate(module.instrumentedBytes, countdownGlobal: module.countdownGlobal)
        let source = Array(translation.source.utf8)
        guard source.count <= bounds.sourceBytes else {
            throw EnclaveError(.limitExceeded, "the module translates to \(source.count >> 20) MiB of C, more than the native engine compiles (\(bounds.sourceBytes >> 20) MiB); set the action's \"engine\" annotation to \"interpreter\"")
        }
        let image = queued ? try Self.queued { () throws(EnclaveError) in try compileSource(source) } : try compileSource(source)
        return (image, translation.functionTypes.map { "\($0)" })
    }

    /// SHA-256 of the running executable, which holds the translator: a cache entry written by
    /// another build of Tabula is never used, even where the translator's version did not change.
    static let executableDigest: String = fileDigest("/proc/self/exe") ?? "unknown"

    /// The cache key: the module as deployed, how it is loaded, and what compiles it (the
    /// translator, in this build of Tabula, and the compiler).
    package func cacheKey(_ request: Request) -> String {
        // Every field with its length first, so that no two requests hash the same bytes (an entry
        // name ending in a newline must not shift into the module's bytes).
        var hash = SHA256()
        for field in [Self.translatorVersion, Self.executableDigest, toolchain.digest, Self.flags.joined(separator: " "), request.main, "\(request.memoryLimit)"] {
            let bytes = Array(field.utf8)
            hash.update(data: withUnsafeBytes(of: UInt64(bytes.count).littleEndian, Array.init) + bytes)
        }
        hash.update(data: withUnsafeBytes(of: UInt64(request.bytes.count).littleEndian, Array.init))
        hash.update(data: request.bytes)
        return hash.finalize().map { String(format: "%02x", $0) }.joined()
    }

    // MARK: Compiling in a child process

    /// Compiles in `tabula native-compile`, which parses, translates and compiles the module and
    /// answers with ``encode(image:types:)``'s format on stdout, or exits 3 with a code and a
    /// message.
    private func compileInChild(_ request: Request) throws(EnclaveError) -> (image: [UInt8], types: [String]) {
        guard let executable = childExecutable else {
            throw EnclaveError(.compilationFailed, "the native engine has no compiler process to parse the module in")
        }
        var childBounds = bounds
        childBounds.time = bounds.time + .seconds(30)
        let result = try Self.queued { () throws(EnclaveError) in try Self.run(executable, ["native-compile", "--main", request.main, "--memory-limit", "\(request.memoryLimit)", "--compiler", toolchain.path], bounds: childBounds, input: request.bytes, binary: true) }
        switch result.status {
        case 0:
            guard let decoded = Self.decode(result.output) else { throw EnclaveError(.compilationFailed, "the compiler process answered with a malformed image") }
            return decoded
        case 3:
            let text = String(decoding: result.output.prefix(4096), as: UTF8.self)
            let parts = text.split(separator: "\n", maxSplits: 1).map(String.init)
            let code = parts.first.flatMap { EnclaveError.Code(rawValue: $0) } ?? .compilationFailed
            throw EnclaveError(code, parts.count > 1 ? parts[1] : "the compiler process failed")
        case -1:
            throw EnclaveError(.compilationFailed, "compiling the module to native code took longer than \(Int(childBounds.time.seconds.rounded(.up))) s and was stopped; set the action's \"engine\" annotation to \"interpreter\"")
        default:
            throw EnclaveError(.compilationFailed, "the compiler process failed with status \(result.status)")
        }
    }

    /// The child's side (`tabula native-compile`): reads the module from stdin, compiles it and
    /// writes the answer to stdout; the exit status.
    package static func serveChild(main: String, memoryLimit: Int, compiler path: String?) -> Int32 {
        let input = [UInt8](FileHandle.standardInput.readDataToEndOfFile())
        func fail(_ error: EnclaveError) -> Int32 {
            FileHandle.standardOutput.write(Data("\(error.code.rawValue)\n\(error.message)".utf8))
            return 3
        }
        var environment = ProcessInfo.processInfo.environment
        if let path { environment["TABULA_CC"] = path }
        let compiler: NativeCompiler
        switch locate(environment: environment) {
        case .failure(let error): return fail(error)
        case .success(let found): compiler = found
        }
        do {
            let module = try FunctionModule(bytes: input, main: main, memoryLimit: memoryLimit)
            let compiled = try compiler.translateAndCompile(module)
            FileHandle.standardOutput.write(Data(encode(image: compiled.image, types: compiled.types)))
            return 0
        } catch {
            return fail(error)
        }
    }

    /// `tabula native-compile --emit-c`: prints the C translation of the module on stdin.
    package static func printTranslation(main: String, memoryLimit: Int) -> Int32 {
        let input = [UInt8](FileHandle.standardInput.readDataToEndOfFile())
        do {
            let module = try FunctionModule(bytes: input, main: main, memoryLimit: memoryLimit)
            FileHandle.standardOutput.write(Data(try CTranslator.translate(module.instrumentedBytes, countdownGlobal: module.countdownGlobal).source.utf8))
            return 0
        } catch {
            FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
            return 3
        }
    }

    /// An image with its type descriptions: a 4-byte little-endian length, the descriptions
    /// separated by newlines, then the image.
    static func encode(image: [UInt8], types: [String]) -> [UInt8] {
        let descriptions = Array(types.joined(separator: "\n").utf8)
        return withUnsafeBytes(of: UInt32(descriptions.count).littleEndian, Array.init) + descriptions + image
    }

    static func decode(_ bytes: [UInt8]) -> (image: [UInt8], types: [String])? {
        guard bytes.count >= 4 else { return nil }
        let length = Int(bytes[0]) | Int(bytes[1]) << 8 | Int(bytes[2]) << 16 | Int(bytes[3]) << 24
        guard length <= bytes.count - 4 else { return nil }
        let descriptions = String(decoding: bytes[4..<4 + length], as: UTF8.self)
        let types = descriptions.isEmpty ? [] : descriptions.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        return (Array(bytes[(4 + length)...]), types)
    }

    private func compileSource(_ source: [UInt8]) throws(EnclaveError) -> [UInt8] {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tabula-native-\(UUID().uuidString)")
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        } catch {
            throw EnclaveError(.compilationFailed, "cannot create a directory for the native compilation: \(error)")
        }
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent("module.so").path
        let result: (status: Int32, output: String) = try Self.run(toolchain.path, Self.flags + ["-o", output, "-"], bounds: bounds, input: source)
        guard result.status == 0 else {
            let detail = result.output.split(separator: "\n").prefix(5).joined(separator: "; ")
            throw EnclaveError(.compilationFailed, result.status == -1
                ? "compiling the module to native code took longer than \(Int(bounds.time.seconds.rounded(.up))) s and was stopped; set the action's \"engine\" annotation to \"interpreter\""
                : result.status > 128
                ? "the C compiler was stopped by signal \(result.status - 128) (the limits of a compilation are \(Int(bounds.time.seconds.rounded(.up))) s of CPU and \(bounds.memory >> 20) MiB of address space); set the action's \"engine\" annotation to \"interpreter\""
                : "the C compiler failed on the module's translation (status \(result.status)): \(detail.prefix(600))")
        }
        guard let image = FileManager.default.contents(atPath: output) else {
            throw EnclaveError(.compilationFailed, "the C compiler produced no output")
        }
        return Array(image)
    }

    /// Runs `executable` with a CPU-time and an address-space limit (set by the shell before it
    /// execs), feeding `input` on stdin; its status (-1 when stopped at the wall-clock timeout)
    /// and what it printed.
    static func run(_ executable: String, _ arguments: [String], bounds: Bounds, input: [UInt8]?) throws(EnclaveError) -> (status: Int32, output: String) {
        let result = try run(executable, arguments, bounds: bounds, input: input, binary: false)
        return (result.status, String(decoding: result.output.prefix(64 << 10), as: UTF8.self))
    }

    static func run(_ executable: String, _ arguments: [String], bounds: Bounds, input: [UInt8]?, binary: Bool) throws(EnclaveError) -> (status: Int32, output: [UInt8]) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        let seconds = max(1, Int(bounds.time.seconds.rounded(.up)))
        process.arguments = ["-c", "ulimit -t \(seconds) && ulimit -v \(bounds.memory >> 10) && exec \"$0\" \"$@\"", executable] + arguments
        let stdin = Pipe()
        let output = Pipe()
        process.standardInput = stdin
        process.standardOutput = output
        // A binary answer comes on stdout alone; the compiler's diagnostics share the pipe.
        process.standardError = binary ? FileHandle.standardError : output
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        do {
            try process.run()
        } catch {
            throw EnclaveError(.compilationFailed, "cannot start the C compiler \(executable): \(error)")
        }
        // Read the output concurrently so that a chatty compiler never blocks on a full pipe.
        let collected = OutputCollector()
        let reader = Thread {
            collected.set(output.fileHandleForReading.readDataToEndOfFile())
        }
        reader.start()
        if let input {
            input.withUnsafeBytes { try? stdin.fileHandleForWriting.write(contentsOf: $0) }
        }
        try? stdin.fileHandleForWriting.close()
        var timedOut = false
        if finished.wait(timeout: .now() + .seconds(seconds + 5)) == .timedOut {
            timedOut = true
            kill(process.processIdentifier, SIGKILL)
            finished.wait()
        }
        let text = collected.wait()
        // A compiler ended by a signal (SIGXCPU at the CPU limit, SIGKILL, SIGSEGV when out of
        // address space) reports 128 + the signal, as a shell would.
        let status = process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
        return (timedOut ? -1 : status, [UInt8](text))
    }

    static func fileDigest(_ path: String) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        var hash = SHA256()
        while let chunk = try? handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            hash.update(data: chunk)
        }
        return hash.finalize().map { String(format: "%02x", $0) }.joined()
    }
}

/// The compiler's output, handed from the reading thread.
private final class OutputCollector: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var data = Data()

    func set(_ data: Data) {
        self.data = data
        done.signal()
    }

    func wait() -> Data {
        done.wait()
        return data
    }
}
