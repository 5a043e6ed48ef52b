import ArgumentParser
import CaffeProto
import Foundation
import SparkNet
import SparkNetMPI

/// `sparknet-mpi bench-input`: the input pipeline alone (read, decode, transform on the
/// prefetch thread) beside the net's step, so a user sees whether the net would wait for data.
struct BenchInput: Verb {
    static let configuration = CommandConfiguration(
        commandName: "bench-input",
        abstract: "Time a net's input pipeline alone (images/s on its prefetch thread) beside the net's step.",
        discussion: """
            Builds the net in --phase, then (1) takes --batches batches from its first data
            layer's source with nothing else running: images/s read, decoded and transformed by
            the one prefetch thread; (2) runs --batches forward-backward steps of the whole net,
            data layer included: images/s of a step, and the share of the step time the net
            waited for data (what `train --metrics` records as data_wait_s). Pipeline ≥ step
            images/s means the net never waits on one rank.
            """)

    @Option(help: "The net prototxt (a Data or HDF5Data layer feeds it).")
    var model: String

    @Option(help: "Batches timed in each part.")
    var batches: Int = 20

    @Option(help: "Phase the net is built in: TRAIN or TEST.")
    var phase: String = "TRAIN"

    func validate() throws {
        guard batches > 0 else { throw ValidationError("--batches must be positive") }
        try BenchmarkNet.validate(phase: phase)
    }

    func run() throws {
        let net = try BenchmarkNet.build(model: model, phase: phase, seed: 1701)
        guard let l = net.layers.firstIndex(where: { ($0 as? DataLayer)?.source != nil }),
              let source = (net.layers[l] as? DataLayer)?.source else {
            throw SparkNetError("'\(model)': no Data or HDF5Data layer in phase \(phase.uppercased())")
        }
        let layer = net.layers[l]
        let batch = net.tops[l][0].shape[0]
        let tops = source.topNames.map { name -> UnsafeMutablePointer<Float> in
            let d = source.topNames.firstIndex(of: name)!
            return .allocate(capacity: batch * source.sampleShapes[d].reduce(1, *))
        }
        defer { tops.forEach { $0.deallocate() } }
        let shape = source.sampleShapes[0].map(String.init).joined(separator: "×")
        Log.info("Input: layer '\(layer.name)' (\(layer.type)), batch \(batch), samples \(shape), \(source.sampleCount) on this rank")

        try source.nextBatch(into: tops, batchSize: batch)  // warm-up: the first prefetch starts
        var t = Clock.now()
        for _ in 0..<batches { try source.nextBatch(into: tops, batchSize: batch) }
        let inputMs = Clock.ms(since: t) / Double(batches)
        let inputRate = Double(batch) / inputMs * 1000

        _ = try net.forward()
        net.backward()
        let waitBefore = source.waitSeconds
        t = Clock.now()
        for _ in 0..<batches {
            _ = try net.forward()
            net.backward()
        }
        let stepMs = Clock.ms(since: t) / Double(batches)
        let waited = (source.waitSeconds - waitBefore) * 1000 / Double(batches)
        let stepRate = Double(batch) / stepMs * 1000
        Log.info(String(format: "input pipeline alone: %.2f ms/batch, %.0f images/s (one prefetch thread)", inputMs, inputRate))
        Log.info(String(format: "net step with data:   %.2f ms/batch, %.0f images/s; waited for data %.3f ms/step = %.2f %% of the step",
                        stepMs, stepRate, waited, 100 * waited / stepMs))
        Log.info(String(format: "pipeline / step: %.2fx (%@)", inputRate / stepRate,
                        inputRate >= stepRate ? "the net does not wait for data" : "the net waits for data"))
    }
}
