/// The protocol between the enclave (the parent) and a worker process: requests one way, replies
/// the other, one request at a time.
///
/// Messages travel as frames on a stream socket: a 4-byte little-endian length, then that many
/// bytes of payload, at most ``maximumFrame``. A payload is one tag byte and the message's fields:
/// fixed-width little-endian integers, byte strings as a 4-byte length and the bytes, strings as
/// UTF-8 byte strings, optionals as a presence byte (0 or 1) and the value. Each side treats the
/// other's bytes as hostile (a worker runs tenant code; a parent could be impersonated by anything
/// that got hold of the socket): every length is checked against what the payload still holds
/// before anything is allocated, an unknown tag, a truncated field, a byte that should be a flag
/// and is not, or bytes left over are refused with ``EnclaveError/Code/invalidWorkerMessage``.
package enum WorkerMessage {
    /// The largest payload: room for a module of 64 MiB and the rest of a load request, or a run's
    /// output and logs.
    package static let maximumFrame = 80 << 20

    /// What the parent asks of a worker.
    package enum Request: Sendable, Equatable {
        /// Compile a module, build its sandbox, initialise it and take the snapshot, under `key`.
        case load(Load)
        /// Run one invocation of the function loaded under `key`, then rewind.
        case run(Run)
        /// Drop the function loaded under `key` (no reply).
        case unload(key: UInt64)
    }

    /// A ``Request/load(_:)``.
    package struct Load: Sendable, Equatable {
        /// Chosen by the parent; names the function in later requests.
        package var key: UInt64
        /// The function's name, for its sandbox's `argv[0]` and messages.
        package var name: String
        package var module: [UInt8]
        package var main: String
        package var limits: Limits
        package var initializationTimeout: Duration
        /// The function's native code (``NativeCompiler``'s image with its type descriptions),
        /// compiled by the parent; `nil` for the interpreter.
        package var native: [UInt8]?

        package init(key: UInt64, name: String, module: [UInt8], main: String, limits: Limits, initializationTimeout: Duration, native: [UInt8]? = nil) {
            self.native = native
            self.key = key
            self.name = name
            self.module = module
            self.main = main
            self.limits = limits
            self.initializationTimeout = initializationTimeout
        }
    }

    /// A ``Request/run(_:)``.
    package struct Run: Sendable, Equatable {
        package var key: UInt64
        /// The parameters, a JSON object, on the function's stdin.
        package var input: [UInt8]
        package var environment: [Pair]
        package var capabilities: Capabilities

        package init(key: UInt64, input: [UInt8], environment: [(String, String)], capabilities: Capabilities) {
            self.key = key
            self.input = input
            self.environment = environment.map { Pair(name: $0.0, value: $0.1) }
            self.capabilities = capabilities
        }
    }

    /// One environment variable (tuples are neither `Equatable` nor `Sendable`-checked).
    package struct Pair: Sendable, Equatable {
        package var name: String
        package var value: String
    }

    /// What a worker answers.
    package enum Reply: Sendable {
        /// The function loaded.
        case loaded(WorkerLoad)
        /// The invocation ran (whatever the function did) and the sandbox was rewound.
        case ran(Sandbox.Run)
        /// The request failed: the module did not load, the key is unknown, the sandbox is broken.
        case failed(EnclaveError)
    }

    private enum Tag: UInt8 {
        case load = 1, run = 2, unload = 3
        case loaded = 0x81, ran = 0x82, failed = 0x83
    }

    // MARK: Encoding

    /// The frame of a request: length and payload.
    package static func frame(_ request: Request) -> [UInt8] {
        var writer = Writer()
        switch request {
        case .load(let load):
            writer.byte(Tag.load.rawValue)
            writer.integer(load.key)
            writer.string(load.name)
            writer.bytes(load.module)
            writer.string(load.main)
            writer.limits(load.limits)
            writer.duration(load.initializationTimeout)
            writer.optional(load.native) { $0.bytes($1) }
        case .run(let run):
            writer.byte(Tag.run.rawValue)
            writer.integer(run.key)
            writer.bytes(run.input)
            writer.integer(UInt32(run.environment.count))
            for pair in run.environment {
                writer.string(pair.name)
                writer.string(pair.value)
            }
            writer.byte(run.capabilities.rawValue)
        case .unload(let key):
            writer.byte(Tag.unload.rawValue)
            writer.integer(key)
        }
        return writer.framed()
    }

    /// The frame of a reply: length and payload.
    package static func frame(_ reply: Reply) -> [UInt8] {
        var writer = Writer()
        switch reply {
        case .loaded(let load):
            writer.byte(Tag.loaded.rawValue)
            writer.string(load.kind.rawValue)
            writer.string(load.entry)
            writer.bytes(load.moduleDigest)
            writer.bytes(load.snapshotDigest)
            writer.bytes(load.initializationLogs)
            writer.optional(load.rebuildReason) { $0.string($1) }
            writer.string(load.tracking.rawValue)
        case .ran(let run):
            writer.byte(Tag.ran.rawValue)
            switch run.termination {
            case .returned: writer.byte(0)
            case .exited(let status): writer.byte(1); writer.integer(UInt32(bitPattern: status))
            case .trapped(let reason): writer.byte(2); writer.string(reason)
            case .timedOut: writer.byte(3)
            case .outOfFuel: writer.byte(4)
            case .stackExhausted: writer.byte(5)
            case .memoryExhausted: writer.byte(6)
            case .outputTooLarge: writer.byte(7)
            case .workerStopped(let reason): writer.byte(8); writer.string(reason)
            }
            writer.bytes(run.stdout)
            writer.bytes(run.stderr)
            writer.flag(run.logsTruncated)
            writer.duration(run.duration)
            writer.integer(run.sequence)
            switch run.rewind.kind {
            case .inPlace(let chunks): writer.byte(0); writer.integer(UInt64(max(0, chunks)))
            case .rebuilt(let reason): writer.byte(1); writer.string(reason)
            }
            writer.duration(run.rewind.duration)
            writer.string(run.rewind.tracking.rawValue)
        case .failed(let error):
            writer.byte(Tag.failed.rawValue)
            writer.string(error.code.rawValue)
            writer.string(error.message)
        }
        return writer.framed()
    }

    // MARK: Decoding

    /// Reads a request's payload (the frame without its length), as a worker does.
    package static func request(from payload: [UInt8]) throws(EnclaveError) -> Request {
        var reader = Reader(payload, side: "request")
        let tag = try reader.byte("tag")
        let request: Request
        switch Tag(rawValue: tag) {
        case .load:
            request = .load(Load(
                key: try reader.integer("key"), name: try reader.string("name"), module: try reader.bytes("module"),
                main: try reader.string("main"), limits: try reader.limits(), initializationTimeout: try reader.duration("initialization timeout"),
                native: try reader.optional("native code") { (reader: inout Reader) throws(EnclaveError) in try reader.bytes("native code") }))
        case .run:
            let key: UInt64 = try reader.integer("key")
            let input = try reader.bytes("input")
            let count: UInt32 = try reader.integer("environment count")
            // Each pair takes at least its two lengths: a count beyond that is a lie, refused
            // before anything is reserved for it.
            guard Int(count) <= reader.remaining / 8 else { throw reader.error("environment count \(count) exceeds what the payload holds") }
            var environment: [(String, String)] = []
            environment.reserveCapacity(Int(count))
            for _ in 0..<count {
                environment.append((try reader.string("environment name"), try reader.string("environment value")))
            }
            let capabilities = Capabilities(rawValue: try reader.byte("capabilities"))
            guard Capabilities.default.isSuperset(of: capabilities) else { throw reader.error("unknown capability bits \(capabilities.rawValue)") }
            request = .run(Run(key: key, input: input, environment: environment, capabilities: capabilities))
        case .unload:
            request = .unload(key: try reader.integer("key"))
        default:
            throw reader.error("unknown request tag \(tag)")
        }
        try reader.finish()
        return request
    }

    /// Reads a reply's payload (the frame without its length), as the parent does.
    package static func reply(from payload: [UInt8]) throws(EnclaveError) -> Reply {
        var reader = Reader(payload, side: "reply")
        let tag = try reader.byte("tag")
        let reply: Reply
        switch Tag(rawValue: tag) {
        case .loaded:
            let kindName = try reader.string("kind")
            guard let kind = FunctionModule.Kind(rawValue: kindName) else { throw reader.error("unknown module kind") }
            let entry = try reader.string("entry")
            let moduleDigest = try reader.bytes("module digest")
            let snapshotDigest = try reader.bytes("snapshot digest")
            guard moduleDigest.count == 32, snapshotDigest.count == 32 else { throw reader.error("a digest is not 32 bytes") }
            let logs = try reader.bytes("initialisation logs")
            let rebuildReason = try reader.optional("rebuild reason") { (reader: inout Reader) throws(EnclaveError) in try reader.string("rebuild reason") }
            let tracking = try reader.tracking()
            reply = .loaded(WorkerLoad(
                kind: kind, entry: entry, moduleDigest: moduleDigest, snapshotDigest: snapshotDigest,
                initializationLogs: logs, rebuildReason: rebuildReason, tracking: tracking))
        case .ran:
            let termination: Termination
            switch try reader.byte("termination") {
            case 0: termination = .returned
            case 1: termination = .exited(Int32(bitPattern: try reader.integer("exit status") as UInt32))
            case 2: termination = .trapped(try reader.string("trap reason"))
            case 3: termination = .timedOut
            case 4: termination = .outOfFuel
            case 5: termination = .stackExhausted
            case 6: termination = .memoryExhausted
            case 7: termination = .outputTooLarge
            case 8: termination = .workerStopped(try reader.string("stop reason"))
            case let other: throw reader.error("unknown termination \(other)")
            }
            let stdout = try reader.bytes("stdout")
            let stderr = try reader.bytes("stderr")
            let logsTruncated = try reader.flag("logs truncated")
            let duration = try reader.duration("duration")
            let sequence: UInt64 = try reader.integer("sequence")
            let kind: Rewind.Kind
            switch try reader.byte("rewind kind") {
            case 0:
                let chunks: UInt64 = try reader.integer("rewind chunks")
                guard chunks <= UInt64(Int.max) else { throw reader.error("rewind chunks out of range") }
                kind = .inPlace(chunks: Int(chunks))
            case 1: kind = .rebuilt(reason: try reader.string("rebuild reason"))
            case let other: throw reader.error("unknown rewind kind \(other)")
            }
            let rewind = Rewind(kind: kind, duration: try reader.duration("rewind duration"), tracking: try reader.tracking())
            reply = .ran(Sandbox.Run(
                termination: termination, stdout: stdout, stderr: stderr, logsTruncated: logsTruncated,
                duration: duration, sequence: sequence, rewind: rewind))
        case .failed:
            let codeName = try reader.string("error code")
            guard let code = EnclaveError.Code(rawValue: codeName) else { throw reader.error("unknown error code") }
            reply = .failed(EnclaveError(code, try reader.string("error message")))
        default:
            throw reader.error("unknown reply tag \(tag)")
        }
        try reader.finish()
        return reply
    }

    /// The payload length a frame header announces, refused beyond ``maximumFrame``.
    package static func payloadLength(header: [UInt8], side: String) throws(EnclaveError) -> Int {
        precondition(header.count == 4)
        let length = Int(header[0]) | Int(header[1]) << 8 | Int(header[2]) << 16 | Int(header[3]) << 24
        guard length <= maximumFrame else {
            throw EnclaveError(.invalidWorkerMessage, "a worker \(side) announces \(length) bytes, more than the \(maximumFrame >> 20) MiB a frame may hold; the peer is broken or hostile")
        }
        guard length > 0 else {
            throw EnclaveError(.invalidWorkerMessage, "a worker \(side) is empty (no tag); the peer is broken or hostile")
        }
        return length
    }

    // MARK: Fields

    private struct Writer {
        var payload: [UInt8] = []

        mutating func byte(_ value: UInt8) { payload.append(value) }
        mutating func flag(_ value: Bool) { payload.append(value ? 1 : 0) }

        mutating func integer<T: FixedWidthInteger & UnsignedInteger>(_ value: T) {
            withUnsafeBytes(of: value.littleEndian) { payload.append(contentsOf: $0) }
        }

        mutating func bytes(_ value: [UInt8]) {
            integer(UInt32(value.count))
            payload.append(contentsOf: value)
        }

        mutating func string(_ value: String) { bytes(Array(value.utf8)) }

        mutating func duration(_ value: Duration) { integer(UInt64(bitPattern: value.nanoseconds)) }

        mutating func optional<T>(_ value: T?, _ write: (inout Writer, T) -> Void) {
            guard let value else { return flag(false) }
            flag(true)
            write(&self, value)
        }

        mutating func limits(_ limits: Limits) {
            integer(UInt64(bitPattern: Int64(limits.memory)))
            duration(limits.timeout)
            optional(limits.fuel) { $0.integer($1) }
            integer(UInt64(bitPattern: Int64(limits.input)))
            integer(UInt64(bitPattern: Int64(limits.output)))
            integer(UInt64(bitPattern: Int64(limits.logs)))
            integer(UInt64(bitPattern: Int64(limits.stack)))
        }

        /// The length header, then the payload.
        func framed() -> [UInt8] {
            var frame: [UInt8] = []
            frame.reserveCapacity(4 + payload.count)
            withUnsafeBytes(of: UInt32(payload.count).littleEndian) { frame.append(contentsOf: $0) }
            frame.append(contentsOf: payload)
            return frame
        }
    }

    private struct Reader {
        let payload: [UInt8]
        var offset = 0
        /// "request" or "reply", for messages.
        let side: String

        init(_ payload: [UInt8], side: String) {
            self.payload = payload
            self.side = side
        }

        var remaining: Int { payload.count - offset }

        func error(_ problem: String) -> EnclaveError {
            EnclaveError(.invalidWorkerMessage, "a worker \(side) is malformed (\(problem)); the peer is broken or hostile")
        }

        mutating func byte(_ field: String) throws(EnclaveError) -> UInt8 {
            guard remaining >= 1 else { throw error("truncated in its \(field)") }
            defer { offset += 1 }
            return payload[offset]
        }

        mutating func flag(_ field: String) throws(EnclaveError) -> Bool {
            switch try byte(field) {
            case 0: return false
            case 1: return true
            case let other: throw error("\(field) is \(other), not 0 or 1")
            }
        }

        mutating func integer<T: FixedWidthInteger & UnsignedInteger>(_ field: String) throws(EnclaveError) -> T {
            let size = MemoryLayout<T>.size
            guard remaining >= size else { throw error("truncated in its \(field)") }
            var value: T = 0
            for index in 0..<size { value |= T(payload[offset + index]) << (8 * index) }
            offset += size
            return value
        }

        mutating func bytes(_ field: String) throws(EnclaveError) -> [UInt8] {
            let length: UInt32 = try integer("length of its \(field)")
            // Checked against what is there before anything is copied.
            guard Int(length) <= remaining else { throw error("its \(field) claims \(length) bytes but \(remaining) remain") }
            defer { offset += Int(length) }
            return Array(payload[offset..<offset + Int(length)])
        }

        mutating func string(_ field: String) throws(EnclaveError) -> String {
            let bytes = try bytes(field)
            guard let string = String(validating: bytes, as: UTF8.self) else { throw error("its \(field) is not UTF-8") }
            return string
        }

        mutating func duration(_ field: String) throws(EnclaveError) -> Duration {
            let nanoseconds = Int64(bitPattern: try integer(field) as UInt64)
            guard nanoseconds >= 0 else { throw error("its \(field) is negative") }
            return .nanoseconds(nanoseconds)
        }

        mutating func size(_ field: String) throws(EnclaveError) -> Int {
            let value = Int64(bitPattern: try integer(field) as UInt64)
            guard value >= 0 else { throw error("its \(field) is negative") }
            return Int(value)
        }

        mutating func optional<T>(_ field: String, _ read: (inout Reader) throws(EnclaveError) -> T) throws(EnclaveError) -> T? {
            try flag("presence of its \(field)") ? try read(&self) : nil
        }

        mutating func limits() throws(EnclaveError) -> Limits {
            Limits(
                memory: try size("memory limit"), timeout: try duration("timeout"),
                fuel: try optional("fuel") { (reader: inout Reader) throws(EnclaveError) in try reader.integer("fuel") },
                input: try size("input limit"), output: try size("output limit"), logs: try size("logs limit"), stack: try size("stack limit"))
        }

        mutating func tracking() throws(EnclaveError) -> Rewind.Tracking {
            guard let tracking = Rewind.Tracking(rawValue: try string("tracking")) else { throw error("unknown page tracking") }
            return tracking
        }

        /// Refuses bytes after the last field.
        func finish() throws(EnclaveError) {
            guard remaining == 0 else { throw error("\(remaining) bytes after its last field") }
        }
    }
}
