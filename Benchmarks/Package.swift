// swift-tools-version:6.1
import PackageDescription

// The benchmarks of reuse, in a package of their own so that the main package (and CI) never
// builds the benchmark framework. Run from the repository's root:
//
//     swift package --package-path Benchmarks benchmark
//
// See docs/performance.md.
let package = Package(
    name: "TabulaBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Tabula", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", exact: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "Reuse",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "TabulaBench", package: "Tabula"),
            ],
            path: "Benchmarks/Reuse",
            swiftSettings: [.enableUpcomingFeature("InternalImportsByDefault"), .enableUpcomingFeature("ExistentialAny")],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
