import Foundation
import Synchronization
import Testing
@testable import TabulaAttestation

/// A temporary directory that behaves like `/sys/kernel/config/tsm/report`, through ConfigfsTSM's
/// kernel hook: a new entry gets `generation` (0), `provider` and an empty `inblob`; a write to
/// `inblob` bumps `generation` (by 2 while `conflicts` lasts, as if another process wrote too) and
/// produces `outblob` (a real sample) and `auxblob`; removal deletes the attribute files, as configfs does.
final class FakeTSM: Sendable {
    struct State {
        var entries: [String] = []
        var inblobs: [[UInt8]] = []
        var conflicts = 0
    }

    let root: URL
    let provider: String
    let outblob: [UInt8]?
    let auxblob: [UInt8]?
    let state = Mutex(State())

    init(provider: String, outblob: [UInt8]?, auxblob: [UInt8]? = nil, conflicts: Int = 0) throws {
        root = try AttestationSamples.temporaryDirectory("tsm")
        self.provider = provider
        self.outblob = outblob
        self.auxblob = auxblob
        state.withLock { $0.conflicts = conflicts }
    }

    var kernel: ConfigfsTSM.Kernel {
        ConfigfsTSM.Kernel(
            created: { entry in
                self.state.withLock { $0.entries.append(entry.lastPathComponent) }
                try Data("0\n".utf8).write(to: entry.appendingPathComponent("generation"))
                try Data("\(self.provider)\n".utf8).write(to: entry.appendingPathComponent("provider"))
                try Data().write(to: entry.appendingPathComponent("inblob"))
            },
            wrote: { entry in
                let inblob = [UInt8](try Data(contentsOf: entry.appendingPathComponent("inblob")))
                let step = self.state.withLock { state -> Int in
                    state.inblobs.append(inblob)
                    guard state.conflicts > 0 else { return 1 }
                    state.conflicts -= 1
                    return 2
                }
                let file = entry.appendingPathComponent("generation")
                let generation = Int(String(decoding: try Data(contentsOf: file), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))!
                try Data("\(generation + step)\n".utf8).write(to: file)
                if let outblob = self.outblob { try Data(outblob).write(to: entry.appendingPathComponent("outblob")) }
                if let auxblob = self.auxblob { try Data(auxblob).write(to: entry.appendingPathComponent("auxblob")) }
            },
            removing: { entry in
                for name in try FileManager.default.contentsOfDirectory(atPath: entry.path) {
                    try FileManager.default.removeItem(at: entry.appendingPathComponent(name))
                }
            })
    }

    /// What is left in the root: nothing, once every entry was removed.
    func leftovers() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: root.path)
    }

    var entries: [String] { state.withLock { $0.entries } }
    var inblobs: [[UInt8]] { state.withLock { $0.inblobs } }

    func remove() {
        try? FileManager.default.removeItem(at: root)
    }
}

@Suite("configfs-tsm provider")
struct ConfigfsTSMTests {
    @Test("a TDX guest: the quote in outblob, over the report data written to inblob, verifies")
    func tdx() async throws {
        let quote = try AttestationSamples.load("tdx/dcap-qvl-tdx-quote-v4.bin")
        let reportData = Array(try Quote(bytes: Data(quote)).reportData)
        let fake = try FakeTSM(provider: "tdx_guest", outblob: quote)
        defer { fake.remove() }
        let tsm = try ConfigfsTSM(root: fake.root, attempts: 3, kernel: fake.kernel)
        #expect(tsm.tee == "tdx")
        #expect(tsm.provider == "tdx_guest")
        let evidence = try await tsm.evidence(reportData: reportData)
        #expect(evidence == quote)
        #expect(fake.inblobs == [reportData])
        let claims = try await Evidence.verify(evidence, certificate: nil, at: AttestationSamples.now)
        #expect(claims.tee == "tdx")
        #expect(claims.reportData == reportData)
        // One entry to learn the provider, one for the request; both removed.
        #expect(fake.entries.count == 2)
        #expect(Set(fake.entries).count == 2)
        #expect(try fake.leftovers().isEmpty)
    }

    @Test("an SEV-SNP guest: the report and the certificate table in auxblob verify together")
    func snp() async throws {
        let report = try AttestationSamples.load("snp/go-sev-guest-milan-report.bin")
        let table = try SNPCertificateTableTests.table()
        let fake = try FakeTSM(provider: "sev_guest", outblob: report, auxblob: table.bytes)
        defer { fake.remove() }
        let tsm = try ConfigfsTSM(root: fake.root, attempts: 3, kernel: fake.kernel)
        #expect(tsm.tee == "sev-snp")
        let reportData = try SNPReport(bytes: report).reportData
        let answer = try tsm.report(reportData: reportData)
        #expect(answer.outblob == report)
        #expect(answer.provider == "sev_guest")
        #expect(answer.auxblob == table.bytes)
        let claims = try await Evidence.verify(answer.outblob, certificate: answer.auxblob, at: AttestationSamples.now)
        #expect(claims.tee == "sev-snp")
        #expect(claims.reportData == reportData)
        #expect(try fake.leftovers().isEmpty)
    }

    @Test("a concurrent writer (generation moved by more than our write) makes it retry in a new entry")
    func generationConflictRetries() async throws {
        let quote = try AttestationSamples.load("tdx/dcap-qvl-tdx-quote-v4.bin")
        let fake = try FakeTSM(provider: "tdx_guest", outblob: quote, conflicts: 2)
        defer { fake.remove() }
        let tsm = try ConfigfsTSM(root: fake.root, attempts: 3, kernel: fake.kernel)
        let reportData = [UInt8](repeating: 0xA5, count: 64)
        #expect(try await tsm.evidence(reportData: reportData) == quote)
        // The probe, two conflicting attempts, and the one that held.
        #expect(fake.entries.count == 4)
        #expect(fake.inblobs == [[UInt8]](repeating: reportData, count: 3))
        #expect(try fake.leftovers().isEmpty)
    }

    @Test("when every attempt conflicts, it fails and leaves no entry behind")
    func generationConflictGivesUp() async throws {
        let quote = try AttestationSamples.load("tdx/dcap-qvl-tdx-quote-v4.bin")
        let fake = try FakeTSM(provider: "tdx_guest", outblob: quote, conflicts: 10)
        defer { fake.remove() }
        let tsm = try ConfigfsTSM(root: fake.root, attempts: 3, kernel: fake.kernel)
        let error = await #expect(throws: AttestationError.self) {
            _ = try await tsm.evidence(reportData: [UInt8](repeating: 1, count: 64))
        }
        #expect(error?.message.contains("another writer") == true)
        #expect(error?.message.contains("generation 0 became 2") == true)
        #expect(fake.entries.count == 4)
        #expect(try fake.leftovers().isEmpty)
    }

    @Test("a failed request still removes its entry")
    func failureCleansUp() async throws {
        let fake = try FakeTSM(provider: "tdx_guest", outblob: nil)
        defer { fake.remove() }
        let tsm = try ConfigfsTSM(root: fake.root, attempts: 3, kernel: fake.kernel)
        let error = await #expect(throws: AttestationError.self) {
            _ = try await tsm.evidence(reportData: [UInt8](repeating: 1, count: 64))
        }
        #expect(error?.message.contains("outblob") == true)
        #expect(try fake.leftovers().isEmpty)
    }

    @Test("concurrent requests each use their own entry")
    func concurrentRequests() async throws {
        let quote = try AttestationSamples.load("tdx/dcap-qvl-tdx-quote-v4.bin")
        let fake = try FakeTSM(provider: "tdx_guest", outblob: quote)
        defer { fake.remove() }
        let tsm = try ConfigfsTSM(root: fake.root, attempts: 3, kernel: fake.kernel)
        try await withThrowingTaskGroup(of: [UInt8].self) { group in
            for index in 0..<8 {
                group.addTask { try await tsm.evidence(reportData: [UInt8](repeating: UInt8(index), count: 64)) }
            }
            for try await evidence in group { #expect(evidence == quote) }
        }
        #expect(Set(fake.entries).count == 9)
        #expect(Set(fake.inblobs).count == 8)
        #expect(try fake.leftovers().isEmpty)
    }

    @Test("report data must be exactly 64 bytes")
    func reportDataSize() async throws {
        let fake = try FakeTSM(provider: "tdx_guest", outblob: [1, 2, 3])
        defer { fake.remove() }
        let tsm = try ConfigfsTSM(root: fake.root, attempts: 3, kernel: fake.kernel)
        for count in [0, 32, 63, 65] {
            await #expect(throws: AttestationError.self) {
                _ = try await tsm.evidence(reportData: [UInt8](repeating: 1, count: count))
            }
        }
        #expect(fake.inblobs.isEmpty)
    }

    @Test("an unknown provider is refused, naming it")
    func unknownProvider() throws {
        let fake = try FakeTSM(provider: "arm_cca_guest", outblob: [1])
        defer { fake.remove() }
        let error = #expect(throws: AttestationError.self) {
            _ = try ConfigfsTSM(root: fake.root, attempts: 3, kernel: fake.kernel)
        }
        #expect(error?.message.contains("arm_cca_guest") == true)
        #expect(try fake.leftovers().isEmpty)
    }

    @Test("a missing root is an error naming the path")
    func missingRoot() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("no-such-tsm-\(UUID().uuidString)/report")
        let error = #expect(throws: AttestationError.self) { _ = try ConfigfsTSM(root: root) }
        #expect(error?.message.contains(root.path) == true)
        #expect(error?.message.contains("6.7") == true)
    }

    @Test("a root that is not writable is an error naming the path", .enabled(if: getuid() != 0, "root may write anywhere"))
    func unwritableRoot() throws {
        let root = try AttestationSamples.temporaryDirectory("tsm-readonly")
        defer {
            try? FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: root.path)
            try? FileManager.default.removeItem(at: root)
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o500], ofItemAtPath: root.path)
        let error = #expect(throws: AttestationError.self) { _ = try ConfigfsTSM(root: root) }
        #expect(error?.message.contains(root.path) == true)
        #expect(error?.message.contains("not writable") == true)
    }
}
