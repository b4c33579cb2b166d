import ArgumentParser
import Foundation
import Logging
import TabulaAttestation

/// Where attestation evidence comes from, for `tabula serve` and `tabula broker`.
struct TEEOptions: ParsableArguments {
    @Option(name: .customLong("tee"), help: "Where attestation evidence comes from: auto, simulated, configfs-tsm (a TDX or SEV-SNP guest, Linux 6.7+) or gramine (SGX under Gramine). auto uses configfs-tsm or gramine when present and falls back to simulated, loudly. Roots: $TABULA_TSM_ROOT, $TABULA_GRAMINE_ROOT.")
    var kind = "auto"

    @Flag(help: "Simulated TEE only: state debug mode in the evidence (to try a verifier's refusal).")
    var simulatedDebug = false

    @Option(help: "Simulated TEE only: the TCB level the evidence states (to try a verifier's minimumSimulatedTCB).")
    var simulatedTcb: UInt16 = 1

    func validate() throws {
        guard ["auto", "simulated", "configfs-tsm", "gramine"].contains(kind) else {
            throw ValidationError("--tee must be auto, simulated, configfs-tsm or gramine")
        }
    }

    /// The evidence source `--tee` names.
    ///
    /// `configfs-tsm` reads the report interface at `$TABULA_TSM_ROOT` (default
    /// `/sys/kernel/config/tsm/report`), `gramine` the attestation interface at `$TABULA_GRAMINE_ROOT`
    /// (default `/dev/attestation`); either fails loudly when unusable. `auto` takes configfs-tsm when its
    /// root exists, else Gramine when its `quote` file exists, else the simulated TEE with a warning. A
    /// root that exists but does not work (a kernel with configfs-tsm built in but no TDX or SNP guest
    /// driver, or no permission) is logged and skipped: falling back is safe, because clients refuse
    /// simulated evidence unless told otherwise.
    func provider(directory: URL, logger: Logger) throws -> any TEEProvider {
        let environment = ProcessInfo.processInfo.environment
        let tsmRoot = environment["TABULA_TSM_ROOT"].map { URL(fileURLWithPath: $0) } ?? ConfigfsTSM.defaultRoot
        let gramineRoot = environment["TABULA_GRAMINE_ROOT"].map { URL(fileURLWithPath: $0) } ?? Gramine.defaultRoot
        func configfs() throws -> any TEEProvider {
            let provider = try ConfigfsTSM(root: tsmRoot)
            logger.info("TEE: \(provider.tee) evidence from configfs-tsm at \(tsmRoot.path) (provider \(provider.provider))")
            return provider
        }
        func gramine() throws -> any TEEProvider {
            let provider = try Gramine(root: gramineRoot)
            logger.info("TEE: sgx evidence (DCAP quotes) from Gramine at \(gramineRoot.path)")
            return provider
        }
        switch kind {
        case "configfs-tsm":
            return try configfs()
        case "gramine":
            return try gramine()
        case "auto":
            if FileManager.default.fileExists(atPath: tsmRoot.path) {
                do { return try configfs() } catch { logger.warning("--tee auto: configfs-tsm is present but unusable: \(error)") }
            }
            if FileManager.default.fileExists(atPath: gramineRoot.appendingPathComponent("quote").path) {
                do { return try gramine() } catch { logger.warning("--tee auto: Gramine's attestation interface is present but unusable: \(error)") }
            }
        case "simulated":
            break
        default:
            throw ValidationError("--tee must be auto, simulated, configfs-tsm or gramine")
        }
        let key = directory.appendingPathComponent("simulated-platform-key.pem")
        let warning = """
            WARNING: no TEE hardware is used. Attestation is SIMULATED: evidence is signed by a key in \(key.path), \
            which anyone with this machine can read. Clients refuse it unless told to allow simulated evidence. \
            Do not send real confidential data to this server.
            """
        logger.warning("\(warning)")
        var simulated = try SimulatedTEE(platformKeyFile: key)
        simulated.debug = simulatedDebug
        simulated.tcb = simulatedTcb
        if simulatedDebug || simulatedTcb != 1 {
            logger.warning("the simulated evidence states debug \(simulatedDebug ? "on" : "off") and TCB level \(simulatedTcb) (--simulated-debug, --simulated-tcb)")
        }
        return simulated
    }

}
