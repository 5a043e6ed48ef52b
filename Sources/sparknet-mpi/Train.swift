import ArgumentParser
import Foundation
import SparkNet
import SparkNetMPI

/// `sparknet-mpi train`: Caffe's `caffe train` (pending the Solver).
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Train a net from a solver prototxt.")

    @Option(help: "The solver prototxt.")
    var solver: String

    func run() throws {
        throw SparkNetError("train: not implemented yet")
    }
}
