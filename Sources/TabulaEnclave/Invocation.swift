public import TabulaWire

/// The outcome of one invocation: OpenWhisk's activation response plus what the runtime observed.
public struct Invocation: Sendable {
    public var activationID: String
    public var response: ActivationResponse
    /// stderr, one entry per line; ends with OpenWhisk's truncation notice when the logs limit cut it.
    public var logs: [String]
    /// How long the function ran (excluding the rewind).
    public var duration: Duration
    /// The sandbox that ran it, and its sequence number there (1 for its first invocation).
    public var sandbox: Int
    public var sequence: UInt64
    /// The rewind that followed.
    public var rewind: Rewind
    /// SHA-256 of the snapshot the invocation started from.
    public var snapshotDigest: [UInt8]
    /// The engine that ran it.
    public var engine: ExecutionEngine = .interpreter
}

extension Invocation {
    /// Reads a run's stdout and termination the way OpenWhisk reads an action's.
    static func response(for run: Sandbox.Run, limits: Limits) -> ActivationResponse {
        switch run.termination {
        case .returned:
            return result(from: run.stdout) ?? .developerError(Messages.notADictionary)
        case .exited(let status):
            return result(from: run.stdout) ?? .developerError("The action did not produce a valid response and exited unexpectedly (exit status \(status)).")
        case .timedOut:
            return .developerError("The action exceeded its time limits of \(limits.timeoutMilliseconds) milliseconds.")
        case .outOfFuel:
            return .developerError("The action ran out of fuel: its limit is \(limits.fuel ?? 0) units.")
        case .stackExhausted:
            return .developerError("The action exhausted its call stack (\(limits.stack / 1024) KiB).")
        case .memoryExhausted:
            return .developerError("The action exhausted its memory and was aborted.")
        case .outputTooLarge:
            return .developerError("The action produced more than \(limits.output) bytes of output.")
        case .trapped(let reason):
            return .developerError("The action trapped: \(reason).")
        case .workerStopped(let reason):
            return .developerError("The worker running this action stopped: \(reason).")
        }
    }

    /// How deep a result may nest: the activation record holds it a few levels further in (under
    /// `response.result`, in a list), and the record must still be readable with the parser's default
    /// depth, ``JSONValue/maximumDepth``.
    static let maximumResultDepth = JSONValue.maximumDepth - 12

    /// A JSON object or array on stdout, as a response; `nil` when stdout is anything else.
    private static func result(from stdout: [UInt8]) -> ActivationResponse? {
        let value: JSONValue
        do {
            value = try JSONValue(parsing: stdout, maximumDepth: maximumResultDepth)
        } catch {
            guard JSONValue.isTooDeep(error) else { return nil }
            return .developerError("The action's result nests deeper than \(maximumResultDepth) levels.")
        }
        switch value {
        case .object(let members):
            return ActivationResponse(status: members["error"] == nil ? .success : .applicationError, result: value)
        case .array:
            return ActivationResponse(status: .success, result: value)
        default:
            return nil
        }
    }

    /// Splits stderr into lines, at most as many as the platform could store under `limit`
    /// (each stored line costs at least ``storedLineOverhead`` bytes): up to 10 MB of newlines
    /// must not become millions of strings only for the platform to drop all but the first few
    /// thousand. The bytes themselves were already bounded by `limit` as the function wrote them.
    ///
    /// - Parameter limit: the logs limit in bytes; 0 or less splits everything.
    static func logLines(_ stderr: [UInt8], truncated: Bool, limit: Int) -> [String] {
        let maximumLines = limit > 0 ? limit / storedLineOverhead : Int.max
        var lines: [String] = []
        var cut = truncated
        var start = stderr.startIndex
        while start < stderr.endIndex {
            guard lines.count < maximumLines else {
                cut = true
                break
            }
            let end = stderr[start...].firstIndex(of: UInt8(ascii: "\n")) ?? stderr.endIndex
            lines.append(String(decoding: stderr[start..<end], as: UTF8.self))
            start = end + 1
        }
        if cut {
            lines.append(truncationNotice(limit: limit))
        }
        return lines
    }

    /// What the platform adds to each stored line: the prefix `<ISO 8601 time with milliseconds>
    /// stderr: ` (33 bytes), JSON's two quotes and a comma, as `Platform.format` counts.
    static let storedLineOverhead = 36

    /// OpenWhisk's last log line when the logs limit cut them: the enclave's and the platform's.
    package static func truncationNotice(limit: Int) -> String {
        "Logs were truncated because the total bytes size exceeds the limit of \(limit) bytes."
    }
}

/// OpenWhisk's wording, where the runtime says the same thing.
enum Messages {
    static let notADictionary = "The action did not return a dictionary or array."
}
