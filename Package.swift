// swift-tools-version:6.0
// Portway for Swift: the `Portway` library over the Rust core (UniFFI). The sources live in
// swift/; see swift/README.md for building the native library and using the package.
import PackageDescription

// The native library (libportway_ffi) and its C declarations. On Linux, a system library
// found through pkg-config (`portway.pc`: swift/install.sh writes it, swift/test.sh writes one
// under target/), so that packages depending on this one need no unsafe flags. On Apple
// platforms, PORTWAY_XCFRAMEWORK=target/swift/PortwayFFI.xcframework (made by
// swift/xcframework.sh, on macOS) uses the XCFramework instead.
let ffi: Target
if let xcframework = Context.environment["PORTWAY_XCFRAMEWORK"], !xcframework.isEmpty {
    ffi = .binaryTarget(name: "PortwayFFI", path: xcframework)
} else {
    ffi = .systemLibrary(
        name: "PortwayFFI",
        path: "swift/Sources/PortwayFFI",
        pkgConfig: "portway"
    )
}

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
            path: "swift/Sources/Portway",
            // Swift 6.0's region-based isolation pass crashes (an assertion in
            // TransferNonSendable) on the bindings UniFFI 0.32 generates for a foreign trait
            // with an async method (the wake hook); the library compiles in the Swift 5
            // language mode instead (its callers may use either).
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        .testTarget(
            name: "PortwayTests",
            dependencies: ["Portway"],
            path: "swift/Tests/PortwayTests"
        ),
    ]
)
