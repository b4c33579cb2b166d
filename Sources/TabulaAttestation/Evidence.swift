public import Foundation
public import TabulaWire

/// Hardware evidence of any supported kind, recognised from its bytes and verified.
///
/// Evidence that begins with `TABULA-SIMULATED` is ``SimulatedTEE``'s (from a machine without TEE
/// hardware); an AMD SEV-SNP attestation report is exactly 1184 bytes and needs its VCEK (or the host's
/// certificate table holding it); anything else is read as an Intel DCAP quote (SGX v3, TDX v4 and
/// v5). Hex text, with or without `0x`, is accepted as well as binary.
public enum Evidence {
    /// The claims that every kind of evidence has, plus the kind's own fields.
    public struct Claims: Sendable, Hashable {
        /// `sgx`, `tdx`, `sev-snp` or `simulated`.
        public var tee: String
        public var version: Int
        public var reportData: [UInt8]
        /// MRENCLAVE, MRTD, the SNP launch measurement, or the simulated TEE's constant.
        public var measurement: [UInt8]
        public var debug: Bool
        /// TEE-specific fields, as JSON (hex for byte strings).
        public var fields: [String: JSONValue]

        public init(tee: String, version: Int, reportData: [UInt8], measurement: [UInt8], debug: Bool, fields: [String: JSONValue] = [:]) {
            self.tee = tee
            self.version = version
            self.reportData = reportData
            self.measurement = measurement
            self.debug = debug
            self.fields = fields
        }
    }

    /// The evidence bytes: the input itself, or the bytes its hex text spells.
    public static func bytes(from input: [UInt8]) -> [UInt8] {
        var text = String(decoding: input, as: UTF8.self).filter { !$0.isWhitespace }
        if text.hasPrefix("0x") || text.hasPrefix("0X") { text.removeFirst(2) }
        if !text.isEmpty, let decoded = [UInt8](hex: text) { return decoded }
        return input
    }

    /// Verifies evidence at `time`: every signature and certificate chain up to the pinned vendor roots.
    ///
    /// - Parameter certificate: for SEV-SNP reports (required): the VCEK or VLEK (DER or PEM), or the
    ///   host's certificate table (``SNPCertificateTable``, configfs-tsm's `auxblob`), recognised by its
    ///   GUIDs; from a table the key the report names (VCEK or VLEK) is used, with its ASK and ARK.
    /// Simulated evidence verifies when its platform key signed it; the claims say `simulated`, and
    /// their fields hold the platform key's hash and a notice that it proves nothing.
    public static func verify(_ evidence: [UInt8], certificate: [UInt8]?, at time: Date) async throws -> Claims {
        if SimulatedEvidence.recognises(evidence) {
            let simulated = try SimulatedEvidence(bytes: evidence)
            let platformKey = try simulated.verify()
            return Claims(
                tee: "simulated", version: Int(simulated.version), reportData: simulated.reportData,
                measurement: simulated.measurement, debug: false,
                fields: [
                    "platformKey": .string(SimulatedTEE.keyID(platformKey)),
                    "notice": .string("simulated evidence from a machine without TEE hardware: it proves nothing about where the code runs"),
                ])
        }
        if evidence.count == SNPReport.size {
            return try verifySNP(evidence, certificate: certificate, at: time)
        }
        let claims = try await Quote(bytes: Data(evidence)).verify(at: time)
        var fields: [String: JSONValue] = ["fmspc": .string(Array(claims.fmspc).hex), "pceID": .string(Array(claims.pceID).hex)]
        let optional: [(String, Data?)] = [
            ("mrSigner", claims.mrSigner), ("attributes", claims.attributes), ("rtmr0", claims.rtmr0), ("rtmr1", claims.rtmr1),
            ("rtmr2", claims.rtmr2), ("rtmr3", claims.rtmr3), ("mrSeam", claims.mrSeam), ("tdAttributes", claims.tdAttributes),
            ("teeTcbSvn", claims.teeTcbSvn),
        ]
        for (key, value) in optional { if let value { fields[key] = .string(Array(value).hex) } }
        if let product = claims.isvProdID { fields["isvProdID"] = .integer(Int64(product)) }
        if let svn = claims.isvSVN { fields["isvSVN"] = .integer(Int64(svn)) }
        return Claims(
            tee: claims.tee.rawValue, version: Int(claims.version), reportData: Array(claims.reportData),
            measurement: Array(claims.measurement), debug: claims.debug, fields: fields)
    }

    /// An SEV-SNP report with its VCEK or VLEK, given alone or in a certificate table.
    private static func verifySNP(_ evidence: [UInt8], certificate: [UInt8]?, at time: Date) throws -> Claims {
        guard let certificate else {
            throw AttestationError(.unsupported, "this is an SEV-SNP report: give its VCEK or VLEK certificate, or the host's certificate table (--cert)")
        }
        let report = try SNPReport(bytes: evidence)
        let leaf: [UInt8]
        var chain: [[UInt8]] = []
        if SNPCertificateTable.recognises(certificate) {
            let table = try SNPCertificateTable(bytes: certificate)
            // The report names the key that signed it (signer info bits 2-4: 0 VCEK, 1 VLEK).
            let kind: SNPCertificateTable.Kind = (report.signerInfo >> 2) & 0b111 == 1 ? .vlek : .vcek
            guard let found = table[kind] else {
                throw AttestationError(.unsupported, "the SEV-SNP certificate table has no \(kind.rawValue), the key that signed this report")
            }
            leaf = found
            chain += [table[.ask], table[.ark]].compactMap { $0 }
        } else {
            leaf = try der(certificate)
        }
        let claims = try report.verify(vcek: leaf, chain: chain, at: time)
        return Claims(
            tee: "sev-snp", version: Int(claims.version), reportData: claims.reportData,
            measurement: claims.measurement, debug: claims.debug,
            fields: [
                "hostData": .string(claims.hostData.hex), "policy": .integer(Int64(bitPattern: claims.policy)),
                "vmpl": .integer(Int64(claims.vmpl)), "reportedTCB": .integer(Int64(bitPattern: claims.reportedTCB)),
                "chipID": .string(claims.chipID.hex), "product": .string(claims.product.rawValue),
                "signingKey": .string(claims.signingKey.rawValue), "guestSVN": .integer(Int64(claims.guestSVN)),
            ])
    }

    /// The report data of `evidence`, read without verifying anything: for checks that should come
    /// before the (costlier) verification and name a binding failure as such.
    static func unverifiedReportData(_ evidence: [UInt8]) throws -> [UInt8] {
        if SimulatedEvidence.recognises(evidence) { return try SimulatedEvidence(bytes: evidence).reportData }
        if evidence.count == SNPReport.size { return try SNPReport(bytes: evidence).reportData }
        return Array(try Quote(bytes: evidence).reportData)
    }

    /// DER from DER or PEM.
    private static func der(_ certificate: [UInt8]) throws(AttestationError) -> [UInt8] {
        let text = String(decoding: certificate, as: UTF8.self)
        guard text.contains("-----BEGIN CERTIFICATE-----") else { return certificate }
        let body = text.components(separatedBy: "-----BEGIN CERTIFICATE-----")[1].components(separatedBy: "-----END CERTIFICATE-----")[0]
        guard let decoded = Data(base64Encoded: body.filter { !$0.isWhitespace }) else {
            throw AttestationError(.malformed, "the certificate's PEM text is not valid base64")
        }
        return Array(decoded)
    }
}
