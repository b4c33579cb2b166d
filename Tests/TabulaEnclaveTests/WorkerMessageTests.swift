@testable import TabulaEnclave
import Testing

/// The worker protocol's frames: what each side sends is read back exactly, and every malformed
/// frame is refused with a clear error instead of a crash or an allocation of what it claims.
@Suite("Worker protocol")
struct WorkerMessageTests {
    static let load = WorkerMessage.Request.load(.init(
        key: 7, name: "tenant/fn", module: Array("(module)".utf8), main: "main",
        limits: Limits(memory: 4 << 20, timeout: .milliseconds(1500), fuel: 99, input: 10, output: 20, logs: 30, stack: 64 << 10),
        initializationTimeout: .seconds(3)))
    static let run = WorkerMessage.Request.run(.init(
        key: 7, input: Array(#"{"a":1}"#.utf8), environment: [("__OW_ACTIVATION_ID", "abc"), ("é", "")], capabilities: [.clock]))

    static let ran = Sandbox.Run(
        termination: .trapped("unreachable"), stdout: [1, 2, 3], stderr: Array("log\n".utf8), logsTruncated: true,
        duration: .nanoseconds(12345), sequence: 3, rewind: Rewind(kind: .rebuilt(reason: "grew"), duration: .nanoseconds(9), tracking: .signals))
    static let loaded = WorkerLoad(
        kind: .reactor, entry: "main", moduleDigest: Array(repeating: 1, count: 32), snapshotDigest: Array(repeating: 2, count: 32),
        initializationLogs: [], rebuildReason: nil, tracking: .userfaultfd)

    /// The payload of a frame, after checking its header.
    static func payload(_ frame: [UInt8]) throws -> [UInt8] {
        let length = try WorkerMessage.payloadLength(header: Array(frame.prefix(4)), side: "test")
        #expect(length == frame.count - 4)
        return Array(frame.dropFirst(4))
    }

    @Test func requestsRoundTrip() throws {
        for request in [Self.load, Self.run, .unload(key: .max)] {
            #expect(try WorkerMessage.request(from: Self.payload(WorkerMessage.frame(request))) == request)
        }
    }

    @Test func repliesRoundTrip() throws {
        let terminations: [Termination] = [.returned, .exited(-3), .trapped("x"), .timedOut, .outOfFuel, .stackExhausted, .memoryExhausted, .outputTooLarge]
        for termination in terminations {
            var run = Self.ran
            run.termination = termination
            run.rewind.kind = termination == .returned ? .inPlace(chunks: 17) : .rebuilt(reason: "r")
            guard case .ran(let read) = try WorkerMessage.reply(from: Self.payload(WorkerMessage.frame(.ran(run)))) else {
                Issue.record("not a ran reply")
                continue
            }
            #expect(read.termination == run.termination)
            #expect(read.stdout == run.stdout && read.stderr == run.stderr && read.logsTruncated == run.logsTruncated)
            #expect(read.duration == run.duration && read.sequence == run.sequence && read.rewind == run.rewind)
        }
        var loaded = Self.loaded
        loaded.rebuildReason = "the module uses table.set"
        for load in [Self.loaded, loaded] {
            guard case .loaded(let read) = try WorkerMessage.reply(from: Self.payload(WorkerMessage.frame(.loaded(load)))) else {
                Issue.record("not a loaded reply")
                continue
            }
            #expect(read == load)
        }
        let failure = EnclaveError(.invalidModule, "bad")
        guard case .failed(let read) = try WorkerMessage.reply(from: Self.payload(WorkerMessage.frame(.failed(failure)))) else {
            Issue.record("not a failed reply")
            return
        }
        #expect(read == failure)
    }

    /// Every truncation of every message, in both directions, is refused.
    @Test func truncatedPayloadsAreRefused() throws {
        let requests = try [Self.load, Self.run, .unload(key: 1)].map { try Self.payload(WorkerMessage.frame($0)) }
        for payload in requests {
            for length in 0..<payload.count {
                #expect(throws: EnclaveError.self) { try WorkerMessage.request(from: Array(payload.prefix(length))) }
            }
        }
        let replies = try [WorkerMessage.Reply.ran(Self.ran), .loaded(Self.loaded), .failed(EnclaveError(.invalidModule, "m"))].map { try Self.payload(WorkerMessage.frame($0)) }
        for payload in replies {
            for length in 0..<payload.count {
                let error = #expect(throws: EnclaveError.self) { try WorkerMessage.reply(from: Array(payload.prefix(length))) }
                #expect(error?.code == .invalidWorkerMessage)
            }
        }
    }

    @Test func oversizedAndEmptyFramesAreRefused() throws {
        let over = UInt32(WorkerMessage.maximumFrame + 1)
        let header = [UInt8(over & 0xFF), UInt8(over >> 8 & 0xFF), UInt8(over >> 16 & 0xFF), UInt8(over >> 24)]
        let error = #expect(throws: EnclaveError.self) { try WorkerMessage.payloadLength(header: header, side: "reply") }
        #expect(error?.code == .invalidWorkerMessage)
        #expect(error?.message.contains("80 MiB") == true)
        #expect(throws: EnclaveError.self) { try WorkerMessage.payloadLength(header: [0xFF, 0xFF, 0xFF, 0xFF], side: "reply") }
        #expect(throws: EnclaveError.self) { try WorkerMessage.payloadLength(header: [0, 0, 0, 0], side: "request") }
        #expect(try WorkerMessage.payloadLength(header: [0, 0, 0, 5], side: "request") == 5 << 24)
    }

    /// Unknown tags, and each side's messages sent the wrong way, are refused.
    @Test func unknownTagsAreRefused() throws {
        for tag in [0, 4, 0x80, 0x84, 0xFF] as [UInt8] {
            let error = #expect(throws: EnclaveError.self) { try WorkerMessage.reply(from: [tag]) }
            #expect(error?.message.contains("unknown reply tag \(tag)") == true)
            #expect(throws: EnclaveError.self) { try WorkerMessage.request(from: [tag]) }
        }
        #expect(throws: EnclaveError.self) { try WorkerMessage.reply(from: Self.payload(WorkerMessage.frame(Self.run))) }
        #expect(throws: EnclaveError.self) { try WorkerMessage.request(from: Self.payload(WorkerMessage.frame(.ran(Self.ran)))) }
    }

    @Test func lyingFieldsAreRefused() throws {
        // Bytes after the last field.
        let unload = try Self.payload(WorkerMessage.frame(.unload(key: 1)))
        #expect(throws: EnclaveError.self) { try WorkerMessage.request(from: unload + [0]) }
        // A byte string claiming 4 GiB: refused without allocating it.
        var run = try Self.payload(WorkerMessage.frame(Self.run))
        run.replaceSubrange(9..<13, with: [0xFF, 0xFF, 0xFF, 0xFF])
        let error = #expect(throws: EnclaveError.self) { try WorkerMessage.request(from: run) }
        #expect(error?.message.contains("claims 4294967295 bytes") == true)
        // An environment count far beyond what the payload holds.
        let lying: [UInt8] = [2] + Array(repeating: 0, count: 8) + [0, 0, 0, 0] + [0xFF, 0xFF, 0xFF, 0x7F] + [0]
        let count = #expect(throws: EnclaveError.self) { try WorkerMessage.request(from: lying) }
        #expect(count?.message.contains("environment count") == true)
        // A flag that is neither 0 nor 1, unknown capability bits, a string that is not UTF-8.
        var loaded = try Self.payload(WorkerMessage.frame(.loaded(Self.loaded)))
        let flag = loaded.count - 4 - "userfaultfd".utf8.count - 1
        #expect(loaded[flag] == 0)
        loaded[flag] = 2
        #expect(throws: EnclaveError.self) { try WorkerMessage.reply(from: loaded) }
        var capabilities = try Self.payload(WorkerMessage.frame(Self.run))
        capabilities[capabilities.count - 1] = 0x80
        #expect(throws: EnclaveError.self) { try WorkerMessage.request(from: capabilities) }
        let failed: [UInt8] = [0x83, 2, 0, 0, 0, 0xC3, 0x28, 0, 0, 0, 0]
        let utf8 = #expect(throws: EnclaveError.self) { try WorkerMessage.reply(from: failed) }
        #expect(utf8?.message.contains("not UTF-8") == true)
        // A negative duration or limit.
        var load = try Self.payload(WorkerMessage.frame(Self.load))
        let memory = 1 + 8 + 4 + "tenant/fn".utf8.count + 4 + "(module)".utf8.count + 4 + "main".utf8.count
        load.replaceSubrange(memory..<memory + 8, with: Array(repeating: 0xFF, count: 8))
        #expect(throws: EnclaveError.self) { try WorkerMessage.request(from: load) }
    }
}
