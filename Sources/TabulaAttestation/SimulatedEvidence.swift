import Crypto

/// The evidence of ``SimulatedTEE``, parsed; see there for the layout.
///
/// Parsing checks only the structure; ``verify()`` checks the signature and the fixed measurement.
struct SimulatedEvidence: Sendable {
    /// ASCII "TABULA-SIMULATED". A DCAP quote starts with its version as a little-endian u16 (3, 4 or
    /// 5); these bytes read as 0x4154, and no length of this format is 1184 (an SNP report).
    static let magic: [UInt8] = Array("TABULA-SIMULATED".utf8)
    /// The version written: 2 adds the simulated debug flag and TCB level (version 1, without
    /// them, still verifies, as not debug and TCB level 0).
    static let version: UInt16 = 2
    /// SHA-384 of the ASCII string "tabula simulated TEE v1": a constant that stands where a real TEE
    /// puts the hash of the loaded code. It identifies nothing real.
    static let measurement: [UInt8] = Array(SHA384.hash(data: Array("tabula simulated TEE v1".utf8)))

    /// Bytes before the signature in version 1: magic, version, measurement, report data, platform
    /// key, signature length; version 2 adds a flags byte and a 2-byte TCB level before the length.
    static let headerSize = 16 + 2 + 48 + 64 + 65 + 2
    static func headerSize(version: UInt16) -> Int { version >= 2 ? headerSize + 3 : headerSize }

    var version: UInt16
    var measurement: [UInt8]
    var reportData: [UInt8]
    /// The platform key, x9.63 uncompressed (65 bytes).
    var platformKey: [UInt8]
    /// Whether the simulated TEE says it runs in debug mode (flags bit 0, version 2).
    var debug = false
    /// The simulated TCB level (version 2), standing where real TEEs report firmware versions.
    var tcb: UInt16 = 0
    /// ECDSA P-256/SHA-256, DER, over every byte before the signature length.
    var signature: [UInt8]

    /// Whether `bytes` claims to be simulated evidence (begins with the magic).
    static func recognises(_ bytes: [UInt8]) -> Bool {
        bytes.starts(with: magic)
    }

    /// Signs a fresh evidence structure with the platform key.
    init(reportData: [UInt8], platformKey: P256.Signing.PrivateKey, debug: Bool = false, tcb: UInt16 = 0) throws(AttestationError) {
        guard reportData.count == 64 else {
            throw AttestationError(.malformed, "simulated evidence: report data must be 64 bytes, got \(reportData.count)")
        }
        version = Self.version
        measurement = Self.measurement
        self.reportData = reportData
        self.platformKey = Array(platformKey.publicKey.x963Representation)
        self.debug = debug
        self.tcb = tcb
        signature = []
        do {
            signature = Array(try platformKey.signature(for: signedBytes).derRepresentation)
        } catch {
            throw AttestationError(.badSignature, "simulated evidence: signing with the platform key failed (\(error))")
        }
    }

    /// Parses the structure; every length is checked, nothing is verified.
    init(bytes: [UInt8]) throws(AttestationError) {
        guard Self.recognises(bytes) else {
            throw AttestationError(.malformed, "simulated evidence: does not begin with \"TABULA-SIMULATED\"")
        }
        guard bytes.count >= Self.headerSize else {
            throw AttestationError(
                .malformed, "simulated evidence truncated: \(bytes.count) bytes, the header alone is \(Self.headerSize)")
        }
        func u16(_ offset: Int) -> UInt16 { UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1]) }
        version = u16(16)
        guard version == 1 || version == 2 else {
            throw AttestationError(.unsupported, "simulated evidence version \(version) (only 1 and 2 are known)")
        }
        let header = Self.headerSize(version: version)
        guard bytes.count >= header else {
            throw AttestationError(.malformed, "simulated evidence truncated: \(bytes.count) bytes, the header alone is \(header)")
        }
        measurement = Array(bytes[18..<66])
        reportData = Array(bytes[66..<130])
        platformKey = Array(bytes[130..<195])
        if version >= 2 {
            guard bytes[195] & ~1 == 0 else {
                throw AttestationError(.malformed, "simulated evidence: unknown flags \(bytes[195])")
            }
            debug = bytes[195] & 1 == 1
            tcb = u16(196)
        }
        let length = Int(u16(header - 2))
        guard bytes.count == header + length else {
            let problem = bytes.count < header + length ? "truncated" : "followed by trailing bytes"
            throw AttestationError(.malformed, "simulated evidence \(problem): the signature is \(length) bytes, \(bytes.count - header) remain")
        }
        signature = Array(bytes[header...])
    }

    /// The bytes the platform key signs.
    var signedBytes: [UInt8] {
        var out = Self.magic
        out += [UInt8(version >> 8), UInt8(version & 0xFF)]
        out += measurement + reportData + platformKey
        if version >= 2 {
            out += [debug ? 1 : 0, UInt8(tcb >> 8), UInt8(tcb & 0xFF)]
        }
        return out
    }

    /// The whole evidence.
    var bytes: [UInt8] {
        signedBytes + [UInt8(signature.count >> 8), UInt8(signature.count & 0xFF)] + signature
    }

    /// Checks the platform key's signature and the fixed measurement; returns the platform public key.
    func verify() throws(AttestationError) -> P256.Signing.PublicKey {
        let key: P256.Signing.PublicKey
        do {
            key = try P256.Signing.PublicKey(x963Representation: platformKey)
        } catch {
            throw AttestationError(.malformed, "simulated evidence: the platform key is not a P-256 point")
        }
        let parsed: P256.Signing.ECDSASignature
        do {
            parsed = try P256.Signing.ECDSASignature(derRepresentation: signature)
        } catch {
            throw AttestationError(.badSignature, "simulated evidence: the signature is not a DER ECDSA signature")
        }
        guard key.isValidSignature(parsed, for: signedBytes) else {
            throw AttestationError(.badSignature, "simulated evidence: the platform key's signature does not verify")
        }
        guard measurement == Self.measurement else {
            throw AttestationError(.malformed, "simulated evidence: the measurement is not the simulated TEE's constant")
        }
        return key
    }
}
