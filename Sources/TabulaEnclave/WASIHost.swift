import CNativeRuntime
import WasmKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The linear memory a host function reads and writes: WasmKit's, or the native engine's.
enum GuestMemory {
    case wasmKit(Memory)
    /// The native engine's context: its memory base never moves, its size changes with growth.
    case native(UnsafeMutablePointer<tabula_context>)

    func withBytes<R>(_ body: (UnsafeMutableRawBufferPointer) -> R) -> R {
        switch self {
        case .wasmKit(let memory):
            return memory.withUnsafeMutableBufferPointer(offset: 0, count: memory.byteCount, body)
        case .native(let context):
            return body(UnsafeMutableRawBufferPointer(start: context.pointee.memory, count: Int(context.pointee.memory_size)))
        }
    }
}

/// The WASI preview 1 subset a sandbox offers, and the state it keeps for one invocation.
///
/// Everything lives in memory: stdin is the parameters, stdout the result, stderr the logs. There
/// are no host files, sockets, preopened directories, threads or OS file descriptors. Clocks and
/// randomness answer only when the function's capabilities grant them; every other preview 1
/// function exists with its proper signature and returns an errno, so that libc start-up code
/// probing for features keeps working instead of trapping.
final class WASIHost {
    static let moduleName = "wasi_snapshot_preview1"

    /// An invocation ended by the function through the host: `proc_exit`, or an output limit.
    enum Stop: Error {
        case exit(Int32)
        case outputLimit
    }

    // Preview 1 errno values.
    enum Errno: UInt32 {
        case success = 0, badf = 8, fault = 21, inval = 28, nosys = 52, notsup = 58, spipe = 70, notcapable = 76
    }

    var capabilities: Capabilities = []
    /// The first call refused for want of a capability since ``begin(stdin:arguments:environment:limits:)``,
    /// so that a run that then fails can say why (Rust's std, for one, traps when `random_get`
    /// fails).
    private(set) var refusal: (function: String, capability: String)?
    /// The memory of the current instance; set whenever the sandbox (re)instantiates.
    var memory: GuestMemory?

    private var arguments: [[UInt8]] = []
    private var environment: [[UInt8]] = []
    private var stdin: [UInt8] = []
    private var stdinOffset = 0
    private(set) var stdout: [UInt8] = []
    private(set) var stderr: [UInt8] = []
    private var stdoutLimit = 0
    private var stderrLimit = 0
    private(set) var stdoutExceeded = false
    private(set) var stderrTruncated = false
    private var closed: [Bool] = [false, false, false]

    /// Resets the state for an invocation; the previous one's buffers were wiped by ``finish()``.
    func begin(stdin input: [UInt8], arguments: [String], environment: [(String, String)], limits: Limits) {
        // Copied into the host's own buffer, which only it references, so that `finish()` can
        // wipe it in place.
        self.stdin.removeAll(keepingCapacity: true)
        self.stdin.append(contentsOf: input)
        self.stdinOffset = 0
        self.arguments = arguments.map { Array($0.utf8) + [0] }
        self.environment = environment.map { Array("\($0.0)=\($0.1)".utf8) + [0] }
        self.stdoutLimit = limits.output
        self.stderrLimit = limits.logs
        self.stdoutExceeded = false
        self.stderrTruncated = false
        self.closed = [false, false, false]
        self.refusal = nil
    }

    /// Hands back what the invocation wrote and wipes every per-invocation buffer.
    func finish() -> (stdout: [UInt8], stderr: [UInt8]) {
        // Explicit copies: wiping a buffer that a result still shared would copy it rather than
        // zero it.
        let result = (stdout.withUnsafeBufferPointer { Array($0) }, stderr.withUnsafeBufferPointer { Array($0) })
        stdin.wipe()
        stdout.wipe()
        stderr.wipe()
        for index in arguments.indices { arguments[index].wipe() }
        for index in environment.indices { environment[index].wipe() }
        arguments.removeAll()
        environment.removeAll()
        stdinOffset = 0
        return result
    }

    /// What a host function does, resolved once per import rather than by name on every call.
    enum Handler {
        case argsSizes, args, environSizes, environ, write, read, fdstat, close, seek, prestat
        case clockTime, clockResolution, random, exit, yield
        /// Any other `path_*` function: there is no file system to reach.
        case path
        /// Any other `fd_*` function: not supported on stdio, and no other descriptor exists.
        case descriptor
        /// Sockets, `poll_oneoff`, `proc_raise`.
        case unsupported

        init(_ name: String) {
            switch name {
            case "args_sizes_get": self = .argsSizes
            case "args_get": self = .args
            case "environ_sizes_get": self = .environSizes
            case "environ_get": self = .environ
            case "fd_write": self = .write
            case "fd_read": self = .read
            case "fd_fdstat_get": self = .fdstat
            case "fd_close": self = .close
            case "fd_seek", "fd_tell": self = .seek
            case "fd_prestat_get", "fd_prestat_dir_name": self = .prestat
            case "clock_time_get": self = .clockTime
            case "clock_res_get": self = .clockResolution
            case "random_get": self = .random
            case "proc_exit": self = .exit
            case "sched_yield": self = .yield
            default: self = name.hasPrefix("path_") ? .path : name.hasPrefix("fd_") ? .descriptor : .unsupported
            }
        }
    }

    /// Host functions for the given imports, allocated in `store`.
    func imports(_ names: [String], store: Store) -> Imports {
        var imports = Imports()
        for name in names {
            guard let signature = Self.signatures[name] else { continue }
            let handler = Handler(name)
            let function = Function(store: store, parameters: signature.parameters, results: signature.results) {
                [unowned self] _, arguments, results in
                let errno = try self.call(handler, arguments)
                if !results.isEmpty { results[0] = .i32(errno.rawValue) }
            }
            imports.define(module: Self.moduleName, name: name, function)
        }
        return imports
    }

    /// Carries out a call from native code: `arguments` holds the bit patterns of the import's
    /// parameters (``signatures``).
    func call(_ handler: Handler, native arguments: UnsafePointer<UInt64>, count: Int) throws(Stop) -> Errno {
        try withUnsafeTemporaryAllocation(of: Value.self, capacity: max(count, 1)) { (values) throws(Stop) -> Errno in
            for index in 0..<count { values.initializeElement(at: index, to: .i32(UInt32(truncatingIfNeeded: arguments[index]))) }
            return try call(handler, UnsafeBufferPointer(rebasing: values[0..<count]))
        }
    }

    private func call(_ handler: Handler, _ a: UnsafeBufferPointer<Value>) throws(Stop) -> Errno {
        switch handler {
        case .argsSizes: return sizes(arguments, a[0].i32, a[1].i32)
        case .args: return copyStrings(arguments, a[0].i32, a[1].i32)
        case .environSizes: return sizes(environment, a[0].i32, a[1].i32)
        case .environ: return copyStrings(environment, a[0].i32, a[1].i32)
        case .write: return try write(fd: a[0].i32, iovs: a[1].i32, count: a[2].i32, written: a[3].i32)
        case .read: return read(fd: a[0].i32, iovs: a[1].i32, count: a[2].i32, read: a[3].i32)
        case .fdstat: return fdstat(fd: a[0].i32, at: a[1].i32)
        case .close:
            guard isOpen(a[0].i32) else { return .badf }
            closed[Int(a[0].i32)] = true
            return .success
        case .seek: return isOpen(a[0].i32) ? .spipe : .badf
        case .prestat: return .badf
        case .clockTime: return clockTime(id: a[0].i32, at: a[2].i32)
        case .clockResolution: return clockResolution(id: a[0].i32, at: a[1].i32)
        case .random: return random(at: a[0].i32, count: a[1].i32)
        case .exit: throw .exit(Int32(bitPattern: a[0].i32))
        case .yield: return .success
        case .path: return .notcapable
        case .descriptor: return isOpen(a[0].i32) ? .notsup : .badf
        case .unsupported: return .notsup
        }
    }

    private func isOpen(_ fd: UInt32) -> Bool {
        fd < 3 && !closed[Int(fd)]
    }

    // MARK: Guest memory

    private func withMemory(_ body: (UnsafeMutableRawBufferPointer) -> Errno) -> Errno {
        guard let memory else { return .fault }
        return memory.withBytes(body)
    }

    private static func inBounds(_ raw: UnsafeMutableRawBufferPointer, _ offset: UInt32, _ count: Int) -> Bool {
        Int(offset) + count <= raw.count
    }

    private static func load32(_ raw: UnsafeMutableRawBufferPointer, _ offset: Int) -> UInt32 {
        UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    private static func store32(_ raw: UnsafeMutableRawBufferPointer, _ offset: UInt32, _ value: UInt32) {
        raw.storeBytes(of: value.littleEndian, toByteOffset: Int(offset), as: UInt32.self)
    }

    private static func store64(_ raw: UnsafeMutableRawBufferPointer, _ offset: UInt32, _ value: UInt64) {
        raw.storeBytes(of: value.littleEndian, toByteOffset: Int(offset), as: UInt64.self)
    }

    // MARK: args and environ

    private func sizes(_ strings: [[UInt8]], _ countAt: UInt32, _ sizeAt: UInt32) -> Errno {
        withMemory { raw in
            guard Self.inBounds(raw, countAt, 4), Self.inBounds(raw, sizeAt, 4) else { return .fault }
            Self.store32(raw, countAt, UInt32(strings.count))
            Self.store32(raw, sizeAt, UInt32(strings.reduce(0) { $0 + $1.count }))
            return .success
        }
    }

    private func copyStrings(_ strings: [[UInt8]], _ pointersAt: UInt32, _ bufferAt: UInt32) -> Errno {
        withMemory { raw in
            let total = strings.reduce(0) { $0 + $1.count }
            guard Self.inBounds(raw, pointersAt, 4 * strings.count), Self.inBounds(raw, bufferAt, total) else { return .fault }
            var cursor = bufferAt
            for (index, string) in strings.enumerated() {
                Self.store32(raw, pointersAt + UInt32(4 * index), cursor)
                string.withUnsafeBytes { bytes in
                    raw.baseAddress!.advanced(by: Int(cursor)).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
                }
                cursor += UInt32(string.count)
            }
            return .success
        }
    }

    // MARK: stdio

    /// The most buffers one `fd_write` or `fd_read` takes (`IOV_MAX` in wasi-libc, as in Linux):
    /// one host call cannot be interrupted at the deadline, so its work must stay small.
    static let maxBuffers: UInt32 = 1024

    private func write(fd: UInt32, iovs: UInt32, count: UInt32, written: UInt32) throws(Stop) -> Errno {
        guard fd == 1 || fd == 2, isOpen(fd) else { return isOpen(fd) ? .notsup : .badf }
        guard count <= Self.maxBuffers else { return .inval }
        var exceeded = false
        let result = withMemory { raw in
            guard Self.inBounds(raw, iovs, 8 * Int(count)), Self.inBounds(raw, written, 4) else { return .fault }
            var total: UInt32 = 0
            for index in 0..<Int(count) {
                let base = Self.load32(raw, Int(iovs) + 8 * index)
                let length = Self.load32(raw, Int(iovs) + 8 * index + 4)
                guard Self.inBounds(raw, base, Int(length)) else { return .fault }
                let bytes = UnsafeRawBufferPointer(rebasing: raw[Int(base)..<Int(base) + Int(length)])
                if fd == 1 {
                    guard stdout.count + bytes.count <= stdoutLimit else {
                        exceeded = true
                        return .success
                    }
                    stdout.append(contentsOf: bytes)
                } else {
                    let room = max(0, stderrLimit - stderr.count)
                    if bytes.count > room { stderrTruncated = true }
                    stderr.append(contentsOf: bytes.prefix(room))
                }
                total &+= length
            }
            Self.store32(raw, written, total)
            return .success
        }
        if exceeded {
            stdoutExceeded = true
            throw .outputLimit
        }
        return result
    }

    private func read(fd: UInt32, iovs: UInt32, count: UInt32, read: UInt32) -> Errno {
        guard fd == 0, isOpen(fd) else { return isOpen(fd) ? .notsup : .badf }
        guard count <= Self.maxBuffers else { return .inval }
        return withMemory { raw in
            guard Self.inBounds(raw, iovs, 8 * Int(count)), Self.inBounds(raw, read, 4) else { return .fault }
            var total = 0
            for index in 0..<Int(count) {
                let base = Self.load32(raw, Int(iovs) + 8 * index)
                let length = Int(Self.load32(raw, Int(iovs) + 8 * index + 4))
                guard Self.inBounds(raw, base, length) else { return .fault }
                let chunk = min(length, stdin.count - stdinOffset)
                if chunk > 0 {
                    stdin.withUnsafeBytes { source in
                        raw.baseAddress!.advanced(by: Int(base)).copyMemory(from: source.baseAddress!.advanced(by: stdinOffset), byteCount: chunk)
                    }
                    stdinOffset += chunk
                    total += chunk
                }
                if chunk < length { break }
            }
            Self.store32(raw, read, UInt32(total))
            return .success
        }
    }

    private func fdstat(fd: UInt32, at pointer: UInt32) -> Errno {
        guard isOpen(fd) else { return .badf }
        return withMemory { raw in
            guard Self.inBounds(raw, pointer, 24) else { return .fault }
            let characterDevice: UInt8 = 2
            let rightRead: UInt64 = 1 << 1
            let rightWrite: UInt64 = 1 << 6
            raw.storeBytes(of: characterDevice, toByteOffset: Int(pointer), as: UInt8.self)
            raw.storeBytes(of: 0, toByteOffset: Int(pointer) + 1, as: UInt8.self)
            raw.storeBytes(of: UInt16(0), toByteOffset: Int(pointer) + 2, as: UInt16.self)
            raw.storeBytes(of: UInt32(0), toByteOffset: Int(pointer) + 4, as: UInt32.self)
            Self.store64(raw, pointer + 8, fd == 0 ? rightRead : rightWrite)
            Self.store64(raw, pointer + 16, 0)
            return .success
        }
    }

    // MARK: clocks and randomness

    /// Records a call refused for want of `capability` and returns `ENOTCAPABLE`.
    private func refuse(_ function: String, _ capability: String) -> Errno {
        if refusal == nil { refusal = (function, capability) }
        return .notcapable
    }

    private func clockTime(id: UInt32, at pointer: UInt32) -> Errno {
        guard capabilities.contains(.clock) else { return refuse("clock_time_get", "clock") }
        guard id <= 3 else { return .inval }
        var now = timespec()
        clock_gettime(id == 0 ? CLOCK_REALTIME : CLOCK_MONOTONIC, &now)
        let resolution = Capabilities.clockResolutionNanoseconds
        let nanoseconds = (UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)) / resolution * resolution
        return withMemory { raw in
            guard Self.inBounds(raw, pointer, 8) else { return .fault }
            Self.store64(raw, pointer, nanoseconds)
            return .success
        }
    }

    private func clockResolution(id: UInt32, at pointer: UInt32) -> Errno {
        guard capabilities.contains(.clock) else { return refuse("clock_res_get", "clock") }
        guard id <= 3 else { return .inval }
        return withMemory { raw in
            guard Self.inBounds(raw, pointer, 8) else { return .fault }
            Self.store64(raw, pointer, Capabilities.clockResolutionNanoseconds)
            return .success
        }
    }

    private func random(at pointer: UInt32, count: UInt32) -> Errno {
        guard capabilities.contains(.random) else { return refuse("random_get", "random") }
        return withMemory { raw in
            guard Self.inBounds(raw, pointer, Int(count)) else { return .fault }
            // In bulk: one system call per 8 bytes made a call for all of memory take many
            // seconds, and a host call cannot be interrupted at the deadline. glibc's
            // arc4random_buf draws from getrandom, the kernel's CSPRNG.
            arc4random_buf(raw.baseAddress!.advanced(by: Int(pointer)), Int(count))
            return .success
        }
    }
}
