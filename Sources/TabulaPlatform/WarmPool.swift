import Synchronization
import TabulaEnclave

/// Which actions are loaded in the enclave, and when to load and unload them.
///
/// The first invocation of an action (or of a new version) loads it: a cold start. Later ones find
/// it warm. Actions idle beyond the keep-alive are unloaded by ``sweep()``; when loading would
/// exceed the memory budget, the least recently used idle actions are unloaded first.
///
/// A class behind a mutex rather than an actor: every invocation checks an action out and back
/// in, and an actor made each of those an executor hop; a warm check-out is now a dictionary
/// lookup under a lock, and only a load is awaited.
final class WarmPool: Sendable {
    private struct Entry {
        var identity: String
        var memory: Int
        var lastUsed: ContinuousClock.Instant
        var inFlight: Int
        var loading: Task<FunctionInfo, any Error>?
    }

    private let enclave: Enclave
    private let keepAlive: Duration
    private let memoryBudget: Int
    private let entries = Mutex<[FunctionName: Entry]>([:])
    private let clock = ContinuousClock()

    init(enclave: Enclave, keepAlive: Duration, memoryBudget: Int) {
        self.enclave = enclave
        self.keepAlive = keepAlive
        self.memoryBudget = memoryBudget
    }

    /// Warm actions and the sandboxes they may hold.
    var warmCount: Int { entries.withLock { $0.count } }

    /// Whether `name` is loaded, or being loaded, for `identity`: checking it out would start no load.
    func isWarm(_ name: FunctionName, identity: String) -> Bool {
        entries.withLock { $0[name]?.identity == identity }
    }

    /// Makes sure `definition` is loaded and marks it in use. `identity` names the stored version
    /// (owner, revision, module digest): an entry loaded for another is retired and reloaded,
    /// whatever the name says.
    /// Returns the load time when this call was a cold start.
    func checkOut(_ definition: FunctionDefinition, identity: String) async throws -> Duration? {
        let name = definition.name
        enum Step {
            case warm
            case waitFor(Task<FunctionInfo, any Error>)
            case load(Task<FunctionInfo, any Error>)
        }
        let now = clock.now
        let step = entries.withLock { entries -> Step in
            if var entry = entries[name], entry.identity == identity {
                entry.inFlight += 1
                entry.lastUsed = now
                entries[name] = entry
                return entry.loading.map { .waitFor($0) } ?? .warm
            }
            if entries[name] != nil { retire(name, in: &entries) }
            let memory = definition.limits.memory * definition.maxSandboxes
            evict(toFit: memory, in: &entries)
            let loading = Task { [enclave] in try await enclave.load(definition) }
            entries[name] = Entry(identity: identity, memory: memory, lastUsed: now, inFlight: 1, loading: loading)
            return .load(loading)
        }
        switch step {
        case .warm:
            return nil
        case .waitFor(let loading):
            do {
                _ = try await loading.value
                return nil
            } catch {
                entries.withLock { $0[name]?.inFlight -= 1 }
                throw error
            }
        case .load(let loading):
            do {
                let info = try await loading.value
                entries.withLock { entries in
                    if entries[name]?.identity == identity { entries[name]?.loading = nil }
                }
                return info.initTime
            } catch {
                entries.withLock { entries in
                    if entries[name]?.identity == identity { entries[name] = nil }
                }
                throw error
            }
        }
    }

    /// Marks one invocation of `name` finished.
    func checkIn(_ name: FunctionName) {
        let now = clock.now
        entries.withLock { entries in
            guard var entry = entries[name] else { return }
            entry.inFlight = max(0, entry.inFlight - 1)
            entry.lastUsed = now
            entries[name] = entry
        }
    }

    /// Unloads an action, after an update or a delete; invocations in progress finish on their
    /// sandboxes, which then go away.
    func retire(_ name: FunctionName) {
        entries.withLock { retire(name, in: &$0) }
    }

    /// Unloads actions idle for longer than the keep-alive.
    func sweep() {
        let now = clock.now
        entries.withLock { entries in
            for (name, entry) in entries where entry.inFlight == 0 && entry.loading == nil && now - entry.lastUsed > keepAlive {
                retire(name, in: &entries)
            }
        }
    }

    private func retire(_ name: FunctionName, in entries: inout [FunctionName: Entry]) {
        entries[name] = nil
        enclave.unload(name)
    }

    /// Unloads least recently used idle actions until `memory` more fits in the budget.
    private func evict(toFit memory: Int, in entries: inout [FunctionName: Entry]) {
        var used = entries.values.reduce(0) { $0 + $1.memory }
        let idle = entries.filter { $0.value.inFlight == 0 && $0.value.loading == nil }.sorted { $0.value.lastUsed < $1.value.lastUsed }
        for (name, entry) in idle where used + memory > memoryBudget {
            retire(name, in: &entries)
            used -= entry.memory
        }
    }
}
