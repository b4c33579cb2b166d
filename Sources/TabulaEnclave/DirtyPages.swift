import CPageTracker
import WasmKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The pages of a sandbox's linear memory written since the last rewind, tracked by write
/// protection: what lets a rewind cost the pages written rather than the memory size.
///
/// After the snapshot, and after every rewind, the whole memory is write-protected, and the first
/// write to each page (by the function, or by the WASI host copying input in) is noticed. Two
/// mechanisms do that, and the process uses the first whose self-test passes (see
/// ``processTracking``):
///
/// - ``Rewind/Tracking/userfaultfd``: userfaultfd's asynchronous write protection (Linux 6.7 and
///   later). The kernel resolves the fault itself, with no signal and no change to the mapping; the
///   rewind asks it for the written pages with one PAGEMAP_SCAN. Cheapest: a write fault costs no
///   signal, no `mprotect` and no TLB shootdown.
/// - ``Rewind/Tracking/signals``: `mprotect` to read-only, and a SIGSEGV handler in `CPageTracker`
///   that marks the page and makes it writable again. Works wherever `mprotect` is enforced, on
///   Linux before 6.7, under a seccomp filter that refuses userfaultfd, and on macOS.
///
/// Either way the rewind copies the written pages back from the snapshot. It then leaves them
/// writable, as long as there are at most ``writableLimit`` of them: protecting a page again costs
/// a TLB shootdown on every core that runs this process (an inter-processor interrupt, waited for),
/// which under load cost more than the whole rest of a small function's invocation, while copying
/// a page back costs a fraction of a microsecond. A page left writable is reported as written by
/// every later rewind, so it is copied back every time, whether the function wrote it or not:
/// the working set a function writes on every call (its stack, its input and output buffers) ends
/// up never protected, and copied back at each rewind. When the pages written or left writable
/// exceed the limit, all of them are protected again and the working set starts over.
/// Only WasmKit's mprotect-backed memories are tracked: they are page-aligned mappings whose address
/// never changes. Anything else (no memory, a malloc-backed memory, no free slot, neither mechanism
/// working) gets no tracker, and the sandbox rewinds by comparing every page with the snapshot.
package final class DirtyPages {
    /// What the mechanism keeps per memory.
    private enum State {
        /// The signal handler's slot and its dirty map, one byte per page.
        case signals(slot: Int32, dirty: UnsafeMutableBufferPointer<UInt8>)
        /// Where PAGEMAP_SCAN reports the written runs; a rewind with more runs scans in batches.
        case userfaultfd(regions: UnsafeMutableBufferPointer<tabula_written_region_t>)
    }

    let tracking: Rewind.Tracking
    private let state: State
    /// How many written pages a rewind may leave writable.
    let writableLimit: Int
    /// 32 pages (128 KiB): copying them back costs a few microseconds, about one TLB shootdown.
    package static let defaultWritableLimit = 32
    private let base: UnsafeMutableRawPointer
    private let length: Int
    static let pageSize = Int(tabula_page_tracker_page_size())
    /// Written runs reported per PAGEMAP_SCAN call.
    private static let regionBatch = 64
    /// The unwritten gap between written runs beyond which they are protected again by separate
    /// calls rather than one over both: an ioctl costs about 1 µs, walking the gap's page table
    /// entries about 1 ns each (measured on Linux 6.18, x86-64), so 1,024 pages.
    private static let protectionGap = UInt64(1024 * pageSize)

    /// The tracking every sandbox of this process uses, chosen once: the first of userfaultfd and
    /// signals whose self-test passes, else comparison.
    ///
    /// The environment variable `TABULA_PAGE_TRACKING` (`userfaultfd`, `signals` or `compare`)
    /// forces one, for tests and benchmarks; a forced mechanism that fails its self-test gives
    /// comparison rather than the other mechanism, so a measurement never silently measures
    /// something else.
    static let processTracking: Rewind.Tracking = {
        let forced = getenv("TABULA_PAGE_TRACKING").map { String(cString: $0) }
        switch forced {
        case "userfaultfd": return works(.userfaultfd) ? .userfaultfd : .comparison
        case "signals": return works(.signals) ? .signals : .comparison
        case "compare": return .comparison
        default:
            if works(.userfaultfd) { return .userfaultfd }
            if works(.signals) { return .signals }
            return .comparison
        }
    }()

    /// Whether `tracking` passed its self-test in this process (each is run at most once).
    static func works(_ tracking: Rewind.Tracking) -> Bool {
        switch tracking {
        case .userfaultfd: return userfaultfdWorks
        case .signals: return signalsWork
        case .comparison: return true
        }
    }

    /// Whether asynchronous write protection and PAGEMAP_SCAN report exactly the pages written, on a
    /// scratch mapping (the kernel may be too old, a seccomp filter or a library OS may refuse
    /// userfaultfd, and the descriptors must open).
    private static let userfaultfdWorks = tabula_uffd_self_test() == 0

    /// Whether the signal handler is installed, after WasmKit's own, and a write to a protected page
    /// is seen to fault (where protection is not enforced, tracking would miss writes).
    private static let signalsWork: Bool = {
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

    /// Starts tracking `memory` with `tracking`, the whole memory now write-protected; `nil` when it
    /// cannot be tracked that way (or `tracking` is comparison).
    convenience init?(memory: Memory?, engine: Engine, tracking: Rewind.Tracking = DirtyPages.processTracking, writableLimit: Int = DirtyPages.defaultWritableLimit) {
        guard let memory, memory.byteCount > 0, engine.configuration.memoryBoundsChecking == .mprotect else { return nil }
        let count = memory.byteCount
        guard let start = memory.withUnsafeMutableBufferPointer(offset: 0, count: count, { $0.baseAddress }) else { return nil }
        self.init(region: start, count: count, tracking: tracking, writableLimit: writableLimit)
    }

    /// Starts tracking `count` bytes at `start`, a page-aligned mapping of this process that stays
    /// mapped, at the same address, for the tracker's lifetime (the native engine's memories).
    init?(region start: UnsafeMutableRawPointer, count: Int, tracking: Rewind.Tracking = DirtyPages.processTracking, writableLimit: Int = DirtyPages.defaultWritableLimit) {
        guard tracking != .comparison, count > 0, Self.works(tracking),
              Int(bitPattern: start) % Self.pageSize == 0, count % Self.pageSize == 0
        else { return nil }
        switch tracking {
        case .userfaultfd:
            guard tabula_uffd_register(start, count) == 0 else { return nil }
            guard tabula_uffd_protect(start, count) == 0 else {
                _ = tabula_uffd_unregister(start, count)
                return nil
            }
            state = .userfaultfd(regions: .allocate(capacity: Self.regionBatch))
        case .signals:
            let dirty = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: count / Self.pageSize)
            dirty.initialize(repeating: 0)
            let slot = tabula_page_tracker_register(start, count, dirty.baseAddress)
            guard slot >= 0 else {
                dirty.deallocate()
                return nil
            }
            guard tabula_page_tracker_protect(start, count, 0) == 0 else {
                tabula_page_tracker_unregister(slot)
                dirty.deallocate()
                return nil
            }
            state = .signals(slot: slot, dirty: dirty)
        case .comparison:
            return nil
        }
        self.tracking = tracking
        self.writableLimit = writableLimit
        base = start
        length = count
    }

    deinit {
        // Back to an ordinary mapping while it certainly exists: WasmKit unmaps it with its store.
        switch state {
        case .userfaultfd(let regions):
            _ = tabula_uffd_unregister(base, length)
            regions.deallocate()
        case .signals(let slot, let dirty):
            _ = tabula_page_tracker_protect(base, length, 1)
            tabula_page_tracker_unregister(slot)
            dirty.deallocate()
        }
    }

    /// Copies every page written since the last call (or left writable by it) back from
    /// `snapshot`, write-protects them again unless they are few (``writableLimit``), and returns
    /// how many were copied.
    ///
    /// - Returns: `nil` when the written pages could not be listed or protected again; the caller
    ///   must stop using the tracker (and rebuild, so that no write goes unseen).
    func restore(from snapshot: UnsafeRawPointer) -> Int? {
        switch state {
        case .userfaultfd(let regions): return restoreScanned(from: snapshot, regions: regions)
        case .signals(_, let dirty): return restoreMarked(from: snapshot, dirty: dirty)
        }
    }

    /// The userfaultfd rewind: the kernel lists the written runs (the pages that lost their
    /// write-protect bit, including those left writable); they are writable, so copying into them
    /// marks nothing new.
    private func restoreScanned(from snapshot: UnsafeRawPointer, regions: UnsafeMutableBufferPointer<tabula_written_region_t>) -> Int? {
        let start = UInt64(UInt(bitPattern: base))
        let end = start + UInt64(length)
        var from = start
        var restored = 0
        // The spans to protect again if the written pages are too many to leave writable: runs less
        // than `protectionGap` apart are protected together.
        var spans: [Range<UInt64>] = []
        // The scan walks the page tables of the range, so it costs the memory size (about 0.3 µs
        // per MiB), not the pages written: only the memory, not WasmKit's reservation, is scanned.
        while from < end {
            var walkEnd: UInt64 = 0
            let count = tabula_uffd_scan(UnsafeMutableRawPointer(bitPattern: UInt(from)), Int(end - from), regions.baseAddress, regions.count, &walkEnd)
            guard count >= 0, walkEnd > from, walkEnd <= end else { return nil }
            for region in regions.prefix(count) {
                // The kernel reports ascending, disjoint runs inside the range; anything else is refused.
                guard region.start >= max(from, spans.last?.upperBound ?? from), region.start < region.end, region.end <= end else { return nil }
                let offset = Int(region.start - start)
                let bytes = Int(region.end - region.start)
                (base + offset).copyMemory(from: snapshot + offset, byteCount: bytes)
                restored += bytes / Self.pageSize
                if let last = spans.last, region.start - last.upperBound <= Self.protectionGap {
                    spans[spans.count - 1] = last.lowerBound..<region.end
                } else {
                    spans.append(region.start..<region.end)
                }
            }
            from = walkEnd
        }
        if restored > writableLimit {
            for span in spans where !protectWritten(span) { return nil }
        }
        return restored
    }

    /// Write-protects the written pages of `runs` again with a PAGEMAP_SCAN that changes only
    /// those entries. It flushes the TLB once per 2 MiB block that had any (with a shootdown on
    /// every core running this process), which is as few flushes as can be: one UFFDIO_WRITEPROTECT
    /// per run would flush once per run, and one over the whole span rewrites every entry in it.
    private func protectWritten(_ runs: Range<UInt64>) -> Bool {
        let address = base + Int(runs.lowerBound - UInt64(UInt(bitPattern: base)))
        return tabula_uffd_protect_written(address, Int(runs.upperBound - runs.lowerBound)) == 0
    }

    /// The signal tracker's rewind: the handler marked the written pages in `dirty`, and pages left
    /// writable stay marked.
    private func restoreMarked(from snapshot: UnsafeRawPointer, dirty: UnsafeMutableBufferPointer<UInt8>) -> Int? {
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
            while end < pages, dirty[end] != 0 { end += 1 }
            let offset = page * Self.pageSize
            (base + offset).copyMemory(from: snapshot + offset, byteCount: (end - page) * Self.pageSize)
            if first < 0 { first = page }
            last = end
            restored += end - page
            page = end
        }
        guard restored > writableLimit else { return restored }
        // One protection change over the span of written pages: each `mprotect` costs a TLB
        // shootdown on every core running this process, far more than re-protecting the read-only
        // pages in between, so one call beats one per run.
        for index in first..<last { dirty[index] = 0 }
        if tabula_page_tracker_protect(base + first * Self.pageSize, (last - first) * Self.pageSize, 0) != 0 {
            return nil
        }
        return restored
    }
}
