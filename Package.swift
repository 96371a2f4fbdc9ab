// swift-tools-version:6.0
//
// epsim: a distributed expert-parallel Mixture-of-Experts simulator on MPI.
//
// Dependency direction (outside in):
//   epsim (CLI) -> EpsimRuntime (layer, transports, observers, run loop, reports, bench)
//               -> EpsimCore (config, placement, router, capacity rounds, dispatch plans,
//                             experts, wire formats, references: pure, no transport)
//   EpsimRuntime -> EpsimMPI (the only Swift code that imports CMPI / CMPIShim)
import PackageDescription

let package = Package(
    name: "epsim",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "epsim", targets: ["epsim"]),
        .library(name: "EpsimRuntime", targets: ["EpsimRuntime"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        // Open MPI's C API (pkg-config `ompi-c`; Debian: libopenmpi-dev).
        .systemLibrary(
            name: "CMPI",
            pkgConfig: "ompi-c",
            providers: [.apt(["libopenmpi-dev"]), .brew(["open-mpi"])]
        ),
        // Functions standing in for what Open MPI defines as macros (MPI_COMM_WORLD, ...).
        .target(name: "CMPIShim", dependencies: ["CMPI"]),
        // CBLAS from OpenBLAS (pkg-config `openblas`; Debian: libopenblas-dev).
        .systemLibrary(
            name: "CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"]), .brew(["openblas"])]
        ),
        .target(name: "EpsimMPI", dependencies: ["CMPI", "CMPIShim"]),
        .target(
            name: "EpsimCore",
            dependencies: ["CBLAS", .product(name: "Yams", package: "Yams")]
        ),
        .target(name: "EpsimRuntime", dependencies: ["EpsimCore", "EpsimMPI", .product(name: "Yams", package: "Yams")]),
        // Transport conformance checks, shared by the XCTest suite (emulated ranks)
        // and by the MPI test executable (launched under mpirun by launch/test).
        .target(name: "EpsimConformance", dependencies: ["EpsimRuntime"]),
        .executableTarget(
            name: "epsim",
            dependencies: [
                "EpsimRuntime",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "epsim-mpi-tests",
            dependencies: ["EpsimConformance", "EpsimRuntime", "EpsimMPI"]
        ),
        .testTarget(name: "EpsimCoreTests", dependencies: ["EpsimCore"]),
        .testTarget(name: "EpsimRuntimeTests", dependencies: ["EpsimRuntime", "EpsimConformance"]),
        .testTarget(name: "EpsimCLITests", dependencies: ["EpsimRuntime"]),
    ]
)
