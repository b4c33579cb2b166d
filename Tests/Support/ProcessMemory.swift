import Foundation

/// Searches another process's memory (`/proc/PID/maps` and `/proc/PID/mem`) for a byte string:
/// what the tests use to show that a worker holds what one invocation brought and no key.
///
/// The reader needs ptrace access to the process (its parent as root, or a dumpable process of the
/// same user with ptrace_scope 0); a region that cannot be read (vvar, guard pages) is skipped
/// and counted.
package enum ProcessMemory {
    package struct Search {
        /// Whether `needle` was found in a readable mapping.
        package var found: Bool
        /// Bytes read.
        package var bytesRead: Int
        /// Readable mappings that could not be read.
        package var unreadable: Int
    }

    package static func search(pid: Int32, for needle: [UInt8]) throws -> Search {
        precondition(!needle.isEmpty)
        let maps = try String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8)
        let memory = open("/proc/\(pid)/mem", O_RDONLY)
        guard memory >= 0 else { throw CocoaError(.fileReadNoPermission, userInfo: [NSFilePathErrorKey: "/proc/\(pid)/mem: errno \(errno)"]) }
        defer { close(memory) }
        var result = Search(found: false, bytesRead: 0, unreadable: 0)
        let chunk = 1 << 20
        var buffer = [UInt8](repeating: 0, count: chunk + needle.count)
        for line in maps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 2, fields[1].hasPrefix("r") else { continue }
            let range = fields[0].split(separator: "-")
            guard range.count == 2, let start = UInt64(range[0], radix: 16), let end = UInt64(range[1], radix: 16) else { continue }
            var offset = start
            var carried = 0
            while offset < end {
                let want = Int(min(UInt64(chunk), end - offset))
                let count = buffer.withUnsafeMutableBytes { pread(memory, $0.baseAddress! + carried, want, off_t(truncatingIfNeeded: offset)) }
                guard count > 0 else {
                    result.unreadable += 1
                    break
                }
                result.bytesRead += count
                let window = buffer[0..<(carried + count)]
                if window.firstRange(of: needle) != nil {
                    result.found = true
                    return result
                }
                // Keep the tail, so that a needle across two chunks is found.
                carried = min(needle.count - 1, carried + count)
                let tail = Array(window.suffix(carried))
                buffer.replaceSubrange(0..<carried, with: tail)
                offset += UInt64(count)
            }
        }
        return result
    }
}
