import ArgumentParser
import Foundation
import TabulaAttestation
import TabulaWire

/// `tabula attest`: check TEE evidence.
struct Attest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify TEE evidence (Intel SGX/TDX quotes, AMD SEV-SNP reports), or a server's attestation.",
        subcommands: [Verify.self, Show.self]
    )

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fetch and verify the server's attestation bundle, and show what it proves.",
            discussion: """
                Verifies the evidence (with a fresh nonce) against the reference policy, that it binds \
                the enclave's identity key, and that this key signed the current key configurations. \
                With an action NAME, also verifies its function certificate. Exits 0 only when all of \
                it verifies.


                """ + Properties.resolutionHelp)

        @Argument(help: ArgumentHelp("An action whose function certificate to verify too.", valueName: "name"))
        var name: String?

        @OptionGroup var verification: Verification
        @OptionGroup var connection: Connection

        func run() async throws {
            try await connection.run { client in
                let enclave = try await verification.attest(client)
                var report: [String: JSONValue] = [
                    "verified": true,
                    "tee": .string(enclave.tee),
                    "measurement": .string(enclave.claims.measurement.hex),
                    "debug": .bool(enclave.claims.debug),
                    "reportData": .string(enclave.claims.reportData.hex),
                    "epoch": .integer(Int64(enclave.epoch)),
                    "expires": .string(enclave.expires),
                    "identityKey": .string(Data(enclave.identityKey.derRepresentation).base64EncodedString()),
                    "keyConfigs": .array(enclave.keyConfigurations.map { config in
                        ["keyId": .integer(Int64(config.keyID)), "kem": .string(config.kem.description),
                         "suites": .array(config.symmetricAlgorithms.map { .string($0.description) })]
                    }),
                    "evidence": .object(enclave.claims.fields),
                ].merging(Verification.runtime(enclave.runtime)) { common, _ in common }
                if let name {
                    let function = try await client.verifyFunction(name: name, enclave: enclave, expectedDigest: try verification.expectedDigest())
                    report["function"] = Verification.json(function.claims)
                }
                if connection.json {
                    connection.emit(json: JSONValue.object(report))
                } else {
                    print(enclave.summary)
                    for key in report.keys.sorted() where key != "verified" { print("\(key): \(Verify.readable(report[key]!))") }
                }
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify evidence and appraise it against a policy.",
            discussion: """
                FILE is an Intel DCAP quote (SGX v3, TDX v4/v5), an AMD SEV-SNP report (1184 bytes, \
                needs --cert), Tabula's simulated evidence, binary or hex text, or a PEM RA-TLS certificate \
                (the interoperable extension, as Tabula's identity certificate has, or Gramine's legacy one), whose \
                key binding is checked too. Signatures and certificate chains are checked up to \
                the pinned Intel and AMD roots. With Intel collateral (--collateral), the quote also gets a TCB status, \
                and the default policy accepts only UpToDate. Without --policy, the default policy refuses debug-mode \
                TEEs and simulated evidence. Tabula's identity certificate also states how the server runs tenant \
                code (isolation, confinement, engine), which --require-workers (or the policy's isolations) checks. \
                Exits 0 only when the evidence verifies and the policy holds. File formats: docs/attestation.md.
                """
        )

        @Argument(help: "The evidence file.")
        var file: String

        @Option(help: "SEV-SNP: the VCEK or VLEK certificate (DER or PEM), or the host's certificate table (configfs-tsm auxblob).")
        var cert: String?

        @Option(help: "Extra certificates (PEM): the ASK/ARK for SEV-SNP; for Intel, the PCK chain of a quote that carries none, or the TCB Signing certificate of PCS responses.")
        var chain: String?

        @Option(help: "Intel collateral (repeatable): a collateral bundle JSON, a PCS TCB info or QE identity response, a CRL (DER or PEM), or PEM certificates.")
        var collateral: [String] = []

        @Option(help: "Verify at this time (ISO 8601), instead of now.")
        var at: String?

        @Option(help: "An appraisal policy (JSON).")
        var policy: String?

        @Flag(help: "Accept simulated evidence (from a server without TEE hardware); it proves nothing.")
        var allowSimulated = false

        @Flag(help: "Accept only an identity certificate that states that tenant code runs in confined worker processes.")
        var requireWorkers = false

        @Flag(help: "Print the result as JSON.")
        var json = false

        func run() async throws {
            let time: Date
            if let at {
                guard let parsed = ISO8601DateFormatter().date(from: at) else {
                    throw ValidationError("--at must be an ISO 8601 time such as 2026-06-01T00:00:00Z")
                }
                time = parsed
            } else {
                time = Date()
            }
            let input = try Self.read(file)
            let evidence = Evidence.bytes(from: input)
            let certificate = try cert.map(Self.read)
            let extra = try chain.map(Self.read)
            var appraisal = try policy.map { try JSONDecoder().decode(AppraisalPolicy.self, from: Data(try Self.read($0))) } ?? AppraisalPolicy()
            if allowSimulated { appraisal.allowSimulated = true }
            if requireWorkers { appraisal.requireWorkers() }

            var report: [String: JSONValue] = [:]
            var passed = false
            do {
                var intel: IntelCollateral?
                if !collateral.isEmpty {
                    var files = IntelCollateral()
                    for path in collateral {
                        do {
                            try files.add(try Self.read(path))
                        } catch let error as AttestationError {
                            throw AttestationError(error.code, "\(path): \(error.message)")
                        }
                    }
                    intel = files
                }
                var claims: Evidence.Claims
                // A quote carries its PCK chain as PEM text too: only a file that *is* PEM is a certificate.
                if String(decoding: input.prefix(64), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines).hasPrefix("-----BEGIN CERTIFICATE-----") {
                    // An RA-TLS certificate (Tabula's identity certificate, Gramine's): the evidence
                    // it carries, and the binding of the certificate's key to that evidence.
                    claims = try await RATLSCertificate.verify(input, evidenceCertificate: certificate, at: time)
                } else {
                    claims = try await Evidence.verify(evidence, certificate: certificate, chain: extra, collateral: intel, at: time)
                }
                let reasons = appraisal.appraise(claims)
                passed = reasons.isEmpty
                report = claims.fields.merging([
                    "verified": true,
                    "policy": reasons.isEmpty ? "pass" : "fail",
                    "reasons": .array(reasons.map(JSONValue.string)),
                    "tee": .string(claims.tee),
                    "version": .integer(Int64(claims.version)),
                    "reportData": .string(claims.reportData.hex),
                    "measurement": .string(claims.measurement.hex),
                    "debug": .bool(claims.debug),
                ].merging(claims.runtime.map(Verification.runtime) ?? [:]) { common, _ in common }) { _, common in common }
            } catch {
                report = ["verified": false, "policy": "fail", "error": .string("\(error)")]
            }
            if json {
                print(JSONValue.object(report).encodedString)
            } else {
                for key in report.keys.sorted() { print("\(key): \(Self.readable(report[key]!))") }
            }
            if !passed { throw ExitCode.failure }
        }

        static func read(_ path: String) throws -> [UInt8] {
            do {
                return Array(try Data(contentsOf: URL(fileURLWithPath: path)))
            } catch {
                throw ValidationError("cannot read \(path): \(error.localizedDescription)")
            }
        }

        static func readable(_ value: JSONValue) -> String {
            switch value {
            case .string(let text): text
            case .array(let items): items.map(readable).joined(separator: "; ")
            default: value.encodedString
            }
        }
    }
}
