// swift-tools-version:6.0
// A TEMPLATE, not a package of this repository: the manifest of Portway's Swift package as a
// release ships it, with the native library prebuilt for Apple platforms. The release
// workflow (.github/workflows/release.yml) fills in the version and the checksum of the
// XCFramework that swift/xcframework.sh built, and attaches the result to the release as
// Package-binary.swift.
//
// It has the targets and products of the root Package.swift, and its paths are relative to
// the repository root: it is used as the Package.swift at the root of a tree with swift/Sources
// (the release's tagged tree, or a repository made for the binary distribution), since
// SwiftPM takes no target outside the package's directory.
//
// On Apple platforms PortwayFFI is the XCFramework downloaded from the release (checked
// against the checksum); on Linux, which has no XCFramework, it stays the root manifest's
// system library found through pkg-config (`make install-swift`, swift/install.sh).
import PackageDescription

let ffi: Target
#if os(Linux)
ffi = .systemLibrary(
    name: "PortwayFFI",
    path: "swift/Sources/PortwayFFI",
    pkgConfig: "portway"
)
#else
ffi = .binaryTarget(
    name: "PortwayFFI",
    url: "https://github.com/portway-dev/portway/releases/download/v0.1.0/PortwayFFI.xcframework.zip",
    checksum: "<filled by the release>"
)
#endif

let package = Package(
    name: "Portway",
    platforms: [.macOS(.v10_15), .iOS(.v13)],
    products: [
        .library(name: "Portway", targets: ["Portway"]),
    ],
    targets: [
        ffi,
        .target(
            name: "Portway",
            dependencies: ["PortwayFFI"],
            path: "swift/Sources/Portway"
        ),
        .testTarget(
            name: "PortwayTests",
            dependencies: ["Portway"],
            path: "swift/Tests/PortwayTests"
        ),
    ]
)
