import ArgumentParser
import Foundation
import SparkNet
import SparkNetMPI

/// `sparknet-mpi test`: Caffe's `caffe test` (pending the model reader).
struct Test: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Score a trained model on its TEST phase.")

    @Option(help: "The net prototxt.")
    var model: String

    func run() throws {
        throw SparkNetError("test: not implemented yet")
    }
}
