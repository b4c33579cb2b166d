import Foundation
import TabulaAttestation
import TabulaWire
import Testing

@Suite("Simulated TEE")
struct SimulatedTEETests {
    static let now = Date(timeIntervalSince1970: 1_780_272_000)
    static let reportData = (0..<64).map { UInt8($0) }

    @Test func roundTrip() async throws {
        let tee = SimulatedTEE.ephemeral()
        #expect(tee.tee == "simulated")
        let evidence = try await tee.evidence(reportData: Self.reportData)
        #expect(evidence.starts(with: Array("TABULA-SIMULATED".utf8)))
        let claims = try await Evidence.verify(evidence, certificate: nil, at: Self.now)
        #expect(claims.tee == "simulated")
        #expect(claims.version == 2)
        #expect(claims.fields["tcb"] == .integer(1))
        #expect(claims.reportData == Self.reportData)
        #expect(claims.debug == false)
        #expect(claims.measurement.count == 48)
        #expect(claims.fields["platformKey"] == .string(tee.platformKeyID))
        #expect(claims.fields["notice"]?.stringValue?.contains("proves nothing") == true)
    }

    @Test func debugAndTCBLevelAreStatedAndAppraised() async throws {
        var tee = SimulatedTEE.ephemeral()
        tee.debug = true
        tee.tcb = 3
        let claims = try await Evidence.verify(try await tee.evidence(reportData: Self.reportData), certificate: nil, at: Self.now)
        #expect(claims.debug && claims.fields["tcb"] == .integer(3))
        let lenient = AppraisalPolicy(allowDebug: true, allowSimulated: true, minimumSimulatedTCB: 3)
        #expect(lenient.appraise(claims).isEmpty)
        #expect(AppraisalPolicy(allowSimulated: true).appraise(claims) == ["the TEE runs in debug mode, so its memory is readable by the host"])
        #expect(AppraisalPolicy(allowDebug: true, allowSimulated: true, minimumSimulatedTCB: 4).appraise(claims) == ["the simulated TCB level 3 is below the minimum 4"])
    }

    @Test func refusedByDefaultPolicy() async throws {
        let evidence = try await SimulatedTEE.ephemeral().evidence(reportData: Self.reportData)
        let claims = try await Evidence.verify(evidence, certificate: nil, at: Self.now)
        #expect(AppraisalPolicy().appraise(claims).count == 1)
        #expect(AppraisalPolicy(allowSimulated: true).appraise(claims).isEmpty)
    }

    @Test func reportDataMustBe64Bytes() async {
        for count in [0, 32, 63, 65] {
            await #expect(throws: AttestationError.self) {
                _ = try await SimulatedTEE.ephemeral().evidence(reportData: [UInt8](repeating: 1, count: count))
            }
        }
    }

    @Test func everyFlippedByteFails() async throws {
        let evidence = try await SimulatedTEE.ephemeral().evidence(reportData: Self.reportData)
        for index in evidence.indices {
            var tampered = evidence
            tampered[index] ^= 0x01
            do {
                _ = try await Evidence.verify(tampered, certificate: nil, at: Self.now)
                Issue.record("byte \(index) flipped still verifies")
            } catch is AttestationError {
            } catch {
                Issue.record("byte \(index): not an AttestationError: \(error)")
            }
        }
    }

    @Test func badSignatureAndTruncation() async throws {
        let evidence = try await SimulatedTEE.ephemeral().evidence(reportData: Self.reportData)
        // Report data changed: the signature no longer covers it.
        var tampered = evidence
        tampered[66] ^= 0xFF
        await #expect(throws: AttestationError(.badSignature, "simulated evidence: the platform key's signature does not verify")) {
            _ = try await Evidence.verify(tampered, certificate: nil, at: Self.now)
        }
        for length in [16, 100, 196, 197, evidence.count - 1] {
            do {
                _ = try await Evidence.verify(Array(evidence.prefix(length)), certificate: nil, at: Self.now)
                Issue.record("truncated to \(length) bytes still verifies")
            } catch let error as AttestationError {
                #expect(error.code == .malformed, "\(length): \(error)")
            }
        }
        do {
            _ = try await Evidence.verify(evidence + [0], certificate: nil, at: Self.now)
            Issue.record("trailing byte accepted")
        } catch let error as AttestationError {
            #expect(error.code == .malformed)
        }
    }

    @Test func keyFileIsCreatedPrivateAndReused() async throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("tabula-simulated-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("keys/platform.pem")
        let first = try SimulatedTEE(platformKeyFile: file)
        let attributes = try FileManager.default.attributesOfItem(atPath: file.path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let second = try SimulatedTEE(platformKeyFile: file)
        #expect(first.platformKeyID == second.platformKeyID)
        #expect(first.platformKeyID != SimulatedTEE.ephemeral().platformKeyID)

        try Data("not a key".utf8).write(to: file)
        #expect(throws: AttestationError.self) { _ = try SimulatedTEE(platformKeyFile: file) }
    }
}
