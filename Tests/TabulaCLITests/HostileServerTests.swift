import Foundation
import Testing

/// The CLI against a server that lies: a hostile operator (or anyone in the middle of a plain HTTP
/// connection) names things the CLI must not turn into paths or terminal output unchecked.
@Suite("Hostile server")
struct HostileServerTests {
    /// A one-file HTTP server (Python's standard library) that answers every request with `status`
    /// and `body`, and prints its port once it listens.
    private final class FakeServer {
        let process = Process()
        let port: Int

        init(status: Int, body: String) throws {
            let script = """
            import http.server, sys
            body = sys.argv[2].encode()
            class Handler(http.server.BaseHTTPRequestHandler):
                def answer(self):
                    length = int(self.headers.get("content-length") or 0)
                    if length: self.rfile.read(length)
                    self.send_response(int(sys.argv[1]))
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                do_GET = do_POST = do_PUT = do_DELETE = answer
                def log_message(self, *args): pass
            server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
            with open(sys.argv[3] + ".tmp", "w") as f: f.write("%d\\n" % server.server_address[1])
            import os; os.rename(sys.argv[3] + ".tmp", sys.argv[3])
            server.serve_forever()
            """
            // The server writes its port to a file once it listens; polled for at most 10 s.
            let portFile = FileManager.default.temporaryDirectory.appendingPathComponent("tabula-fake-server-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: portFile) }
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", "-c", script, String(status), body, portFile.path]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            var port: Int?
            for _ in 0..<200 where port == nil {
                if let text = try? String(contentsOf: portFile, encoding: .utf8), text.hasSuffix("\n") { port = Int(text.dropLast()) }
                if port == nil { Thread.sleep(forTimeInterval: 0.05) }
            }
            guard let port else {
                kill(process.processIdentifier, SIGKILL)
                throw CocoaError(.fileReadCorruptFile, userInfo: [NSLocalizedDescriptionKey: "the fake server did not start"])
            }
            self.port = port
        }

        deinit {
            // SIGKILL: Python's HTTP server may sit in a system call that SIGTERM does not end.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    @Test("an activation id that is a path or holds escape sequences is refused, and nothing is written")
    func hostileActivationID() async throws {
        let marker = "tabula-hostile-\(UUID().uuidString)"
        let hostile = "../../\(marker)\u{1B}]0;pwned\u{07}"
        let body = String(decoding: try JSONSerialization.data(withJSONObject: ["activationId": hostile]), as: UTF8.self)
        let server = try FakeServer(status: 202, body: body)
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("tabula-hostile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: home) }
        let environment = [
            "TABULA_APIHOST": "http://127.0.0.1:\(server.port)",
            "TABULA_AUTH": "\(UUID().uuidString.lowercased()):\(String(repeating: "k", count: 64))",
            "TABULA_CONFIG_DIR": home.path,
        ]
        let output = try await RunCommandTests.tabula(["action", "invoke", "anything", "--plain", "-p", "a", "1"], environment: environment)
        #expect(output.status != 0)
        #expect(output.stderr.contains("not 32 lowercase hex digits"), "\(output.stderr)")
        for text in [output.stdout, output.stderr] {
            #expect(!text.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 }, "raw control characters reached the terminal")
        }
        // Nothing was written where "../../" leads from the configuration directory, its tickets
        // folder or the working directory.
        let folders = [home, home.deletingLastPathComponent(), home.deletingLastPathComponent().deletingLastPathComponent(),
                       RunCommandTests.repository, RunCommandTests.repository.deletingLastPathComponent()]
        for folder in folders {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
            #expect(!names.contains { $0.contains(marker) }, "a file named by the server appeared in \(folder.path)")
        }
    }
}
