// swift-tools-version:6.2
import PackageDescription

/// Every module is compiled in Swift 6 mode with internal imports by default, so a module's
/// dependencies never leak into its API unless it says so with `public import`.
let settings: [SwiftSetting] = [
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "Tabula",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "tabula", targets: ["tabula"]),
        .library(name: "TabulaEnclave", targets: ["TabulaEnclave"]),
        .library(name: "TabulaWire", targets: ["TabulaWire"]),
        .library(name: "TabulaClient", targets: ["TabulaClient"]),
        .library(name: "TabulaBench", targets: ["TabulaBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/swiftwasm/WasmKit", exact: "0.4.2"),
        .package(url: "https://github.com/apple/swift-crypto", exact: "4.5.2"),
        .package(url: "https://github.com/apple/swift-nio", exact: "2.101.3"),
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", exact: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", exact: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", exact: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
        .package(url: "https://github.com/apple/swift-certificates", exact: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1", exact: "1.7.4"),
        .package(url: "https://github.com/vapor/postgres-nio", exact: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", exact: "2.37.6"),
    ],
    targets: [
        .target(
            name: "TabulaWire",
            dependencies: [
                "CBoringSSLShim",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: settings
        ),
        .target(
            name: "TabulaAttestation",
            dependencies: [
                "TabulaWire",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: settings
        ),
        .target(
            name: "CPageTracker",
            path: "Sources/CPageTracker"
        ),
        // The BoringSSL calls of the confidential hot path (AEAD, HMAC), without swift-crypto's
        // generic wrappers; the symbols are swift-crypto's own (see BoringSSLShim.c).
        .target(
            name: "CBoringSSLShim",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            path: "Sources/CBoringSSLShim"
        ),
        // The worker process's confinement (seccomp-bpf, limits, descriptors) and its spawn.
        .target(
            name: "CConfinement",
            path: "Sources/CConfinement"
        ),
        // Loads and runs functions compiled ahead of time (the native engine's ABI and ELF loader).
        .target(
            name: "CNativeRuntime",
            path: "Sources/CNativeRuntime"
        ),
        .target(
            name: "TabulaEnclave",
            dependencies: [
                "TabulaLog",
                "CPageTracker",
                "CConfinement",
                "CNativeRuntime",
                "TabulaWire",
                "TabulaAttestation",
                .product(name: "WasmKit", package: "WasmKit"),
                .product(name: "WasmParser", package: "WasmKit"),
                .product(name: "WAT", package: "WasmKit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: settings
        ),
        .target(
            name: "TabulaPlatform",
            dependencies: [
                "TabulaLog",
                "TabulaEnclave",
                "TabulaWire",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: settings
        ),
        .target(
            name: "TabulaServer",
            dependencies: [
                "TabulaLog",
                "TabulaPlatform",
                "TabulaWire",
                "TabulaKBS",
                "TabulaAttestation",
                "TabulaEnclave",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: settings
        ),
        .target(
            name: "TabulaBench",
            dependencies: [
                "TabulaEnclave", "TabulaAttestation", "TabulaWire", "TabulaPlatform", "TabulaServer",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: settings
        ),
        // `tabula runtime`: the OpenWhisk (and Knative) action runtime protocol over one enclave.
        .target(
            name: "TabulaRuntime",
            dependencies: [
                "TabulaEnclave",
                "TabulaWire",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: settings
        ),
        // The key broker (Trustee's KBS protocol): appraisal against a manifest, sealed state,
        // release of cluster keys and tenant secrets, and the attester's client.
        .target(
            name: "TabulaKBS",
            dependencies: [
                "TabulaWire",
                "TabulaAttestation",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: settings
        ),
        // The verifiable log (RFC 9162's Merkle tree, proofs, signed tree heads); no I/O.
        .target(
            name: "TabulaLog",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: settings
        ),
        .target(
            name: "TabulaClient",
            dependencies: [
                "TabulaWire",
                "TabulaAttestation",
                "TabulaKBS",
                "TabulaLog",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: settings
        ),
        .executableTarget(
            name: "tabula",
            dependencies: [
                "TabulaAttestation",
                "TabulaEnclave",
                "TabulaWire",
                "TabulaPlatform",
                "TabulaServer",
                "TabulaRuntime",
                "TabulaClient",
                "TabulaBench",
                "TabulaKBS",
                "TabulaLog",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: settings
        ),
        // Finds the test vectors and samples in Tests/Fixtures and the examples, inside the repository.
        .target(
            name: "TabulaTestSupport",
            path: "Tests/Support",
            swiftSettings: settings
        ),
        .testTarget(
            name: "TabulaWireTests",
            dependencies: ["TabulaTestSupport", "TabulaWire", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: settings
        ),
        .testTarget(
            name: "TabulaAttestationTests",
            dependencies: ["TabulaTestSupport", "TabulaAttestation", "TabulaWire"],
            swiftSettings: settings
        ),
        .testTarget(
            name: "TabulaLogTests",
            dependencies: ["TabulaLog", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: settings
        ),
        .testTarget(
            name: "TabulaKBSTests",
            dependencies: ["TabulaTestSupport", "TabulaKBS", "TabulaAttestation", "TabulaWire", .product(name: "Logging", package: "swift-log"), .product(name: "Crypto", package: "swift-crypto"), .product(name: "_CryptoExtras", package: "swift-crypto")],
            swiftSettings: settings
        ),
        .testTarget(
            name: "TabulaEnclaveTests",
            dependencies: [
                "TabulaTestSupport",
                "TabulaEnclave", "TabulaWire", "TabulaAttestation",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "WasmKit", package: "WasmKit"),
                .product(name: "WAT", package: "WasmKit"),
            ],
            swiftSettings: settings
        ),
        .testTarget(
            name: "TabulaPlatformTests",
            dependencies: [
                "TabulaTestSupport", "TabulaPlatform", "TabulaEnclave", "TabulaWire",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: settings
        ),
        .testTarget(
            name: "TabulaServerTests",
            dependencies: [
                "TabulaTestSupport",
                "TabulaServer", "TabulaPlatform", "TabulaWire", "TabulaEnclave", "TabulaAttestation", "TabulaLog",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: settings
        ),
        .testTarget(
            name: "TabulaRuntimeTests",
            dependencies: [
                "TabulaRuntime", "TabulaEnclave", "TabulaWire", "TabulaAttestation",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: settings
        ),
        .testTarget(
            name: "TabulaCLITests",
            dependencies: [
                "TabulaTestSupport",
                "tabula", "TabulaClient", "TabulaWire", "TabulaAttestation", "TabulaKBS",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: settings
        ),
    ]
)
