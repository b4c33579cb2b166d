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
    ],
    dependencies: [
        .package(url: "https://github.com/swiftwasm/WasmKit", exact: "0.4.2"),
        .package(url: "https://github.com/apple/swift-crypto", exact: "4.5.2"),
        .package(url: "https://github.com/apple/swift-nio", exact: "2.101.3"),
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
    ],
    targets: [
        .target(
            name: "TabulaWire",
            swiftSettings: settings
        ),
        .target(
            name: "TabulaEnclave",
            dependencies: [
                "TabulaWire",
                .product(name: "WasmKit", package: "WasmKit"),
                .product(name: "WasmParser", package: "WasmKit"),
                .product(name: "WAT", package: "WasmKit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: settings
        ),
        .executableTarget(
            name: "tabula",
            dependencies: [
                "TabulaEnclave",
                "TabulaWire",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: settings
        ),
        .testTarget(
            name: "TabulaWireTests",
            dependencies: ["TabulaWire"],
            swiftSettings: settings
        ),
        .testTarget(
            name: "TabulaEnclaveTests",
            dependencies: [
                "TabulaEnclave", "TabulaWire",
                .product(name: "WasmKit", package: "WasmKit"),
                .product(name: "WAT", package: "WasmKit"),
            ],
            swiftSettings: settings
        ),
        .testTarget(
            name: "TabulaCLITests",
            dependencies: ["tabula"],
            swiftSettings: settings
        ),
    ]
)
