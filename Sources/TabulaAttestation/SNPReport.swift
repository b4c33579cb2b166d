public import Foundation
import Crypto
import SwiftASN1

/// An AMD SEV-SNP attestation report (SEV-SNP firmware ABI, `ATTESTATION_REPORT`, versions 2, 3 and 5).
///
/// The report is 1184 (0x4A0) bytes: the guest's launch measurement and 64 bytes of its own data,
/// signed with ECDSA P-384/SHA-384 over bytes 0x000-0x29F by a VCEK (or VLEK) whose certificate AMD
/// issues. Parsing only decodes the fields; nothing is trusted until `verify(vcek:at:)` returns.
///
/// Version 3 added the CPUID family, model and stepping in reserved bytes at 0x188; version 5 (newer
/// firmware, ABI 1.58 Table 23) adds LAUNCH_MIT_VECTOR at 0x1F8 and CURRENT_MIT_VECTOR at 0x200, in
/// what was reserved space after LAUNCH_TCB. Every other offset, the size and the signed range are
/// unchanged, so one parser reads all three. Version 4 is refused: no layout for it was confirmed.
public struct SNPReport: Sendable, Hashable {
    /// The size of a report.
    public static let size = 0x4A0
    /// The signed part of a report: everything before the signature.
    static let signedSize = 0x2A0
    /// The versions whose layout this parser knows.
    static let versions: Set<UInt32> = [2, 3, 5]

    /// The report format version (2, 3 or 5).
    public let version: UInt32
    /// The guest security version number.
    public let guestSVN: UInt32
    /// The guest policy (bit 19: debug allowed).
    public let policy: UInt64
    /// The family ID supplied at launch (16 bytes).
    public let familyID: [UInt8]
    /// The image ID supplied at launch (16 bytes).
    public let imageID: [UInt8]
    /// The VMPL that requested the report.
    public let vmpl: UInt32
    /// The signature algorithm (1: ECDSA P-384 with SHA-384).
    public let signatureAlgorithm: UInt32
    /// The current TCB version of the platform.
    public let currentTCB: UInt64
    /// Platform information (SMT, TSME, ... enabled).
    public let platformInfo: UInt64
    /// Signer information: bit 0 author key, bit 1 chip ID masked, bits 2-4 signing key (0 VCEK, 1 VLEK, 7 none).
    public let signerInfo: UInt32
    /// The 64 bytes the guest asked to be reported.
    public let reportData: [UInt8]
    /// The launch measurement (48 bytes).
    public let measurement: [UInt8]
    /// The 32 bytes the host supplied at launch.
    public let hostData: [UInt8]
    /// SHA-384 of the ID public key that signed the ID block (48 bytes).
    public let idKeyDigest: [UInt8]
    /// SHA-384 of the author public key that certified the ID key (48 bytes).
    public let authorKeyDigest: [UInt8]
    /// The report ID of the guest (32 bytes).
    public let reportID: [UInt8]
    /// The report ID of the guest's migration agent (32 bytes).
    public let reportIDMA: [UInt8]
    /// The TCB version the report is signed at (the VCEK's TCB).
    public let reportedTCB: UInt64
    /// CPUID family, model and stepping (version 3; zero in version 2).
    public let cpuidFamily: UInt8
    public let cpuidModel: UInt8
    public let cpuidStepping: UInt8
    /// The chip identifier (64 bytes; zero when masked).
    public let chipID: [UInt8]
    /// The committed TCB version.
    public let committedTCB: UInt64
    /// The current firmware version: build, minor, major.
    public let currentBuild: UInt8
    public let currentMinor: UInt8
    public let currentMajor: UInt8
    /// The committed firmware version: build, minor, major.
    public let committedBuild: UInt8
    public let committedMinor: UInt8
    public let committedMajor: UInt8
    /// The TCB version at launch.
    public let launchTCB: UInt64
    /// The verified mitigation vector when the guest was launched (version 5; nil before).
    public let launchMitigationVector: UInt64?
    /// The current verified mitigation vector (version 5; nil before).
    public let currentMitigationVector: UInt64?
    /// The raw report.
    public let bytes: [UInt8]

    /// Decodes a report.
    ///
    /// Throws `.malformed` unless `bytes` is exactly 1184 bytes of a version 2, 3 or 5 report; callers that
    /// hold a firmware response buffer slice the report out first.
    public init(bytes input: some Collection<UInt8>) throws {
        let bytes = Array(input)
        guard bytes.count == Self.size else {
            throw AttestationError(.malformed, "SEV-SNP report: \(bytes.count) bytes, expected \(Self.size)")
        }
        // Every offset below is a constant smaller than `size`, so the reads cannot go out of bounds.
        func u8(_ offset: Int) -> UInt8 { bytes[offset] }
        func u32(_ offset: Int) -> UInt32 {
            (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) }
        }
        func u64(_ offset: Int) -> UInt64 {
            (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << (8 * $1) }
        }
        func slice(_ offset: Int, _ count: Int) -> [UInt8] { Array(bytes[offset..<offset + count]) }

        version = u32(0x00)
        guard Self.versions.contains(version) else {
            throw AttestationError(.malformed, "SEV-SNP report: version \(version), expected 2, 3 or 5")
        }
        guestSVN = u32(0x04)
        policy = u64(0x08)
        familyID = slice(0x10, 16)
        imageID = slice(0x20, 16)
        vmpl = u32(0x30)
        signatureAlgorithm = u32(0x34)
        currentTCB = u64(0x38)
        platformInfo = u64(0x40)
        signerInfo = u32(0x48)
        reportData = slice(0x50, 64)
        measurement = slice(0x90, 48)
        hostData = slice(0xC0, 32)
        idKeyDigest = slice(0xE0, 48)
        authorKeyDigest = slice(0x110, 48)
        reportID = slice(0x140, 32)
        reportIDMA = slice(0x160, 32)
        reportedTCB = u64(0x180)
        cpuidFamily = u8(0x188)
        cpuidModel = u8(0x189)
        cpuidStepping = u8(0x18A)
        chipID = slice(0x1A0, 64)
        committedTCB = u64(0x1E0)
        currentBuild = u8(0x1E8)
        currentMinor = u8(0x1E9)
        currentMajor = u8(0x1EA)
        committedBuild = u8(0x1EC)
        committedMinor = u8(0x1ED)
        committedMajor = u8(0x1EE)
        launchTCB = u64(0x1F0)
        launchMitigationVector = version >= 5 ? u64(0x1F8) : nil
        currentMitigationVector = version >= 5 ? u64(0x200) : nil
        self.bytes = bytes
    }

    /// Whether the policy allows debugging (bit 19): a debuggable guest's memory is readable by the host.
    public var debug: Bool { policy & (1 << 19) != 0 }

    /// Whether the guest asked for the chip ID to be masked (signer info bit 1).
    public var chipIDMasked: Bool { signerInfo & 0b10 != 0 }

    /// Verifies the report against its VCEK (or VLEK) certificate and returns its claims.
    ///
    /// Checks, in order: the leaf certificate chains through the built-in ASK (VCEK) or ASVK (VLEK) of the
    /// product whose name it carries to that product's pinned ARK, with RSASSA-PSS signatures and every
    /// certificate valid at `time`; the report says it was signed by that kind of key; the ECDSA P-384
    /// signature over bytes 0x000-0x29F verifies with the leaf's key; and the leaf's hardware ID and TCB
    /// extensions match the report's chip ID and reported TCB (so an old certificate of a vulnerable TCB
    /// cannot vouch for a report claiming a newer one, and a VCEK of another chip cannot vouch at all).
    ///
    /// - Parameters:
    ///   - vcek: the DER certificate of the VCEK or VLEK (from AMD KDS or the host's certificate table).
    ///   - chain: extra ASK, ASVK or ARK certificates (from the host's certificate table or AMD KDS). An
    ///     ASK or ASVK is used only when a pinned ARK signed it; an ARK must be one of the pinned ARKs,
    ///     byte for byte, so that no certificate given with the evidence can become a root.
    ///   - time: the time at which certificates must be valid (normally now).
    public func verify(vcek: [UInt8], chain: [[UInt8]] = [], at time: Date) throws -> SNPClaims {
        guard signatureAlgorithm == 1 else {
            throw AttestationError(.unsupported, "SEV-SNP report: signature algorithm \(signatureAlgorithm), expected 1 (ECDSA P-384)")
        }
        let leaf = try RSAPSSCertificate(der: vcek)
        let extra = try chain.map { try RSAPSSCertificate(der: $0) }
        try Self.checkGivenRoots(extra)

        // Find the product and key kind by the leaf's issuer name, then let the signatures decide.
        var found: (product: SNPProduct, key: SNPClaims.SigningKey, ark: RSAPSSCertificate, issuer: RSAPSSCertificate)?
        for product in SNPProduct.allCases {
            let chain = try product.builtInChain()
            if leaf.issuer == chain.ask.subject {
                found = (product, .vcek, chain.ark, chain.ask)
            } else if leaf.issuer == chain.asvk.subject {
                found = (product, .vlek, chain.ark, chain.asvk)
            }
            if found != nil { break }
        }
        if found == nil {
            found = try Self.extraIssuer(of: leaf, among: extra)
        }
        guard let found else {
            throw AttestationError(.untrustedChain, "SEV-SNP: \(leaf.commonName) is not issued by a known AMD ASK or ASVK")
        }
        let (product, signingKey) = (found.product, found.key)
        try product.builtInChain().verify(at: time)
        try found.issuer.verify(issuedBy: found.ark, at: time)
        try leaf.verify(issuedBy: found.issuer, at: time)

        // Signer info bits 2-4 name the key the firmware used; a VLEK certificate must not vouch for a
        // report the firmware says it signed with the VCEK, or the other way round.
        let keySelect = (signerInfo >> 2) & 0b111
        let expectedSelect: UInt32 = signingKey == .vcek ? 0 : 1
        guard keySelect == expectedSelect else {
            throw AttestationError(.bindingMismatch, "SEV-SNP report: signing key field \(keySelect) does not match a \(signingKey.rawValue) certificate")
        }

        try verifySignature(leaf: leaf)
        try checkBindings(leaf: leaf, product: product, signingKey: signingKey)

        return SNPClaims(
            version: version,
            product: product,
            signingKey: signingKey,
            measurement: measurement,
            reportData: reportData,
            hostData: hostData,
            policy: policy,
            debug: debug,
            vmpl: vmpl,
            guestSVN: guestSVN,
            reportedTCB: reportedTCB,
            chipID: chipID,
            familyID: familyID,
            imageID: imageID
        )
    }

    /// Refuses a self-signed certificate given with the evidence unless it is byte for byte one of the
    /// pinned ARKs: a root offered alongside must never be mistaken for AMD's.
    private static func checkGivenRoots(_ extra: [RSAPSSCertificate]) throws {
        for certificate in extra where certificate.subject == certificate.issuer {
            let pinned = try SNPProduct.allCases.contains { try $0.builtInChain().ark.der == certificate.der }
            guard pinned else {
                throw AttestationError(
                    .untrustedChain, "SEV-SNP: the given root \(certificate.commonName) is not one of the pinned AMD ARKs")
            }
        }
    }

    /// The issuer of `leaf` among certificates given with the evidence: an ASK or ASVK signed by a
    /// pinned ARK (which the caller checks).
    private static func extraIssuer(
        of leaf: RSAPSSCertificate, among extra: [RSAPSSCertificate]
    ) throws -> (product: SNPProduct, key: SNPClaims.SigningKey, ark: RSAPSSCertificate, issuer: RSAPSSCertificate)? {
        var pinned: [(SNPProduct, RSAPSSCertificate)] = []
        for product in SNPProduct.allCases { pinned.append((product, try product.builtInChain().ark)) }
        for candidate in extra where candidate.subject == leaf.issuer && candidate.subject != candidate.issuer {
            guard let (product, ark) = pinned.first(where: { $0.1.subject == candidate.issuer }) else { continue }
            // The name says which kind of key the intermediate certifies: AMD calls the ASVK "SEV-VLEK-<product>".
            let key: SNPClaims.SigningKey = candidate.commonName.contains("VLEK") ? .vlek : .vcek
            return (product, key, ark, candidate)
        }
        return nil
    }

    /// Verifies the ECDSA signature at 0x2A0 with the leaf's P-384 key.
    private func verifySignature(leaf: RSAPSSCertificate) throws {
        let key: P384.Signing.PublicKey
        do {
            key = try P384.Signing.PublicKey(derRepresentation: leaf.subjectPublicKeyInfo)
        } catch {
            throw AttestationError(.malformed, "SEV-SNP: \(leaf.commonName) key is not ECDSA P-384 (\(error))")
        }
        // R and S are 72-byte little-endian fields of which P-384 uses 48; the unused high bytes must be
        // zero, so that no signature bit is left unauthenticated and malleable.
        let rField = bytes[Self.signedSize..<Self.signedSize + 72]
        let sField = bytes[Self.signedSize + 72..<Self.signedSize + 144]
        guard rField.dropFirst(48).allSatisfy({ $0 == 0 }), sField.dropFirst(48).allSatisfy({ $0 == 0 }) else {
            throw AttestationError(.malformed, "SEV-SNP report: signature components longer than 48 bytes")
        }
        let raw = Array(rField.prefix(48).reversed()) + Array(sField.prefix(48).reversed())
        let signature: P384.Signing.ECDSASignature
        do {
            signature = try P384.Signing.ECDSASignature(rawRepresentation: raw)
        } catch {
            throw AttestationError(.malformed, "SEV-SNP report: bad signature encoding")
        }
        let digest = SHA384.hash(data: bytes[0..<Self.signedSize])
        guard key.isValidSignature(signature, for: digest) else {
            throw AttestationError(.badSignature, "SEV-SNP report: signature does not verify with the \(leaf.commonName) key")
        }
    }

    /// Checks the leaf certificate's AMD extensions against the report.
    private func checkBindings(leaf: RSAPSSCertificate, product: SNPProduct, signingKey: SNPClaims.SigningKey) throws {
        // The VCEK's hwID (1.3.6.1.4.1.3704.1.4) is the raw 64-byte chip ID. A VLEK has none: it is not
        // tied to a chip. A masked chip ID reads as zeros, so there is nothing to compare.
        if signingKey == .vcek && !chipIDMasked {
            guard let hwID = leaf.extensions["1.3.6.1.4.1.3704.1.4"] else {
                throw AttestationError(.malformed, "SEV-SNP: VCEK has no hardware ID extension")
            }
            guard hwID == chipID else {
                throw AttestationError(.bindingMismatch, "SEV-SNP: VCEK hardware ID is not the report's chip ID")
            }
        }

        // The TCB component SVNs the key was derived at. Byte positions inside the 64-bit TCB version
        // differ by product: Turin added an FMC field and packed the others.
        let positions: [(String, String, Int)] = switch product {
        case .milan, .genoa:
            [("1", "bootloader", 0), ("2", "TEE", 1), ("3", "SNP", 6), ("8", "microcode", 7)]
        case .turin:
            [("9", "FMC", 0), ("1", "bootloader", 1), ("2", "TEE", 2), ("3", "SNP", 3), ("8", "microcode", 7)]
        }
        for (arc, name, byte) in positions {
            guard let value = leaf.extensions["1.3.6.1.4.1.3704.1.3." + arc] else {
                throw AttestationError(.malformed, "SEV-SNP: \(leaf.commonName) has no \(name) SPL extension")
            }
            let spl: Int
            do {
                spl = try Int(derEncoded: DER.parse(value))
            } catch {
                throw AttestationError(.malformed, "SEV-SNP: \(leaf.commonName) \(name) SPL is not an INTEGER")
            }
            let reported = Int((reportedTCB >> (8 * UInt64(byte))) & 0xFF)
            guard spl == reported else {
                throw AttestationError(.bindingMismatch, "SEV-SNP: \(leaf.commonName) \(name) SPL \(spl) is not the reported TCB's \(reported)")
            }
        }
    }
}
