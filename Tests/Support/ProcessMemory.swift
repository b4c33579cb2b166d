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
        let result = try search(pid: pid, forAny: [needle])
        return Search(found: result.found[0], bytesRead: result.bytesRead, unreadable: result.unreadable)
    }

    /// Searches for several byte strings in one pass; `found[i]` says whether `needles[i]` was.
    ///
    /// - Parameter runtimeDataOnly: skip read-only mappings of files (the program's code and
    ///   constants), which cannot hold bytes made at run time such as a key: the search is then
    ///   over the heap, stacks, anonymous and writable mappings only, and much faster.
    package static func search(pid: Int32, forAny needles: [[UInt8]], runtimeDataOnly: Bool = false) throws -> (found: [Bool], bytesRead: Int, unreadable: Int) {
        precondition(!needles.isEmpty && needles.allSatisfy { !$0.isEmpty })
        let maps = try String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8)
        let memory = open("/proc/\(pid)/mem", O_RDONLY)
        guard memory >= 0 else { throw CocoaError(.fileReadNoPermission, userInfo: [NSFilePathErrorKey: "/proc/\(pid)/mem: errno \(errno)"]) }
        defer { close(memory) }
        var found = [Bool](repeating: false, count: needles.count)
        var bytesRead = 0
        var unreadable = 0
        let longest = needles.map(\.count).max()!
        let chunk = 1 << 20
        var buffer = [UInt8](repeating: 0, count: chunk + longest)
        for line in maps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 2, fields[1].hasPrefix("r") else { continue }
            // A path (or [vvar] and the like) in the sixth field; "w" in the permissions.
            if runtimeDataOnly, !fields[1].contains("w"), fields.count >= 6, fields[5].hasPrefix("/") { continue }
            let range = fields[0].split(separator: "-")
            guard range.count == 2, let start = UInt64(range[0], radix: 16), let end = UInt64(range[1], radix: 16) else { continue }
            var offset = start
            var carried = 0
            while offset < end {
                let want = Int(min(UInt64(chunk), end - offset))
                let count = buffer.withUnsafeMutableBytes { pread(memory, $0.baseAddress! + carried, want, off_t(truncatingIfNeeded: offset)) }
                guard count > 0 else {
                    unreadable += 1
                    break
                }
                bytesRead += count
                let window = buffer[0..<(carried + count)]
                // memchr and memcmp: a byte-by-byte search in Swift takes minutes over a debug build's memory.
                window.withUnsafeBytes { haystack in
                    for index in needles.indices where !found[index] {
                        found[index] = needles[index].withUnsafeBytes { contains(haystack, $0) }
                    }
                }
                if !found.contains(false) { return (found, bytesRead, unreadable) }
                // Keep the tail, so that a needle across two chunks is found.
                carried = min(longest - 1, carried + count)
                let tail = Array(window.suffix(carried))
                buffer.replaceSubrange(0..<carried, with: tail)
                offset += UInt64(count)
            }
        }
        return (found, bytesRead, unreadable)
    }

    /// Whether `needle` occurs in `haystack` (glibc's memmem is not visible to Swift).
    private static func contains(_ haystack: UnsafeRawBufferPointer, _ needle: UnsafeRawBufferPointer) -> Bool {
        guard needle.count <= haystack.count, let base = haystack.baseAddress, let pattern = needle.baseAddress else { return false }
        let first = Int32(needle[0])
        let last = base + (haystack.count - needle.count)
        var cursor = base
        while cursor <= last {
            guard let hit = memchr(cursor, first, last - cursor + 1) else { return false }
            if memcmp(hit, pattern, needle.count) == 0 { return true }
            cursor = UnsafeRawPointer(hit) + 1
        }
        return false
    }
}
