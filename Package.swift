// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "BackupKit",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "BackupKit", targets: ["BackupKit"]),
        .library(name: "BackupSources", targets: ["BackupSources"]),
        .library(name: "BackupSinks", targets: ["BackupSinks"]),
        .library(name: "BackupTransport", targets: ["BackupTransport"]),
        .library(name: "BackupNotifiers", targets: ["BackupNotifiers"]),
        .library(name: "BackupKitTesting", targets: ["BackupKitTesting"]),
        .library(name: "BackupCommands", targets: ["BackupCommands"]),
        .executable(name: "backupctl", targets: ["backupctl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.0.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
    ],
    targets: [
        // C libraries. Each gets a [system] module map whose shim.h holds what Swift cannot call directly.
        .systemLibrary(name: "CArchive", pkgConfig: "libarchive", providers: [.apt(["libarchive-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        // libdeflate: gzip's deflate two to three times faster than zlib's, block by block.
        .systemLibrary(name: "CDeflate", pkgConfig: "libdeflate", providers: [.apt(["libdeflate-dev"])]),
        // ISA-L: gzip's inflate four to five times faster than zlib's, for the read-back, verify and restore.
        .systemLibrary(name: "CIsal", pkgConfig: "libisal", providers: [.apt(["libisal-dev"])]),
        // The few glibc calls Swift cannot see without _GNU_SOURCE.
        .target(name: "CSystemShims"),

        .target(
            name: "BackupKit",
            dependencies: [
                "CArchive", "CZlib", "CZstd", "CDeflate", "CIsal", "CSystemShims",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // libcurl, the S3 client and their settings: what sinks, sources and notifiers share to reach a server.
        .target(
            name: "BackupTransport",
            dependencies: ["BackupKit", "CCurl", .product(name: "Crypto", package: "swift-crypto"), .product(name: "Logging", package: "swift-log")]
        ),
        .target(name: "BackupSources", dependencies: ["BackupKit", "BackupTransport", "CLibPQ"]),
        .target(name: "BackupSinks", dependencies: ["BackupKit", "BackupTransport", "CCurl"]),
        .target(
            name: "BackupNotifiers",
            dependencies: ["BackupKit", "BackupTransport", "CCurl", .product(name: "Crypto", package: "swift-crypto")]
        ),
        .target(name: "BackupKitTesting", dependencies: ["BackupKit"]),
        // The whole command line as a library, so a program of your own gets it with your own components.
        .target(
            name: "BackupCommands",
            dependencies: [
                "BackupKit", "BackupSources", "BackupSinks", "BackupNotifiers",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(name: "backupctl", dependencies: ["BackupCommands", "BackupKit"]),
        // Examples/Embedding: a program that runs a plan built in code and prints its events.
        .executableTarget(
            name: "embed-backupkit",
            dependencies: ["BackupKit", "BackupSources", "BackupSinks", .product(name: "Logging", package: "swift-log")],
            path: "Examples/Embedding/Sources/EmbedBackupKit"
        ),
        // Examples/CustomSink: a user's own sink, written against the public API only.
        .target(name: "CustomSinkExample", dependencies: ["BackupKit"], path: "Examples/CustomSink/Sources/CustomSinkExample"),
        // Examples/CustomSink: the whole backupctl command line, with that sink usable by `type:`.
        .executableTarget(
            name: "backupctl-sharded",
            dependencies: ["BackupCommands", "BackupKit", "CustomSinkExample"],
            path: "Examples/CustomSink/Sources/backupctl-sharded"
        ),
        .testTarget(
            name: "CustomSinkExampleTests",
            dependencies: ["CustomSinkExample", "BackupKit", "BackupKitTesting"],
            path: "Examples/CustomSink/Tests/CustomSinkExampleTests"
        ),
        .testTarget(
            name: "BackupKitTests",
            dependencies: [
                "BackupKit", "BackupSources", "BackupSinks", "BackupNotifiers", "BackupKitTesting", "BackupTransport", "BackupCommands", "CDeflate",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
