import CPageTracker
import WasmKit

/// The pages of a sandbox's linear memory written since the last rewind, tracked by write
/// protection: what lets a rewind cost the pages written rather than the memory size.
///
/// After the snapshot, and after every rewind, the whole memory is read-only. The first write to a
/// page (by the function, or by the WASI host copying input in) faults; the handler in
/// `CPageTracker` marks the page and makes it writable, and the write goes on. The rewind copies
/// the marked pages back from the snapshot and protects them again.
///
/// Only WasmKit's mprotect-backed memories are tracked: they are page-aligned mappings whose
/// address never changes. Anything else (no memory, a malloc-backed memory, no free slot) gets no
/// tracker, and the sandbox rewinds by comparing every page with the snapshot.
final class DirtyPages {
    private let base: UnsafeMutableRawPointer
    private let length: Int
    private let slot: Int32
    private let dirty: UnsafeMutableBufferPointer<UInt8>
    static let pageSize = Int(tabula_page_tracker_page_size())

    /// Whether the handler is installed, after WasmKit's own, and a write to a protected page is
    /// seen to fault (where protection is not enforced, tracking would miss writes).
    static let available: Bool = {
        // WasmKit installs its trap guard on first execution; ours must come after it, to see write
        // faults first. Running an empty function makes WasmKit install its guard now.
        let engine = Engine(configuration: EngineConfiguration(memoryBoundsChecking: .mprotect))
        guard engine.configuration.memoryBoundsChecking == .mprotect,
              let module = try? parseWasm(bytes: [0, 0x61, 0x73, 0x6D, 1, 0, 0, 0, 1, 4, 1, 0x60, 0, 0, 3, 2, 1, 0, 5, 3, 1, 0, 1, 7, 5, 1, 1, 102, 0, 0, 10, 4, 1, 2, 0, 0x0B]),
              let instance = try? module.instantiate(store: Store(engine: engine)),
              let function = instance.exports[function: "f"],
              (try? function.invoke()) != nil
        else { return false }
        return tabula_page_tracker_install() == 0 && tabula_page_tracker_self_test() == 0
    }()

    /// Starts tracking `memory`, now read-only; `nil` when it cannot be tracked.
    init?(memory: Memory?, engine: Engine) {
        guard let memory, memory.byteCount > 0, engine.configuration.memoryBoundsChecking == .mprotect, Self.available else { return nil }
        let count = memory.byteCount
        guard let start = memory.withUnsafeMutableBufferPointer(offset: 0, count: count, { $0.baseAddress }),
              Int(bitPattern: start) % Self.pageSize == 0, count % Self.pageSize == 0
        else { return nil }
        base = start
        length = count
        dirty = .allocate(capacity: count / Self.pageSize)
        dirty.initialize(repeating: 0)
        slot = tabula_page_tracker_register(start, count, dirty.baseAddress)
        guard slot >= 0 else {
            dirty.deallocate()
            return nil
        }
        guard tabula_page_tracker_protect(start, count, 0) == 0 else {
            tabula_page_tracker_unregister(slot)
            dirty.deallocate()
            return nil
        }
    }

    deinit {
        // Writable again before anyone else may see the mapping (WasmKit unmaps it with its store).
        _ = tabula_page_tracker_protect(base, length, 1)
        tabula_page_tracker_unregister(slot)
        dirty.deallocate()
    }

    /// Copies every page written since the last call back from `snapshot`, write-protects it again
    /// and returns how many there were.
    ///
    /// - Returns: `nil` when a page could not be protected again; the caller must stop using the
    ///   tracker (and rebuild, so that no write goes unseen).
    func restore(from snapshot: UnsafeRawPointer) -> Int? {
        var restored = 0
        var page = 0
        var first = -1
        var last = -1
        let pages = dirty.count
        while page < pages {
            guard dirty[page] != 0 else {
                page += 1
                continue
            }
            // A run of written pages is copied in one go.
            var end = page
            while end < pages, dirty[end] != 0 {
                dirty[end] = 0
                end += 1
            }
            let offset = page * Self.pageSize
            (base + offset).copyMemory(from: snapshot + offset, byteCount: (end - page) * Self.pageSize)
            if first < 0 { first = page }
            last = end
            restored += end - page
            page = end
        }
        // One protection change over the span of written pages: each `mprotect` costs a TLB
        // shootdown on every core running this process, far more than re-protecting the read-only
        // pages in between, so one call beats one per run.
        if first >= 0, tabula_page_tracker_protect(base + first * Self.pageSize, (last - first) * Self.pageSize, 0) != 0 {
            return nil
        }
        return restored
    }
}
