public import Foundation
import SwiftASN1
import X509

extension Quote {
    /// What Intel's SGX extension (1.2.840.113741.1.13.1) of a PCK certificate says about the platform:
    /// FMSPC and PCE ID, and the TCB the certificate was issued for (16 CPU SVN components and the PCE
    /// SVN), which is what Intel's TCB info levels are compared with.
    public struct PCKExtension: Sendable, Hashable {
        /// Family-model-stepping-platform-CustomSKU, 6 bytes: which TCB info applies.
        public var fmspc: Data
        /// The provisioning certification enclave's ID, 2 bytes.
        public var pceID: Data
        /// SGX TCB component SVNs 1 to 16 (extension 1.2.840.113741.1.13.1.2.1 to .16).
        public var tcbComponents: [Int]
        /// The PCE security version of the TCB (…1.2.17).
        public var pceSVN: Int
        /// The raw CPU SVN of the TCB (…1.2.18), 16 bytes.
        public var cpuSVN: Data

        static let tcbOID: ASN1ObjectIdentifier = [1, 2, 840, 113_741, 1, 13, 1, 2]

        /// Reads the extension of `certificate`.
        init(certificate: Certificate) throws(AttestationError) {
            guard let ext = certificate.extensions[oid: Quote.sgxExtensionOID] else {
                throw AttestationError(.malformed, "PCK certificate has no SGX extension (1.2.840.113741.1.13.1)")
            }
            var fmspc: Data?
            var pceID: Data?
            var components = [Int?](repeating: nil, count: 16)
            var pceSVN: Int?
            var cpuSVN: Data?
            do {
                // A SEQUENCE of SEQUENCE { OID, value }; the TCB value is itself such a SEQUENCE.
                for (oid, value) in try Self.pairs(try DER.parse(ext.value)) {
                    if oid == Quote.fmspcOID {
                        fmspc = Data(try ASN1OctetString(derEncoded: value).bytes)
                    } else if oid == Quote.pceIDOID {
                        pceID = Data(try ASN1OctetString(derEncoded: value).bytes)
                    } else if oid == Self.tcbOID {
                        for (tcbOID, tcbValue) in try Self.pairs(value) {
                            let arcs = Array(tcbOID.oidComponents)
                            guard arcs.count == Self.tcbOID.oidComponents.count + 1,
                                  Array(arcs.dropLast()) == Array(Self.tcbOID.oidComponents), let last = arcs.last
                            else { continue }
                            switch last {
                            case 1...16: components[Int(last) - 1] = try Int(derEncoded: tcbValue)
                            case 17: pceSVN = try Int(derEncoded: tcbValue)
                            case 18: cpuSVN = Data(try ASN1OctetString(derEncoded: tcbValue).bytes)
                            default: continue
                            }
                        }
                    }
                }
            } catch let error as AttestationError {
                throw error
            } catch {
                throw AttestationError(.malformed, "PCK SGX extension does not parse: \(error)")
            }
            guard let fmspc, fmspc.count == 6 else {
                throw AttestationError(.malformed, "PCK SGX extension has no 6-byte FMSPC")
            }
            guard let pceID, pceID.count == 2 else {
                throw AttestationError(.malformed, "PCK SGX extension has no 2-byte PCE ID")
            }
            self.fmspc = fmspc
            self.pceID = pceID
            // The TCB is only needed to judge a TCB status; a certificate without it still identifies
            // the platform, so its absence is reported when collateral asks for it.
            self.tcbComponents = components.map { $0 ?? -1 }
            self.pceSVN = pceSVN ?? -1
            self.cpuSVN = cpuSVN ?? Data()
        }

        /// Whether the certificate carried a complete TCB (all 16 components and the PCE SVN).
        var hasTCB: Bool { !tcbComponents.contains(-1) && pceSVN >= 0 }

        /// The (OID, value) pairs of a SEQUENCE of SEQUENCE { OID, value }.
        private static func pairs(_ node: ASN1Node) throws -> [(ASN1ObjectIdentifier, ASN1Node)] {
            guard case .constructed(let entries) = node.content else {
                throw AttestationError(.malformed, "PCK SGX extension: expected a SEQUENCE")
            }
            var result: [(ASN1ObjectIdentifier, ASN1Node)] = []
            for entry in entries {
                guard case .constructed(let pair) = entry.content else { continue }
                var fields = pair.makeIterator()
                guard let oidNode = fields.next(), let valueNode = fields.next() else { continue }
                result.append((try ASN1ObjectIdentifier(derEncoded: oidNode), valueNode))
            }
            return result
        }
    }
}
