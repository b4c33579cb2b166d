public import Foundation
import Crypto
import TabulaWire

/// A TEE provider for machines without TEE hardware: evidence signed by a local "platform" key.
///
/// It lets the whole attestation path (identity certificate, bundle, client checks) run on a laptop or
/// in CI. It proves nothing about where the code runs: anyone can make such a key, so the evidence is
/// labelled `simulated` everywhere, and `AppraisalPolicy` refuses it unless `allowSimulated` is set.
///
/// The evidence is a binary structure (big-endian integers):
///
/// | offset | size | field |
/// |-------:|-----:|-------|
/// | 0      | 16   | magic, ASCII `TABULA-SIMULATED` |
/// | 16     | 2    | version, 2 |
/// | 18     | 48   | measurement: SHA-384 of the ASCII string `tabula simulated TEE v1` (a constant; it identifies nothing real) |
/// | 66     | 64   | report data |
/// | 130    | 65   | platform public key, P-256 x9.63 uncompressed |
/// | 195    | 1    | flags: bit 0 set when the simulated TEE says it runs in debug mode (version 2) |
/// | 196    | 2    | the simulated TCB level (version 2) |
/// | 198    | 2    | signature length *n* |
/// | 200    | *n*  | ECDSA P-256/SHA-256 signature, DER, by the platform key over bytes 0..<198 |
///
/// Version 1 has neither flags nor TCB level: its signature length is at 195. It still verifies,
/// as not debug and TCB level 0.
///
/// The magic cannot be mistaken for a DCAP quote (whose first two bytes are its little-endian version,
/// 3, 4 or 5) and the structure is never 1184 bytes long (the size of an SEV-SNP report), so
/// `Evidence.verify` recognises it from its bytes.
public struct SimulatedTEE: TEEProvider {
    private let platformKey: P256.Signing.PrivateKey
    /// Whether the evidence says the TEE runs in debug mode: to try a verifier's refusal.
    public var debug = false
    /// The TCB level the evidence states (a verifier's `minimumSimulatedTCB` is checked against it);
    /// 1 unless set, to try a verifier's refusal of an old TCB.
    public var tcb: UInt16 = 1

    public var tee: String { "simulated" }

    /// Hex SHA-256 of the platform key's DER SubjectPublicKeyInfo, as `Evidence.Claims.fields["platformKey"]`
    /// reports it, so that an operator can recognise its own simulated platform.
    public var platformKeyID: String { Self.keyID(platformKey.publicKey) }

    private init(platformKey: P256.Signing.PrivateKey) {
        self.platformKey = platformKey
    }

    /// A key derived from the platform key, standing in for a TEE's sealing key: like everything
    /// simulated it protects nothing from whoever can read the platform key file.
    public func sealingKey(label: String) -> [UInt8]? {
        let key = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: platformKey.rawRepresentation), salt: Array("tabula simulated sealing".utf8),
            info: Array(label.utf8), outputByteCount: 32)
        return key.withUnsafeBytes { Array($0) }
    }

    /// Loads the platform key (a P-256 private key, PEM) from `platformKeyFile`, or creates it there.
    ///
    /// A new key file is created with mode 0600 (its parent directory, if missing, with 0700), so that the
    /// key survives restarts and other users of the machine cannot sign as this platform.
    public init(platformKeyFile: URL) throws {
        let path = platformKeyFile.path
        if let key = try Self.load(path) {
            self.init(platformKey: key)
            return
        }
        let key = P256.Signing.PrivateKey()
        do {
            try FileManager.default.createDirectory(
                at: platformKeyFile.deletingLastPathComponent(), withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700])
        } catch {
            throw AttestationError(.unsupported, "cannot create the directory of the simulated platform key \(path): \(error)")
        }
        if try Self.create(path, contents: Array(key.pemRepresentation.utf8)) {
            self.init(platformKey: key)
        } else if let existing = try Self.load(path) {
            // Another process created it between our load and create: use theirs.
            self.init(platformKey: existing)
        } else {
            throw AttestationError(.unsupported, "the simulated platform key \(path) vanished while it was being created")
        }
    }

    /// A simulated TEE with a fresh platform key that lives only in memory (for tests).
    public static func ephemeral() -> SimulatedTEE {
        SimulatedTEE(platformKey: P256.Signing.PrivateKey())
    }

    /// Simulated evidence over `reportData` (64 bytes), signed by the platform key.
    public func evidence(reportData: [UInt8]) async throws -> [UInt8] {
        try SimulatedEvidence(reportData: reportData, platformKey: platformKey, debug: debug, tcb: tcb).bytes
    }

    /// Hex SHA-256 of the key's DER SubjectPublicKeyInfo.
    static func keyID(_ key: P256.Signing.PublicKey) -> String {
        Array(SHA256.hash(data: key.derRepresentation)).hex
    }

    /// The key in the file at `path`, or nil when there is no file.
    private static func load(_ path: String) throws(AttestationError) -> P256.Signing.PrivateKey? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw AttestationError(.unsupported, "cannot read the simulated platform key \(path): \(error)")
        }
        do {
            return try P256.Signing.PrivateKey(pemRepresentation: text)
        } catch {
            throw AttestationError(.malformed, "the simulated platform key \(path) is not a P-256 private key in PEM")
        }
    }

    /// Creates `path` with mode 0600 and writes `contents`; false when the file already exists.
    private static func create(_ path: String, contents: [UInt8]) throws(AttestationError) -> Bool {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        if descriptor < 0 {
            if errno == EEXIST { return false }
            throw AttestationError(.unsupported, "cannot create the simulated platform key \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        var written = 0
        while written < contents.count {
            let result = contents[written...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if result < 0, errno == EINTR { continue }
            guard result > 0 else {
                let reason = String(cString: strerror(errno))
                unlink(path)
                throw AttestationError(.unsupported, "cannot write the simulated platform key \(path): \(reason)")
            }
            written += result
        }
        return true
    }
}
