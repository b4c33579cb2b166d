import CConfinement

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The fast path between the server and one worker: a region of shared memory (a memfd the
/// server creates and hands the worker as descriptor 4 at spawn) with a request slot, a reply slot
/// and two futex words, so that a warm invocation crosses the process boundary without a system
/// call on the data path (only the futex wake-ups, and none while the other side spins).
///
/// Every request and reply is announced here, whatever its size: the sender writes the frame
/// (``WorkerMessage``'s encoding, length and payload) into its slot when it fits, or says that it
/// follows on the socket (module loads, big outputs), then publishes the request's sequence number
/// and wakes the other side. So both sides wait on one thing, and the socket is only a pipe for
/// big frames, read when announced.
///
/// Each side treats every byte of the region as hostile (the worker runs tenant code and may be
/// compromised; it can write the region at any moment): a word is read once, a frame's length is
/// copied out and checked against the slot before anything is copied, the payload is copied out
/// before it is decoded, and decoded by the same ``WorkerMessage`` decoder as a socket frame. A
/// sequence number or place that is not the one expected is a malformed message.
///
/// Not thread-safe: the parent uses it under its exchange lock, the worker from its one serving
/// thread.
package final class SharedChannel: @unchecked Sendable {
    /// The region's size: one page of words, then the two slots.
    package static let size = 1 << 20
    /// Where each slot starts, and how many bytes (of frame, length included) it holds.
    static let requestSlot = 4096
    static let requestCapacity = 256 << 10
    static let replySlot = requestSlot + requestCapacity
    static let replyCapacity = size - replySlot

    // The words, each on its own cache line: the sequence numbers are the futex words; beside each,
    // whether its waiter sleeps on it (1) or polls it (0), so that the waker calls FUTEX_WAKE only
    // when someone sleeps. A worker that clears the parent's flag only delays its own reply (the
    // parent wakes at the end of its slice).
    private static let requestSequence = 0
    private static let requestPlace = 64
    private static let replySequence = 128
    private static let replyPlace = 192
    private static let requestSleeping = 256
    private static let replySleeping = 320

    /// Where an announced message is.
    enum Place: UInt32 {
        /// In the sender's slot.
        case slot = 1
        /// On the socket, as a frame (it did not fit).
        case socket = 2
        /// Nowhere: the acknowledgement of a request without a reply (unload).
        case none = 3
    }

    private let base: UnsafeMutableRawPointer

    private init(base: UnsafeMutableRawPointer) {
        self.base = base
    }

    deinit {
        munmap(base, Self.size)
    }

    /// Maps the region behind `fd` (which the caller still owns), refusing one of another size.
    static func map(_ fd: Int32) throws(EnclaveError) -> SharedChannel {
        var status = stat()
        guard fstat(fd, &status) == 0 else {
            throw EnclaveError(.workerStopped, "cannot read the worker channel's shared memory: \(String(cString: strerror(errno)))")
        }
        guard status.st_size == Self.size else {
            throw EnclaveError(.invalidWorkerMessage, "the worker channel's shared memory is \(status.st_size) bytes, not \(Self.size)")
        }
        guard let base = mmap(nil, Self.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), base != UnsafeMutableRawPointer(bitPattern: -1) else {
            throw EnclaveError(.workerStopped, "cannot map the worker channel's shared memory: \(String(cString: strerror(errno)))")
        }
        return SharedChannel(base: base)
    }

    /// A new region for a worker: its descriptor (close-on-exec, to pass at spawn and then close)
    /// and the parent's mapping.
    static func create() throws(EnclaveError) -> (fd: Int32, channel: SharedChannel) {
        let fd = tabula_channel_memory(UInt64(Self.size))
        guard fd >= 0 else {
            throw EnclaveError(.workerStopped, "cannot create a worker's shared memory: \(String(cString: strerror(-fd)))")
        }
        do {
            return (fd, try map(fd))
        } catch {
            close(fd)
            throw error
        }
    }

    private func word(_ offset: Int) -> UnsafeMutablePointer<UInt32> {
        (base + offset).assumingMemoryBound(to: UInt32.self)
    }

    // MARK: Sending

    /// Announces request `sequence`: `frame` in the request slot when it fits (then `true`), else
    /// on the socket (`false`: the caller sends it there next); and wakes the worker.
    func postRequest(_ frame: [UInt8], sequence: UInt32) -> Bool {
        post(frame, sequence: sequence, slot: Self.requestSlot, capacity: Self.requestCapacity, place: Self.requestPlace, word: Self.requestSequence, sleeping: Self.requestSleeping)
    }

    /// Announces the reply to request `sequence`: `frame` in the reply slot when it fits (then
    /// `true`), else on the socket (`false`: the caller sends it there next), or no reply at all
    /// when `frame` is `nil`; and wakes the parent.
    func postReply(_ frame: [UInt8]?, sequence: UInt32) -> Bool {
        guard let frame else {
            tabula_word_store(word(Self.replyPlace), Place.none.rawValue)
            publish(sequence, word: Self.replySequence, sleeping: Self.replySleeping)
            return true
        }
        return post(frame, sequence: sequence, slot: Self.replySlot, capacity: Self.replyCapacity, place: Self.replyPlace, word: Self.replySequence, sleeping: Self.replySleeping)
    }

    private func post(_ frame: [UInt8], sequence: UInt32, slot: Int, capacity: Int, place: Int, word offset: Int, sleeping: Int) -> Bool {
        let fits = frame.count <= capacity
        if fits {
            frame.withUnsafeBytes { (base + slot).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        }
        tabula_word_store(word(place), (fits ? Place.slot : Place.socket).rawValue)
        publish(sequence, word: offset, sleeping: sleeping)
        return fits
    }

    private func publish(_ sequence: UInt32, word offset: Int, sleeping: Int) {
        // Sequentially consistent (so also release: the slot and the place are visible before the
        // number that announces them), then the flag: see ``sleep(on:expected:flag:timeout:)``.
        tabula_word_store_ordered(word(offset), sequence)
        if tabula_word_load_ordered(word(sleeping)) != 0 { _ = tabula_futex_wake(word(offset)) }
    }

    /// Sleeps on the word at `offset` while it holds `expected`, raising `flag` first so that the
    /// other side wakes it; returns the futex's result (0 when the number had already changed).
    private func sleep(on offset: Int, expected: UInt32, flag: Int, timeout: Duration) -> Int32 {
        let address = word(offset)
        tabula_word_store_ordered(word(flag), 1)
        defer { tabula_word_store(word(flag), 0) }
        guard tabula_word_load_ordered(address) == expected else { return 0 }
        return tabula_futex_wait(address, expected, timeout.nanoseconds)
    }

    // MARK: Waiting

    /// How a wait for the other side ended.
    enum Wait: Equatable {
        /// The message with the expected sequence number is announced.
        case arrived
        /// `stopped` said the other side is gone.
        case stopped
        /// The deadline passed.
        case timedOut
    }

    /// How long a side polls the word before it sleeps on the futex: not at all. Polling with
    /// `sched_yield` looked cheaper on a quiet machine (a boundary of 6-11 µs against about 14),
    /// but under CPU contention a yielding thread gives its core away for a whole scheduler slice:
    /// measured on the 2-core build machine at load average 4, a warm invocation in a worker took
    /// 3.86 ms p50 polling, 21.7 µs sleeping at once (the socket alone: 38.7 µs). A pause loop
    /// was worse still under load. A sleeper woken by FUTEX_WAKE gets the core back quickly.
    static let spin: Duration = .zero
    /// How long the parent sleeps at a time before it checks whether the worker died: a worker
    /// cannot wake it by dying.
    static let slice: Duration = .milliseconds(10)

    /// Waits until the worker has announced the reply to request `sequence`, `deadline` passes,
    /// or `stopped()` (asked after each sleep that timed out) says the worker is gone.
    ///
    /// The reply word may only go from `sequence - 1` to `sequence`: any other value is a
    /// malformed message.
    func awaitReply(_ sequence: UInt32, before deadline: ContinuousClock.Instant, stopped: () -> Bool) throws(EnclaveError) -> Wait {
        let address = word(Self.replySequence)
        let previous = sequence &- 1
        let clock = ContinuousClock()
        let spinEnd = clock.now + Self.spin
        while true {
            let value = tabula_word_load(address)
            if value == sequence { return .arrived }
            guard value == previous else {
                throw Self.malformed("the reply number is \(value) where \(previous) or \(sequence) was expected")
            }
            let now = clock.now
            if now < spinEnd {
                sched_yield()
                continue
            }
            let left = deadline - now
            guard left > .zero else { return .timedOut }
            let result = sleep(on: Self.replySequence, expected: previous, flag: Self.replySleeping, timeout: min(left, Self.slice))
            if result == ETIMEDOUT && stopped() { return .stopped }
        }
    }

    /// Waits, as the worker, for the request after `last`, and returns its number; `nil` when the
    /// server is gone (the worker's parent is no longer `parent`).
    func awaitRequest(after last: UInt32, parent: pid_t) -> UInt32? {
        let address = word(Self.requestSequence)
        let clock = ContinuousClock()
        let spinEnd = clock.now + Self.spin
        while true {
            let value = tabula_word_load(address)
            if value != last { return value }
            if clock.now < spinEnd {
                sched_yield()
                continue
            }
            // No deadline: an idle worker sleeps until asked, looking up now and then whether its
            // server still exists (a server that crashed cannot close anything for it).
            if sleep(on: Self.requestSequence, expected: last, flag: Self.requestSleeping, timeout: .seconds(1)) == ETIMEDOUT && getppid() != parent { return nil }
        }
    }

    // MARK: Receiving

    /// Where the worker says its reply is.
    func replyPlace() throws(EnclaveError) -> Place {
        try place(Self.replyPlace)
    }

    /// Where the parent says its request is.
    func requestPlace() throws(EnclaveError) -> Place {
        try place(Self.requestPlace)
    }

    private func place(_ offset: Int) throws(EnclaveError) -> Place {
        let value = tabula_word_load(word(offset))
        guard let place = Place(rawValue: value) else { throw Self.malformed("unknown place \(value)") }
        return place
    }

    /// The payload of the reply frame in the reply slot, copied out and checked, the slot wiped.
    func takeReply() throws(EnclaveError) -> [UInt8] {
        try take(slot: Self.replySlot, capacity: Self.replyCapacity, side: "reply")
    }

    /// The payload of the request frame in the request slot, copied out and checked, the slot wiped.
    func takeRequest() throws(EnclaveError) -> [UInt8] {
        try take(slot: Self.requestSlot, capacity: Self.requestCapacity, side: "request")
    }

    private func take(slot: Int, capacity: Int, side: String) throws(EnclaveError) -> [UInt8] {
        // The length is copied once; the other side may change the slot while this reads it, so
        // nothing is read from it twice and no length read from it indexes memory unchecked.
        var header = [UInt8](repeating: 0, count: 4)
        header.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(start: base + slot, count: 4)) }
        let length = try WorkerMessage.payloadLength(header: header, side: side)
        guard length <= capacity - 4 else {
            throw Self.malformed("a \(side) in its slot announces \(length) bytes, more than the slot's \(capacity - 4)")
        }
        let payload = [UInt8](unsafeUninitializedCapacity: length) { buffer, count in
            buffer.baseAddress!.initialize(from: (base + slot + 4).assumingMemoryBound(to: UInt8.self), count: length)
            count = length
        }
        // What was in the slot (a confidential invocation's parameters or results) does not stay there.
        memset(base + slot, 0, 4 + length)
        return payload
    }

    private static func malformed(_ problem: String) -> EnclaveError {
        EnclaveError(.invalidWorkerMessage, "the worker channel's shared memory is malformed (\(problem)); the peer is broken or hostile")
    }

    // MARK: Tests

    /// For tests: plays a hostile worker, writing `frame` raw into the reply slot (its length
    /// header included, whatever it says), `place` and the reply number.
    func forgeReply(frame: [UInt8], place: UInt32, sequence: UInt32) {
        let count = min(frame.count, Self.replyCapacity)
        frame.withUnsafeBytes { (base + Self.replySlot).copyMemory(from: $0.baseAddress!, byteCount: count) }
        tabula_word_store(word(Self.replyPlace), place)
        publish(sequence, word: Self.replySequence, sleeping: Self.replySleeping)
    }

    /// For tests: the number of the last request announced.
    var lastRequest: UInt32 { tabula_word_load(word(Self.requestSequence)) }
}
