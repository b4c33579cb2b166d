import Foundation

/// Finds the worker processes (`tabula worker --namespace N`) that a process started: what the
/// isolation tests kill, inspect and search.
package enum WorkerProcesses {
    /// The live (not zombie) children of `parent` that are workers of `namespace`.
    package static func of(_ namespace: String, parent: Int32 = getpid()) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry -> Int32? in
            guard let pid = Int32(entry),
                let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
                status.split(separator: "\n").contains("PPid:\t\(parent)"),
                !status.contains("State:\tZ"),
                let command = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))
            else { return nil }
            let arguments = command.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            guard arguments.dropFirst().first == "worker", let flag = arguments.firstIndex(of: "--namespace"),
                arguments.indices.contains(flag + 1), arguments[flag + 1] == namespace
            else { return nil }
            return pid
        }
    }
}
