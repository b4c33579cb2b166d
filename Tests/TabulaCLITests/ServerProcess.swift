import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Synchronization

/// A real `tabula serve` (or `tabula broker`) process on 127.0.0.1 and a free port, with its own
/// data directory.
final class ServerProcess: Sendable {
    let dataDirectory: URL
    let port: Int
    private let process: Process
    private let output = Output()
    private let errorOutput = Output()

    /// What the process printed so far; the pipe's handler appends to it from another thread.
    private final class Output: Sendable {
        let text = Mutex("")
    }

    var apiHost: URL { URL(string: "http://127.0.0.1:\(port)")! }
    /// The server's process id (its workers are its children).
    var processID: Int32 { process.processIdentifier }
    var auth: String {
        get throws { try String(contentsOf: dataDirectory.appendingPathComponent("auth"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) }
    }
    var stdout: String { output.text.withLock { $0 } }
    var stderr: String { errorOutput.text.withLock { $0 } }

    /// Starts the server and waits until it listens.
    ///
    /// - Parameters:
    ///   - command: `serve`, or `broker` for the key broker.
    ///   - arguments: more options for the command.
    init(command: String = "serve", dataDirectory: URL? = nil, arguments: [String] = []) async throws {
        let directory = dataDirectory ?? FileManager.default.temporaryDirectory.appendingPathComponent("tabula-live-\(UUID().uuidString)")
        self.dataDirectory = directory
        process = Process()
        process.executableURL = try RunCommandTests.executable
        process.arguments = [command, "--host", "127.0.0.1", "--port", "0", "--data-dir", directory.path] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        let errorPipe = Pipe()
        process.standardError = errorPipe
        for (pipe, output) in [(pipe, self.output), (errorPipe, self.errorOutput)] {
            pipe.fileHandleForReading.readabilityHandler = { handle in
                let data = handle.availableData
                output.text.withLock { $0 += String(decoding: data, as: UTF8.self) }
            }
        }
        try process.run()
        let deadline = ContinuousClock.now + .seconds(60)
        var found: Int?
        while found == nil, ContinuousClock.now < deadline, process.isRunning {
            try await Task.sleep(for: .milliseconds(50))
            let text = output.text.withLock { $0 }
            if let range = text.range(of: "listening on http://127.0.0.1:") {
                found = Int(text[range.upperBound...].prefix { $0.isNumber })
            }
        }
        guard let found else {
            process.terminate()
            throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "tabula \(command) did not start: \(output.text.withLock { $0 }) \(errorOutput.text.withLock { $0 }.suffix(2000))"])
        }
        port = found
    }

    /// Kills the process without warning (SIGKILL).
    func kill() {
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Asks the process to stop (SIGTERM) and returns its exit status.
    func terminate() -> Int32 {
        process.terminate()
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Sends SIGTERM and waits at most `bound` for the process to exit: its exit status, or
    /// `nil` if it was still running (it is then killed, so that no test leaves it behind).
    func terminate(within bound: Duration) async throws -> Int32? {
        process.terminate()
        let deadline = ContinuousClock.now + bound
        while process.isRunning, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        guard !process.isRunning else {
            kill()
            return nil
        }
        process.waitUntilExit()
        return process.terminationStatus
    }

    func removeData() {
        try? FileManager.default.removeItem(at: dataDirectory)
    }

    /// `GET /api/v1/namespaces/_/activations/{id}` with `authorization`: the status and the body.
    func activation(_ id: String, authorization: String) async throws -> (status: Int?, body: Data) {
        var request = URLRequest(url: apiHost.appendingPathComponent("api/v1/namespaces/_/activations/\(id)"))
        request.setValue(authorization, forHTTPHeaderField: "Authorization")
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode, data)
    }
}
