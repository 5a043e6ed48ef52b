import ArgumentParser
import Foundation
import SparkNet
import SparkNetMPI

/// `sparknet-mpi convert-idx`: MNIST-format IDX files to Caffe's HDF5Data layout.
struct ConvertIDX: Verb {
    static let configuration = CommandConfiguration(
        commandName: "convert-idx",
        abstract: "Convert MNIST-format IDX images+labels (.gz allowed) to an HDF5 file for HDF5Data.",
        discussion: """
            Writes `data` (float32 N×1×H×W, pixels × scale) and `label` (float32 N), atomically.
            Fashion-MNIST (Debian's dataset-fashion-mnist) is in /usr/share/datasets/fashion-mnist/.
            """)

    @Option(help: "IDX images file (idx3-ubyte, optionally .gz).")
    var images: String

    @Option(help: "IDX labels file (idx1-ubyte, optionally .gz).")
    var labels: String

    @Option(help: "Output .h5 file.")
    var output: String

    @Option(help: "Pixel scale (Caffe's MNIST example uses 1/256).")
    var scale: Float = 0.00390625

    func run() throws {
        // One writer: rank 0 converts and the others wait for its outcome, so no rank reads a
        // half-written file and an error prints once with every rank exiting alike.
        try Communicator.world.agreeOnRoot(timeout: .infinity) {
            let s = try IDXConverter.convert(images: images, labels: labels, output: output, scale: scale)
            Log.info("Wrote \(output): data \(s.count)×1×\(s.height)×\(s.width), label \(s.count) (classes \(s.labelRange.lowerBound)…\(s.labelRange.upperBound)), scale \(scale)")
        }
    }
}
