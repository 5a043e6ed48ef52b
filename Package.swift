// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "sparknet-mpi",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "sparknet-mpi", targets: ["sparknet-mpi"]),
        .library(name: "SparkNet", targets: ["SparkNet"]),
        .library(name: "SparkNetMPI", targets: ["SparkNetMPI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c"),
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas"),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5-openmpi"),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib"),
        // Image decoding (convert-imageset, encoded Datums) and Caffe's LMDB databases.
        .systemLibrary(name: "CJPEG", pkgConfig: "libjpeg"),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng"),
        .systemLibrary(name: "CLMDB", pkgConfig: "lmdb"),
        // AVX2/FMA implicit-GEMM convolution kernels (runtime-dispatched; -O3 also in debug
        // builds so that tests and debug binaries train at a usable speed).
        .target(
            name: "CKernels",
            cSettings: [.unsafeFlags(["-O3"])]),
        // HDF5 calls on untrusted files, with faults inside libhdf5 turned into errors.
        .target(name: "CHDF5Guard", dependencies: ["CHDF5"]),
        .target(
            name: "CaffeProto",
            dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        .target(
            name: "SparkNet",
            dependencies: ["CBLAS", "CKernels", "CaffeProto",
                           .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]),
        .target(
            name: "SparkNetMPI",
            dependencies: ["SparkNet", "CMPI", "CHDF5", "CHDF5Guard", "CZlib", "CJPEG", "CPNG", "CLMDB", "CaffeProto",
                           .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        .executableTarget(
            name: "sparknet-mpi",
            dependencies: ["SparkNet", "SparkNetMPI", "CaffeProto",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        // `make bench`'s probes (sgemm peak, full solver steps, allreduce vs model averaging).
        .executableTarget(
            name: "sparknet-bench",
            dependencies: ["SparkNet", "SparkNetMPI", "CaffeProto", "CMPI", "CBLAS"],
            path: "bench/probe"),
        // Fuzz targets (Tests/fuzz): the readers as functions of a file's bytes, and the
        // driver `make fuzz` builds with --sanitize=fuzzer -DFUZZING (libFuzzer's main).
        .target(
            name: "SparkNetFuzz",
            dependencies: ["SparkNet", "SparkNetMPI", "CaffeProto"],
            path: "Tests/fuzz/Targets"),
        .executableTarget(
            name: "sparknet-fuzz",
            dependencies: ["SparkNetFuzz"],
            path: "Tests/fuzz/Driver"),
        // Nets written in Swift (NetSpec), and a program that prints them as prototxt.
        .target(
            name: "SparkNetExamples",
            dependencies: ["SparkNet", "CaffeProto"],
            path: "examples/swift-dsl/SparkNetExamples"),
        .executableTarget(
            name: "swift-dsl-example",
            dependencies: ["SparkNet", "SparkNetExamples", "CaffeProto"],
            path: "examples/swift-dsl/swift-dsl-example"),
        .target(
            name: "SparkNetTestSupport",
            dependencies: ["SparkNet", "CaffeProto",
                           .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            path: "Tests/SparkNetTestSupport"),
        .testTarget(
            name: "SparkNetTests",
            dependencies: ["SparkNet", "SparkNetTestSupport", "SparkNetExamples", "CaffeProto"]),
        .testTarget(
            name: "SparkNetMPITests",
            dependencies: ["SparkNet", "SparkNetMPI", "SparkNetTestSupport", "SparkNetFuzz", "CaffeProto", "CMPI"]),
    ]
)
