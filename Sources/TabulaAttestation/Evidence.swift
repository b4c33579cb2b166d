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
        /// Intel quotes verified with a TCB info: the platform's TCB status. Nil otherwise.
        public var tcbStatus: TCBStatus?
        /// SEV-SNP: the TCB version the report was signed at, decoded for the product. Nil otherwise.
        public var snpTCB: SNPTCBVersion?
        /// How the enclave runs tenant code, as the claims of Tabula's identity certificate state it
        /// (bound by the report data). Nil for bare evidence and other frameworks' certificates.
        public var runtime: RuntimeClaims?

        public init(
            tee: String, version: Int, reportData: [UInt8], measurement: [UInt8], debug: Bool, fields: [String: JSONValue] = [:],
            tcbStatus: TCBStatus? = nil, snpTCB: SNPTCBVersion? = nil, runtime: RuntimeClaims? = nil
        ) {
            self.tee = tee
            self.version = version
            self.reportData = reportData
            self.measurement = measurement
            self.debug = debug
            self.fields = fields
            self.tcbStatus = tcbStatus
            self.snpTCB = snpTCB
            self.runtime = runtime
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
    /// - Parameters:
    ///   - certificate: for SEV-SNP reports (required): the VCEK or VLEK (DER or PEM), or the host's
    ///     certificate table (``SNPCertificateTable``, configfs-tsm's `auxblob`), recognised by its GUIDs;
    ///     from a table the key the report names (VCEK or VLEK) is used, and its ASK and ARK join `chain`.
    ///   - chain: extra certificates (PEM, one or more, or one DER): for SEV-SNP the ASK, ASVK or ARK from
    ///     the host or AMD KDS; for Intel the PCK chain of a quote that carries none, or the TCB Signing
    ///     certificate of collateral given as PCS responses. They never become roots: the vendor roots
    ///     stay pinned.
    ///   - collateral: Intel's TCB info, QE identity and CRLs; with a TCB info the claims get a
    ///     ``TCBStatus`` (`tcbStatus`, and the details in `fields["tcb"]`).
    /// Simulated evidence verifies when its platform key signed it; the claims say `simulated`, and
    /// their fields hold the platform key's hash and a notice that it proves nothing.
    public static func verify(
        _ evidence: [UInt8], certificate: [UInt8]?, chain: [UInt8]? = nil, collateral: IntelCollateral? = nil, at time: Date
    ) async throws -> Claims {
        let extra = try chain.map(certificates) ?? []
        if SimulatedEvidence.recognises(evidence) {
            let simulated = try SimulatedEvidence(bytes: evidence)
            let platformKey = try simulated.verify()
            return Claims(
                tee: "simulated", version: Int(simulated.version), reportData: simulated.reportData,
                measurement: simulated.measurement, debug: simulated.debug,
                fields: [
                    "platformKey": .string(SimulatedTEE.keyID(platformKey)),
                    "tcb": .integer(Int64(simulated.tcb)),
                    "notice": .string("simulated evidence from a machine without TEE hardware: it proves nothing about where the code runs"),
                ])
        }
        if evidence.count == SNPReport.size {
            return try verifySNP(evidence, certificate: certificate, chain: extra, at: time)
        }
        let claims = try await Quote(bytes: Data(evidence)).verify(at: time, chain: extra, collateral: collateral)
        var fields: [String: JSONValue] = [
            "fmspc": .string(Array(claims.fmspc).hex), "pceID": .string(Array(claims.pceID).hex),
            "pceSVN": .integer(Int64(claims.pceSVN)), "tcbComponents": .array(claims.tcbComponents.map { .integer(Int64($0)) }),
        ]
        if !claims.crlIssuers.isEmpty { fields["crls"] = .array(claims.crlIssuers.map(JSONValue.string)) }
        if let tcb = claims.tcb {
            fields["tcbStatus"] = .string(tcb.status.rawValue)
            fields["advisoryIDs"] = .array(tcb.advisoryIDs.map(JSONValue.string))
            var details: [String: JSONValue] = [
                "platformStatus": .string(tcb.platformStatus.rawValue),
                "collateralNextUpdate": .string(ISO8601DateFormatter().string(from: tcb.nextUpdate)),
            ]
            if let qe = tcb.qeStatus { details["qeStatus"] = .string(qe.rawValue) }
            if let module = tcb.tdxModuleStatus { details["tdxModuleStatus"] = .string(module.rawValue) }
            if let date = tcb.tcbDate { details["tcbDate"] = .string(date) }
            fields["tcb"] = .object(details)
        }
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
            measurement: Array(claims.measurement), debug: claims.debug, fields: fields, tcbStatus: claims.tcb?.status)
    }

    /// An SEV-SNP report with its VCEK or VLEK, given alone or in a certificate table.
    private static func verifySNP(_ evidence: [UInt8], certificate: [UInt8]?, chain: [[UInt8]], at time: Date) throws -> Claims {
        guard let certificate else {
            throw AttestationError(.unsupported, "this is an SEV-SNP report: give its VCEK or VLEK certificate, or the host's certificate table (--cert)")
        }
        let report = try SNPReport(bytes: evidence)
        let leaf: [UInt8]
        var chain = chain
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
        let tcb = SNPTCBVersion(raw: claims.reportedTCB, product: claims.product)
        var tcbFields: [String: JSONValue] = [
            "bootloader": .integer(Int64(tcb.bootloader)), "tee": .integer(Int64(tcb.tee)),
            "snp": .integer(Int64(tcb.snp)), "microcode": .integer(Int64(tcb.microcode)),
        ]
        if let fmc = tcb.fmc { tcbFields["fmc"] = .integer(Int64(fmc)) }
        var fields: [String: JSONValue] = [
            "hostData": .string(claims.hostData.hex), "policy": .integer(Int64(bitPattern: claims.policy)),
            "vmpl": .integer(Int64(claims.vmpl)), "reportedTCB": .integer(Int64(bitPattern: claims.reportedTCB)),
            "reportedTCBVersion": .object(tcbFields),
            "chipID": .string(claims.chipID.hex), "product": .string(claims.product.rawValue),
            "signingKey": .string(claims.signingKey.rawValue), "guestSVN": .integer(Int64(claims.guestSVN)),
        ]
        if let vector = report.launchMitigationVector { fields["launchMitigationVector"] = .integer(Int64(bitPattern: vector)) }
        if let vector = report.currentMitigationVector { fields["currentMitigationVector"] = .integer(Int64(bitPattern: vector)) }
        return Claims(
            tee: "sev-snp", version: Int(claims.version), reportData: claims.reportData,
            measurement: claims.measurement, debug: claims.debug, fields: fields, snpTCB: tcb)
    }

    /// The DER certificates of `bytes`: every certificate of a PEM text, or one DER certificate.
    static func certificates(_ bytes: [UInt8]) throws -> [[UInt8]] {
        let text = String(decoding: bytes, as: UTF8.self)
        guard text.contains("-----BEGIN CERTIFICATE-----") else { return bytes.isEmpty ? [] : [bytes] }
        return try IntelCollateral.certificates(pem: text)
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
