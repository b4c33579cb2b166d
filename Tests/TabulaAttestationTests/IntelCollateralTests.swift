import Foundation
import Testing
import TabulaWire
@testable import TabulaAttestation

/// The real quotes with Intel's real collateral, at times when the collateral was current. The
/// expected statuses were worked out independently from the JSON (the PCK certificate's TCB against
/// each level, newest first), not by running this code.
@Suite("Intel collateral")
struct IntelCollateralTests {
    /// Inside the dcap-qvl collateral's validity (issued 2025-06-19, next update 2025-07-19).
    static let july2025 = AttestationSamples.date("2025-07-01T00:00:00Z")
    /// Inside go-tdx-guest's TDX 1.5 TCB info validity (issued 2026-02-01, next update 2026-03-03).
    static let february2026 = AttestationSamples.date("2026-02-15T00:00:00Z")
    /// Inside go-tdx-guest's 2023 collateral validity.
    static let july2023 = AttestationSamples.date("2023-07-01T00:00:00Z")

    /// The Intel SGX TCB Signing certificate valid 2018-05-21 to 2025-05-21, which signed go-tdx-guest's
    /// 2023 TCB info and QE identity. PCS sends it in the `TCB-Info-Issuer-Chain` header, so the samples
    /// lack it; this copy is from google/go-tdx-guest `testing/test_cases.go` (`tcbInfoIssuerChain`,
    /// URL-decoded), SHA-256 fingerprint EC:37:D9:81:07:BF:B7:DA:B6:FF:8D:E4:D4:DD:A6:FD:E3:0A:6F:50:B0:D7:B0:3E:EF:B5:65:2F:1E:65:29:69.
    static let tcbSigning2018 = """
        -----BEGIN CERTIFICATE-----
        MIICizCCAjKgAwIBAgIUfjiC1ftVKUpASY5FhAPpFJG99FUwCgYIKoZIzj0EAwIw
        aDEaMBgGA1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENv
        cnBvcmF0aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJ
        BgNVBAYTAlVTMB4XDTE4MDUyMTEwNTAxMFoXDTI1MDUyMTEwNTAxMFowbDEeMBwG
        A1UEAwwVSW50ZWwgU0dYIFRDQiBTaWduaW5nMRowGAYDVQQKDBFJbnRlbCBDb3Jw
        b3JhdGlvbjEUMBIGA1UEBwwLU2FudGEgQ2xhcmExCzAJBgNVBAgMAkNBMQswCQYD
        VQQGEwJVUzBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABENFG8xzydWRfK92bmGv
        P+mAh91PEyV7Jh6FGJd5ndE9aBH7R3E4A7ubrlh/zN3C4xvpoouGlirMba+W2lju
        ypajgbUwgbIwHwYDVR0jBBgwFoAUImUM1lqdNInzg7SVUr9QGzknBqwwUgYDVR0f
        BEswSTBHoEWgQ4ZBaHR0cHM6Ly9jZXJ0aWZpY2F0ZXMudHJ1c3RlZHNlcnZpY2Vz
        LmludGVsLmNvbS9JbnRlbFNHWFJvb3RDQS5kZXIwHQYDVR0OBBYEFH44gtX7VSlK
        QEmORYQD6RSRvfRVMA4GA1UdDwEB/wQEAwIGwDAMBgNVHRMBAf8EAjAAMAoGCCqG
        SM49BAMCA0cAMEQCIB9C8wOAN/ImxDtGACV246KcqjagZOR0kyctyBrsGGJVAiAj
        ftbrNGsGU8YH211dRiYNoPPu19Zp/ze8JmhujB0oBw==
        -----END CERTIFICATE-----
        """

    static func collateral(_ paths: String...) throws -> IntelCollateral {
        try IntelCollateral(files: try paths.map(AttestationSamples.load))
    }

    static func quote(_ path: String) throws -> Quote {
        try Quote(bytes: Data(try AttestationSamples.load(path)))
    }

    /// The dcap-qvl TDX bundle's TCB signing chain (the 2025 TCB Signing certificate and the root), PEM.
    static func tcbSigningChain2025() throws -> [UInt8] {
        let bundle = try JSONValue(parsing: try AttestationSamples.load("tdx/dcap-qvl-tdx-quote-v4.collateral.json"))
        return Array(bundle["tcb_info_issuer_chain"]!.stringValue!.utf8)
    }

    @Test("SGX v3 with its collateral: ConfigurationAndSWHardeningNeeded, QE up to date, CRLs applied")
    func sgxBundle() async throws {
        let claims = try await Self.quote("sgx/dcap-qvl-sgx-quote-v3.bin")
            .verify(at: Self.july2025, collateral: try Self.collateral("sgx/dcap-qvl-sgx-quote-v3.collateral.json"))
        let tcb = try #require(claims.tcb)
        #expect(tcb.status == .configurationAndSWHardeningNeeded)
        #expect(tcb.platformStatus == .configurationAndSWHardeningNeeded)
        #expect(tcb.qeStatus == .upToDate)
        #expect(tcb.tdxModuleStatus == nil)
        #expect(tcb.advisoryIDs == ["INTEL-SA-00289", "INTEL-SA-00615"])
        #expect(tcb.tcbDate == "2024-03-13T00:00:00Z")
        #expect(tcb.nextUpdate == AttestationSamples.date("2025-07-19T10:01:18Z"))
        #expect(claims.crlIssuers == ["Intel SGX PCK Processor CA", "Intel SGX Root CA"])
        #expect(claims.pceSVN == 13)
        #expect(claims.tcbComponents == [11, 11, 2, 2, 255, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    }

    @Test("TDX v4 with its collateral: up to date, module and QE too")
    func tdxBundle() async throws {
        let claims = try await Self.quote("tdx/dcap-qvl-tdx-quote-v4.bin")
            .verify(at: Self.july2025, collateral: try Self.collateral("tdx/dcap-qvl-tdx-quote-v4.collateral.json"))
        let tcb = try #require(claims.tcb)
        #expect(tcb.status == .upToDate)
        #expect(tcb.qeStatus == .upToDate)
        #expect(tcb.tdxModuleStatus == .upToDate)
        #expect(tcb.advisoryIDs.isEmpty)
        #expect(claims.crlIssuers == ["Intel SGX PCK Platform CA", "Intel SGX Root CA"])
    }

    @Test("Evidence.verify reports the status, and the default policy accepts only UpToDate")
    func evidenceAndPolicy() async throws {
        let sgx = try await Evidence.verify(
            try AttestationSamples.load("sgx/dcap-qvl-sgx-quote-v3.bin"), certificate: nil,
            collateral: try Self.collateral("sgx/dcap-qvl-sgx-quote-v3.collateral.json"), at: Self.july2025)
        #expect(sgx.tcbStatus == .configurationAndSWHardeningNeeded)
        #expect(sgx.fields["tcbStatus"] == "ConfigurationAndSWHardeningNeeded")
        #expect(sgx.fields["advisoryIDs"] == ["INTEL-SA-00289", "INTEL-SA-00615"])
        #expect(sgx.fields["tcb"]?["qeStatus"] == "UpToDate")
        let reasons = AppraisalPolicy().appraise(sgx)
        #expect(reasons.count == 1)
        #expect(reasons.first?.contains("ConfigurationAndSWHardeningNeeded") == true)
        #expect(AppraisalPolicy(acceptedTCBStatuses: ["UpToDate", "ConfigurationAndSWHardeningNeeded"]).appraise(sgx).isEmpty)

        let tdx = try await Evidence.verify(
            try AttestationSamples.load("tdx/dcap-qvl-tdx-quote-v4.bin"), certificate: nil,
            collateral: try Self.collateral("tdx/dcap-qvl-tdx-quote-v4.collateral.json"), at: Self.july2025)
        #expect(tdx.tcbStatus == .upToDate)
        #expect(AppraisalPolicy().appraise(tdx).isEmpty)
    }

    @Test("collateral past its next update fails")
    func expired() async throws {
        let error = await #expect(throws: AttestationError.self) {
            _ = try await Self.quote("tdx/dcap-qvl-tdx-quote-v4.bin")
                .verify(at: AttestationSamples.now, collateral: try Self.collateral("tdx/dcap-qvl-tdx-quote-v4.collateral.json"))
        }
        #expect(error?.code == .untrustedChain)
        #expect(error?.message.contains("expired") == true)
        // Without the CRLs (which expire first), the TCB info's own expiry is what fails.
        var tcbOnly = try Self.collateral("tdx/dcap-qvl-tdx-quote-v4.collateral.json")
        tcbOnly.crls = []
        let tcbError = await #expect(throws: AttestationError.self) {
            _ = try await Self.quote("tdx/dcap-qvl-tdx-quote-v4.bin").verify(at: AttestationSamples.now, collateral: tcbOnly)
        }
        #expect(tcbError?.message.contains("TCB info expired") == true)
    }

    @Test("a changed TCB info or QE identity fails its signature", arguments: ["tcb_info", "qe_identity"])
    func tampered(member: String) async throws {
        var bundle = try JSONValue(parsing: try AttestationSamples.load("tdx/dcap-qvl-tdx-quote-v4.collateral.json")).objectValue!
        // Lower a level's status: the kind of change an attacker would want.
        let original = bundle[member]!.stringValue!
        let changed = original.replacingOccurrences(of: "\"isvsvn\":4", with: "\"isvsvn\":3")
        #expect(changed != original)
        bundle[member] = .string(changed)
        let collateral = try IntelCollateral(files: [JSONValue.object(bundle).encoded])
        let error = await #expect(throws: AttestationError.self) {
            _ = try await Self.quote("tdx/dcap-qvl-tdx-quote-v4.bin").verify(at: Self.july2025, collateral: collateral)
        }
        #expect(error?.code == .badSignature)
    }

    @Test("the collateral of another platform or TEE kind does not apply")
    func wrongPlatform() async throws {
        let error = await #expect(throws: AttestationError.self) {
            _ = try await Self.quote("tdx/dcap-qvl-tdx-quote-v4.bin")
                .verify(at: Self.july2025, collateral: try Self.collateral("sgx/dcap-qvl-sgx-quote-v3.collateral.json"))
        }
        #expect(error?.code == .bindingMismatch)
        #expect(error?.message.contains("FMSPC") == true)
    }

    @Test("a PCS TCB info response verifies with the TCB Signing certificate given alongside (TDX 1.5, quote v5)")
    func pcsResponse() async throws {
        let quote = try Self.quote("tdx/go-tdx-guest-quote-v5.bin")
        let collateral = try Self.collateral("tdx/sample_tcbinfo_response_v5")
        let chain = try IntelCollateral.certificates(pem: String(decoding: try Self.tcbSigningChain2025(), as: UTF8.self))
        let claims = try await quote.verify(at: Self.february2026, chain: chain, collateral: collateral)
        let tcb = try #require(claims.tcb)
        #expect(tcb.status == .upToDate)
        #expect(tcb.tdxModuleStatus == .upToDate)
        #expect(tcb.qeStatus == nil)
        // Without the issuer chain header there is nothing to check the signature with.
        let error = await #expect(throws: AttestationError.self) {
            _ = try await quote.verify(at: Self.february2026, collateral: collateral)
        }
        #expect(error?.message.contains("TCB Signing") == true)
        // The same chain as a collateral file works too.
        var withFile = collateral
        try withFile.add(try Self.tcbSigningChain2025())
        #expect(try await quote.verify(at: Self.february2026, collateral: withFile).tcb?.status == .upToDate)
    }

    @Test("go-tdx-guest's 2023 collateral: CRLs apply, and the sample's TCB is below every level")
    func goTDXGuest2023() async throws {
        let quote = try Self.quote("tdx/go-tdx-guest-spr-e4-quote-v4.bin")
        let crls = try Self.collateral("tdx/pckcrl", "tdx/rootcrl.der")
        let claims = try await quote.verify(at: Self.july2023, collateral: crls)
        #expect(claims.tcb == nil)
        #expect(claims.crlIssuers == ["Intel SGX PCK Platform CA", "Intel SGX Root CA"])

        var full = try Self.collateral("tdx/pckcrl", "tdx/rootcrl.der", "tdx/sample_tcbInfo_response", "tdx/sample_qeIdentity_response")
        try full.add(Array(Self.tcbSigning2018.utf8))
        // go-tdx-guest notes that this quote's TEE TCB SVN is below its sample TCB info's levels.
        let error = await #expect(throws: AttestationError.self) { _ = try await quote.verify(at: Self.july2023, collateral: full) }
        #expect(error?.code == .untrustedChain)
        #expect(error?.message.contains("below every level") == true)
        // A TCB Signing certificate outside its validity does not sign anything.
        await #expect(throws: AttestationError.self) { _ = try await quote.verify(at: Self.february2026, collateral: full) }
    }

    @Test("a PCK certificate cannot stand in for the TCB Signing certificate")
    func signerMustBeTCBSigning() async throws {
        // The PCK chain's leaf chains to the same root; it must still not be accepted as a signer.
        let quote = try Self.quote("tdx/go-tdx-guest-quote-v5.bin")
        let pem = String(decoding: quote.certification.pckChainPEM.filter { $0 != 0 }, as: UTF8.self)
        let pckChain = try IntelCollateral.certificates(pem: pem)
        let error = await #expect(throws: AttestationError.self) {
            _ = try await quote.verify(at: Self.february2026, chain: pckChain, collateral: try Self.collateral("tdx/sample_tcbinfo_response_v5"))
        }
        #expect(error?.message.contains("no Intel SGX TCB Signing certificate") == true)
    }

    @Test("collateral files that are none of the formats, or repeat a document, are refused")
    func badFiles() throws {
        #expect(throws: AttestationError.self) { _ = try IntelCollateral(files: [Array("hello".utf8)]) }
        #expect(throws: AttestationError.self) { _ = try IntelCollateral(files: [Array("{\"other\": 1}".utf8)]) }
        #expect(throws: AttestationError.self) { _ = try IntelCollateral(files: [Array("{\"tcbInfo\": {}, \"signature\": \"zz\"}".utf8)]) }
        let response = try AttestationSamples.load("tdx/sample_tcbInfo_response")
        #expect(throws: AttestationError.self) { _ = try IntelCollateral(files: [response, response]) }
        #expect(try IntelCollateral(files: [response]).hasTCBInfo)
    }

    @Test("a QE identity without a TCB info is refused rather than ignored")
    func qeIdentityAlone() async throws {
        let collateral = try Self.collateral("tdx/sample_qeIdentity_response")
        let error = await #expect(throws: AttestationError.self) {
            _ = try await Self.quote("tdx/go-tdx-guest-spr-e4-quote-v4.bin").verify(at: Self.july2023, collateral: collateral)
        }
        #expect(error?.message.contains("no TCB info") == true)
    }

    @Test("the signed bytes of a PCS response are the member's value exactly")
    func rawMember() throws {
        let text = #"{ "a" : "x\"}" , "tcbInfo":{"k":[1,{"s":"]}"}],"n":null} ,"signature":"ab"}"#
        let value = try #require(RawJSON.member("tcbInfo", in: Array(text.utf8)))
        #expect(String(decoding: value, as: UTF8.self) == #"{"k":[1,{"s":"]}"}],"n":null}"#)
        #expect(RawJSON.member("signature", in: Array(text.utf8)).map { String(decoding: $0, as: UTF8.self) } == "\"ab\"")
        #expect(RawJSON.member("missing", in: Array(text.utf8)) == nil)
        #expect(RawJSON.member("a", in: Array("[1]".utf8)) == nil)
        #expect(RawJSON.member("a", in: Array(#"{"a": "#.utf8)) == nil)
    }
}
