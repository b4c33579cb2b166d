/// The security versions in an AMD SEV-SNP TCB version (a 64-bit field of the report), decoded for
/// the product: Milan and Genoa put bootloader, TEE, SNP and microcode at bytes 0, 1, 6 and 7; Turin
/// adds an FMC version at byte 0 and packs the others at 1, 2, 3 and 7 (SEV-SNP ABI, TCB_VERSION).
public struct SNPTCBVersion: Sendable, Hashable, Codable {
    /// The PSP bootloader's security version.
    public var bootloader: UInt8
    /// The PSP operating system's security version.
    public var tee: UInt8
    /// The SNP firmware's security version.
    public var snp: UInt8
    /// The lowest microcode patch level of all cores.
    public var microcode: UInt8
    /// The FMC firmware's security version (Turin and later; nil before).
    public var fmc: UInt8?

    public init(bootloader: UInt8, tee: UInt8, snp: UInt8, microcode: UInt8, fmc: UInt8? = nil) {
        self.bootloader = bootloader
        self.tee = tee
        self.snp = snp
        self.microcode = microcode
        self.fmc = fmc
    }

    /// Decodes `raw` (the report's little-endian 64-bit field) for `product`.
    public init(raw: UInt64, product: SNPProduct) {
        func byte(_ index: Int) -> UInt8 { UInt8(truncatingIfNeeded: raw >> (8 * UInt64(index))) }
        switch product {
        case .milan, .genoa:
            self.init(bootloader: byte(0), tee: byte(1), snp: byte(6), microcode: byte(7))
        case .turin:
            self.init(bootloader: byte(1), tee: byte(2), snp: byte(3), microcode: byte(7), fmc: byte(0))
        }
    }

    /// The components below `minimum`'s, named (empty when every one is at least the minimum). A
    /// minimum FMC applies only to products that have one.
    public func shortfalls(against minimum: SNPTCBVersion) -> [String] {
        var below: [String] = []
        if bootloader < minimum.bootloader { below.append("bootloader \(bootloader) < \(minimum.bootloader)") }
        if tee < minimum.tee { below.append("TEE \(tee) < \(minimum.tee)") }
        if snp < minimum.snp { below.append("SNP \(snp) < \(minimum.snp)") }
        if microcode < minimum.microcode { below.append("microcode \(microcode) < \(minimum.microcode)") }
        if let fmc, let required = minimum.fmc, fmc < required { below.append("FMC \(fmc) < \(required)") }
        return below
    }
}
