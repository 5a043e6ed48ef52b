import ArgumentParser
import CaffeProto
import Foundation
import SparkNet
import SparkNetMPI

/// `sparknet-mpi test`: Caffe's `caffe test`. Runs the TEST phase of a net with trained
/// weights for `--iterations` batches, printing every batch's outputs and then their means.
struct Test: Verb {
    static let configuration = CommandConfiguration(
        abstract: "Score a trained model on the TEST phase of a net (like `caffe test`).",
        discussion: """
            Prints "Batch i, <output> = x" per batch, then "<output> = mean" for each output.
            With test batch 100, --iterations 100 covers the 10,000 Fashion-MNIST test images:
              sparknet-mpi test --model examples/fashion-mnist/lenet_train_test.prototxt \\
                  --weights snapshots/fashion-mnist/lenet_iter_2000.caffemodel --iterations 100
            """)

    @Option(help: "The net prototxt.")
    var model: String

    @Option(help: "Trained weights (.caffemodel; several separated by commas).")
    var weights: String

    @Option(help: "Number of test batches.")
    var iterations: Int = 50

    @Option(name: .customLong("data-memory-mb"),
            help: "HDF5 data a rank may hold in memory, in MiB; a larger shard is streamed (default: a quarter of physical memory divided by the ranks on the node).")
    var dataMemoryMB: Int?

    @Option(help: .hidden)
    var gpu: String?

    func validate() throws {
        guard iterations > 0 else { throw ValidationError("--iterations must be positive") }
        if let m = dataMemoryMB, m < 1 { throw ValidationError("--data-memory-mb must be positive") }
    }

    func run() throws {
        let seed: UInt64 = 1701
        HDF5DataMemory.budgetMB = dataMemoryMB
        let comm = Communicator.world
        // Bad input fails on every rank alike: agreed, it is printed once.
        let net = try comm.agree { () throws -> Net in
            let context = NetContext(seed: seed, sourceProvider: DataSources.provider(seed: seed))
            let net = try Net(prototxt: model, phase: .test, context: context)
            for path in weights.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !path.isEmpty {
                try net.copyTrainedLayers(fromFile: path)
            }
            return net
        }
        // Each rank scores its own shard: ⌈N/K⌉ of the N batches, so the K ranks together see
        // the test set once, and the sums are combined below (sample-weighted, as 1 rank).
        let local = (iterations + comm.size - 1) / comm.size
        Log.info("Running for \(iterations) iterations" +
                 (comm.size > 1 ? " (\(local) per rank on \(comm.size) ranks)." : "."))
        // No collectives while scoring, so a bad batch (a label out of range) is agreed too.
        let (scores, names, loss) = try comm.agree { try score(net, batches: local) }
        let total = comm.allreduce(scores + [loss, Double(local)], .sum)
        let batches = total[total.count - 1]
        Log.info("Loss: \(fmt(Float(total[total.count - 2] / batches)))")
        for (i, score) in total.dropLast(2).enumerated() {
            let mean = Float(score / batches)
            let w = names[i].weight
            let lossMsg = w != 0 ? " (* \(fmt(w)) = \(fmt(w * mean)) loss)" : ""
            Log.info("\(names[i].name) = \(fmt(mean))\(lossMsg)")
        }
    }

    /// Runs `batches` forward passes, logging each batch's outputs; returns the sum of every
    /// output value over the batches, the outputs' names and loss weights, and the summed loss.
    private func score(_ net: Net, batches: Int) throws -> ([Double], [(name: String, weight: Float)], Double) {
        var scores: [Double] = []
        var names: [(name: String, weight: Float)] = []
        var loss = 0.0
        for i in 0..<batches {
            loss += Double(try net.forward())
            var idx = 0
            for b in net.outputBlobIndices {
                let blob = net.blobs[b]
                for k in 0..<blob.count {
                    let v = blob.data[k]
                    if i == 0 {
                        scores.append(Double(v))
                        names.append((net.blobNames[b], net.blobLossWeights[b]))
                    } else {
                        scores[idx] += Double(v)
                    }
                    Log.info("Batch \(i), \(net.blobNames[b]) = \(fmt(v))")
                    idx += 1
                }
            }
        }
        return (scores, names, loss)
    }

    /// As C++ `ostream << float` prints it (%g).
    private func fmt(_ x: Float) -> String { String(format: "%g", Double(x)) }
}
